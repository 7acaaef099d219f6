"""The Exporter's tracking values: compact, interned, keyed by packed integers.

A million routes must fit in ~150 bytes each (the issue's budget), so a tracked route is one
dict slot: the key is an ``int`` packing (family, prefix length, address) — a tuple with the RD
and VRF only for VPN/VRF routes — and the value an interned :data:`Entry` shared by every route
with the same attributes and the same installation.
"""

from __future__ import annotations

import socket
from ipaddress import IPv4Network, IPv6Network
from typing import NamedTuple

__all__ = ["V6", "Attrs", "Entry", "Install", "Key", "Target", "prefix_key", "unkey"]

_AF_INET = int(socket.AF_INET)
_AF_INET6 = int(socket.AF_INET6)
_U32 = 0xFFFFFFFF
#: The key of an IPv6 prefix has this bit set above the address and the prefix length.
V6 = 1 << 136


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


def prefix_key(prefix: IPv4Network | IPv6Network) -> int:
    """The packed integer key of a prefix (both families in one key space)."""
    address = int(prefix.network_address)
    if prefix.version == 4:
        return (prefix.prefixlen << 32) | address
    return V6 | (prefix.prefixlen << 128) | address


def unkey(key: int) -> tuple[int, bytes, int]:
    """(family, packed destination, prefix length) of a prefix key."""
    if key & V6:
        return _AF_INET6, (key & ((1 << 128) - 1)).to_bytes(16, "big"), (key >> 128) & 0xFF
    return _AF_INET, (key & _U32).to_bytes(4, "big"), key >> 32
