"""The Exporter's tracking values: compact, interned, keyed by packed integers.

A million routes must fit in ~150 bytes each (the issue's budget), so a tracked route is one
dict slot: the key is an ``int`` packing (family, prefix length, address) — a tuple with the RD
and VRF only for VPN/VRF routes — and the value an interned :data:`Entry` shared by every route
with the same attributes and the same installation.
"""

from __future__ import annotations

from typing import NamedTuple

from netlinkbgp.codec.route_requests import PACKED_V6, pack_prefix, unpack_prefix

__all__ = ["V6", "Attrs", "Entry", "Install", "Key", "Target", "prefix_key", "unkey"]

#: The key of an IPv6 prefix has this bit set above the address and the prefix length.
V6 = PACKED_V6


class Attrs(NamedTuple):
    """What the Exporter needs of a route, interned (one object per distinct set)."""

    gateway: bytes | None  # packed first usable next hop
    ifindex: int
    communities: frozenset[int]
    large: frozenset[tuple[int, int, int]]
    ext: frozenset[bytes]
    vpn: bool
    vrf: str


class Install(NamedTuple):
    """One route as installed in one table."""

    table: int
    metric: int
    gateway: bytes
    oif: int
    onlink: bool


class Target(NamedTuple):
    """Where a rule sends a route: table, metric, whether to validate, ONLINK fallback device."""

    table: int
    metric: int
    validate: bool
    fallback_oif: int


#: The value of a tracked route: (interned attributes, installed routes sorted by table).
Entry = tuple[Attrs, tuple[Install, ...]]
#: A packed prefix, or (packed prefix, RD bytes, VRF name) for VPN/VRF routes.
Key = int | tuple[int, bytes, str]


#: The packed integer key of a prefix (both families in one key space).
prefix_key = pack_prefix
#: (family, packed destination, prefix length) of a prefix key.
unkey = unpack_prefix
