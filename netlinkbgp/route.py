"""Neutral route values shared by every component, and their text forms.

A :class:`Route` is what the Importer publishes, the Speaker announces and receives, and the
Exporter installs. It is a frozen value: components never mutate one, they publish a new one.
The codecs (``codec/`` and ``bgp/``) never see it; translation happens in the components.

Text forms follow the usual router syntax:

* community: ``"65000:100"``, decimal ``"4259905636"``, or a well-known name (``"no-export"``);
* large community: ``"65000:1:100"``;
* route distinguisher: ``"64551:100"`` (type 0), ``"192.0.2.1:7"`` (type 1),
  ``"4200000000:7"`` (type 2);
* route target: the same forms as a route distinguisher, encoded as an extended community.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Literal, Protocol

from netlinkbgp.errors import InvalidValueError

__all__ = [
    "WELL_KNOWN_COMMUNITIES",
    "NextHop",
    "Origin",
    "Route",
    "RouteDistinguisher",
    "RouteEvent",
    "RouteSink",
    "format_community",
    "format_ext_community",
    "format_large_community",
    "parse_community",
    "parse_large_community",
    "parse_route_target",
]

_U16 = 0xFFFF
_U32 = 0xFFFFFFFF


class Origin(enum.IntEnum):
    """BGP ORIGIN values (RFC 4271 §5.1.1)."""

    IGP = 0  #: RFC 4271 §5.1.1
    EGP = 1  #: RFC 4271 §5.1.1
    INCOMPLETE = 2  #: RFC 4271 §5.1.1


@dataclass(frozen=True, slots=True)
class NextHop:
    """One next hop of a route.

    Attributes:
        address: gateway address; ``0.0.0.0`` / ``::`` for "this host" (the Speaker substitutes
            its own address when advertising).
        ifindex: outgoing interface index, 0 when unknown or irrelevant.
        weight: relative weight for multipath (1..256, as the kernel's ``rtnh_hops + 1``).
    """

    address: IPv4Address | IPv6Address
    ifindex: int = 0
    weight: int = 1


@dataclass(frozen=True, slots=True)
class RouteDistinguisher:
    """A route distinguisher (RFC 4364 §4.2): 8 bytes, shown as ``admin:assigned``.

    Attributes:
        type: 0 (2-byte AS : 4-byte number), 1 (IPv4 address : 2-byte number) or
            2 (4-byte AS : 2-byte number).
        admin: the administrator field (an AS number, or an IPv4 address as an int for type 1).
        assigned: the assigned number.
    """

    type: int
    admin: int
    assigned: int

    def __post_init__(self) -> None:
        limits = {0: (_U16, _U32), 1: (_U32, _U16), 2: (_U32, _U16)}
        if self.type not in limits:
            raise InvalidValueError(f"route distinguisher type {self.type} is not 0, 1 or 2")
        admin_max, assigned_max = limits[self.type]
        if not 0 <= self.admin <= admin_max or not 0 <= self.assigned <= assigned_max:
            raise InvalidValueError(f"route distinguisher {self} has a field out of range")

    @classmethod
    def parse(cls, text: str) -> RouteDistinguisher:
        """Parse ``"64551:100"``, ``"192.0.2.1:7"`` or ``"4200000000:7"``.

        Raises:
            InvalidValueError: the text is not a route distinguisher.
        """
        kind, admin, assigned = _parse_admin_assigned(text, "route distinguisher")
        return cls(kind, admin, assigned)

    @classmethod
    def from_bytes(cls, data: bytes) -> RouteDistinguisher:
        """Decode the 8-byte wire form.

        Raises:
            InvalidValueError: wrong length or unknown type.
        """
        if len(data) != 8:
            raise InvalidValueError(f"route distinguisher needs 8 bytes, got {len(data)}")
        kind = int.from_bytes(data[:2], "big")
        if kind == 0:
            admin, assigned = struct.unpack("!HI", data[2:])
        elif kind in (1, 2):
            admin, assigned = struct.unpack("!IH", data[2:])
        else:
            raise InvalidValueError(f"route distinguisher type {kind} is not 0, 1 or 2")
        return cls(kind, admin, assigned)

    def to_bytes(self) -> bytes:
        """The 8-byte wire form."""
        if self.type == 0:
            return struct.pack("!HHI", 0, self.admin, self.assigned)
        return struct.pack("!HIH", self.type, self.admin, self.assigned)

    def __str__(self) -> str:
        if self.type == 1:
            return f"{IPv4Address(self.admin)}:{self.assigned}"
        return f"{self.admin}:{self.assigned}"


@dataclass(frozen=True, slots=True)
class Route:
    """A route as the components exchange it.

    Attributes:
        prefix: the destination.
        next_hops: zero or more next hops; several means multipath (ECMP).
        origin: BGP ORIGIN.
        as_path: AS numbers, nearest first (AS_SEQUENCE only; sets are flattened by the speaker).
        med: MULTI_EXIT_DISC, or ``None`` when absent.
        local_pref: LOCAL_PREF, or ``None`` when absent.
        communities: RFC 1997 communities as 32-bit integers.
        large_communities: RFC 8092 communities as (global admin, data 1, data 2).
        ext_communities: RFC 4360 extended communities, 8 bytes each (route targets live here).
        rd: route distinguisher for VPN routes, else ``None``.
        labels: MPLS labels (20-bit values), outermost first.
        vrf: VRF name; ``""`` is the global table.
        source: where it came from: a peer address, ``"netlink:<ifname>"`` or ``"local"``.
    """

    prefix: IPv4Network | IPv6Network
    next_hops: tuple[NextHop, ...] = ()
    origin: Origin = Origin.IGP
    as_path: tuple[int, ...] = ()
    med: int | None = None
    local_pref: int | None = None
    communities: tuple[int, ...] = ()
    large_communities: tuple[tuple[int, int, int], ...] = ()
    ext_communities: tuple[bytes, ...] = ()
    rd: RouteDistinguisher | None = None
    labels: tuple[int, ...] = ()
    vrf: str = ""
    source: str = ""


@dataclass(frozen=True, slots=True)
class RouteEvent:
    """A change published by a component.

    Attributes:
        kind: ``"announce"`` (new or changed route), ``"withdraw"`` or ``"end-of-rib"`` (the
            publisher has sent its initial state; ``route`` is then ``None``).
        route: the route concerned. For a withdraw only its identity (prefix, rd, vrf, source)
            is meaningful.
    """

    kind: Literal["announce", "withdraw", "end-of-rib"]
    route: Route | None


class RouteSink(Protocol):
    """Anything that consumes route events. Called from the event loop: must not block."""

    def apply(self, events: Sequence[RouteEvent]) -> None:
        """Consume a batch of events, in order."""


# -- communities -------------------------------------------------------------------------------

#: Well-known communities (RFC 1997, RFC 3765, RFC 7999, RFC 8326) by their usual names.
WELL_KNOWN_COMMUNITIES: dict[str, int] = {
    "graceful-shutdown": 0xFFFF0000,  # RFC 8326
    "accept-own": 0xFFFF0001,  # RFC 7611
    "blackhole": 0xFFFF029A,  # RFC 7999
    "no-export": 0xFFFFFF01,  # RFC 1997
    "no-advertise": 0xFFFFFF02,  # RFC 1997
    "no-export-subconfed": 0xFFFFFF03,  # RFC 1997
    "no-peer": 0xFFFFFF04,  # RFC 3765
}


def _parse_uint(text: str, limit: int, what: str) -> int:
    if not text.isdigit() or not text.isascii():
        raise InvalidValueError(f"{what}: {text!r} is not a decimal number")
    value = int(text)
    if value > limit:
        raise InvalidValueError(f"{what}: {value} is larger than {limit}")
    return value


def parse_community(text: str) -> int:
    """Parse an RFC 1997 community: ``"65000:100"``, ``"4259905636"`` or ``"no-export"``.

    Returns:
        The 32-bit value.

    Raises:
        InvalidValueError: the text is not a community or a part is out of range.
    """
    text = text.strip()
    known = WELL_KNOWN_COMMUNITIES.get(text.lower())
    if known is not None:
        return known
    what = f"community {text!r}"
    if ":" in text:
        high, _, low = text.partition(":")
        return (_parse_uint(high, _U16, what) << 16) | _parse_uint(low, _U16, what)
    return _parse_uint(text, _U32, what)


def format_community(value: int) -> str:
    """Format a 32-bit community as ``"high:low"``."""
    return f"{value >> 16}:{value & _U16}"


def parse_large_community(text: str) -> tuple[int, int, int]:
    """Parse an RFC 8092 large community ``"65000:1:100"``.

    Raises:
        InvalidValueError: not three 32-bit numbers separated by colons.
    """
    parts = text.strip().split(":")
    what = f"large community {text!r}"
    if len(parts) != 3:
        raise InvalidValueError(f"{what}: expected GLOBAL:DATA1:DATA2")
    a, b, c = (_parse_uint(p, _U32, what) for p in parts)
    return (a, b, c)


def format_large_community(value: tuple[int, int, int]) -> str:
    """Format a large community as ``"global:data1:data2"``."""
    return f"{value[0]}:{value[1]}:{value[2]}"


def _parse_admin_assigned(text: str, what: str) -> tuple[int, int, int]:
    """Split ``admin:assigned`` and pick the RFC 4364 type (0, 1 or 2) from the admin's form."""
    text = text.strip()
    admin_text, sep, assigned_text = text.rpartition(":")
    if not sep:
        raise InvalidValueError(f"{what} {text!r}: expected ADMIN:NUMBER")
    label = f"{what} {text!r}"
    if "." in admin_text:
        try:
            address = ip_address(admin_text)
        except ValueError:
            raise InvalidValueError(f"{label}: {admin_text!r} is not an IPv4 address") from None
        if not isinstance(address, IPv4Address):
            raise InvalidValueError(f"{label}: {admin_text!r} is not an IPv4 address")
        return 1, int(address), _parse_uint(assigned_text, _U16, label)
    admin = _parse_uint(admin_text, _U32, label)
    if admin > _U16:
        return 2, admin, _parse_uint(assigned_text, _U16, label)
    return 0, admin, _parse_uint(assigned_text, _U32, label)


#: Extended community type octets of route targets (RFC 4360 §4, RFC 5668 §2):
#: RD/RT type -> high type octet; the low (sub)type of a route target is 0x02.
_RT_TYPE_HIGH = {0: 0x00, 1: 0x01, 2: 0x02}
_RT_SUBTYPE = 0x02


def parse_route_target(text: str) -> bytes:
    """Parse a route target (``"64551:100"``, ``"192.0.2.1:7"``, ``"4200000000:7"``).

    Returns:
        The 8-byte extended community (RFC 4360 §4, RFC 5668 for 4-byte AS).

    Raises:
        InvalidValueError: the text is not a route target.
    """
    kind, admin, assigned = _parse_admin_assigned(text, "route target")
    if kind == 0:
        return struct.pack("!BBHI", _RT_TYPE_HIGH[kind], _RT_SUBTYPE, admin, assigned)
    return struct.pack("!BBIH", _RT_TYPE_HIGH[kind], _RT_SUBTYPE, admin, assigned)


def format_ext_community(value: bytes) -> str:
    """Format an 8-byte extended community.

    Route targets and route origins show as ``"rt:ADMIN:N"`` / ``"soo:ADMIN:N"``; anything else
    as ``"0x"`` and its hex.
    """
    if len(value) == 8:
        high, low = value[0] & 0x3F, value[1]  # strip the IANA-authority and transitive bits
        name = {0x02: "rt", 0x03: "soo"}.get(low)
        if name is not None and high == 0x00:
            admin, number = struct.unpack("!HI", value[2:])
            return f"{name}:{admin}:{number}"
        if name is not None and high == 0x01:
            address, number = struct.unpack("!IH", value[2:])
            return f"{name}:{IPv4Address(address)}:{number}"
        if name is not None and high == 0x02:
            admin, number = struct.unpack("!IH", value[2:])
            return f"{name}:{admin}:{number}"
    return "0x" + value.hex()
