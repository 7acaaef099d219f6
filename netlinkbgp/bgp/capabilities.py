"""OPEN capabilities (RFC 5492) and the session context negotiated from two OPENs.

Each capability is a frozen dataclass with ``CODE`` and ``encode_value()``; anything this codec
does not know decodes to :class:`UnknownCapability` and re-encodes byte for byte.
:class:`Negotiated` is the small frozen value every BGP decode/encode takes (STYLE §4): it is
computed from the two OPEN messages and never refers back to configuration or a peer object.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from netlinkbgp.bgp.constants import (
    AFI,
    EXTENDED_MAX_MESSAGE_SIZE,
    MAX_MESSAGE_SIZE,
    CapabilityCode,
    ErrorCode,
    OpenSubcode,
)
from netlinkbgp.bgp.nlri import (
    IPV4_LABELED,
    IPV4_UNICAST,
    IPV6_LABELED,
    IPV6_UNICAST,
    VPNV4,
    VPNV6,
    Family,
)
from netlinkbgp.errors import DecodeError, LocalProtocolError, RemoteProtocolError

if TYPE_CHECKING:
    from netlinkbgp.bgp.messages import Open

__all__ = [
    "AddPath",
    "AddPathEntry",
    "Capability",
    "EnhancedRouteRefresh",
    "ExtendedMessage",
    "ExtendedNextHop",
    "FourOctetAs",
    "Fqdn",
    "GracefulRestart",
    "GracefulRestartFamily",
    "Multiprotocol",
    "Negotiated",
    "RouteRefresh",
    "UnknownCapability",
    "decode_capability",
    "encode_capability",
]

_MP = struct.Struct("!HBB")
_ADD_PATH = struct.Struct("!HBB")
_ENH = struct.Struct("!HHH")
_GR_HEAD = struct.Struct("!H")
_GR_FAMILY = struct.Struct("!HBB")
_U32 = struct.Struct("!I")

#: RFC 4724 §3: the Restart Time is 12 bits (seconds).
MAX_RESTART_TIME = 0xFFF
#: RFC 4271 §4.2: "the Hold Time MUST be either zero or at least three seconds".
MIN_HOLD_TIME = 3


@dataclass(frozen=True, slots=True)
class Multiprotocol:
    """Multiprotocol Extensions (RFC 4760 §8): one per supported family."""

    CODE: ClassVar[int] = CapabilityCode.MULTIPROTOCOL
    family: Family

    def encode_value(self) -> bytes:
        """The capability value."""
        return _MP.pack(self.family.afi, 0, self.family.safi)


@dataclass(frozen=True, slots=True)
class RouteRefresh:
    """Route Refresh (RFC 2918 §2): no value."""

    CODE: ClassVar[int] = CapabilityCode.ROUTE_REFRESH

    def encode_value(self) -> bytes:
        """The capability value (empty)."""
        return b""


@dataclass(frozen=True, slots=True)
class EnhancedRouteRefresh:
    """Enhanced Route Refresh (RFC 7313 §3.1): no value."""

    CODE: ClassVar[int] = CapabilityCode.ENHANCED_ROUTE_REFRESH

    def encode_value(self) -> bytes:
        """The capability value (empty)."""
        return b""


@dataclass(frozen=True, slots=True)
class ExtendedMessage:
    """Extended Message (RFC 8654 §3): messages up to 65535 octets; no value."""

    CODE: ClassVar[int] = CapabilityCode.EXTENDED_MESSAGE

    def encode_value(self) -> bytes:
        """The capability value (empty)."""
        return b""


@dataclass(frozen=True, slots=True)
class FourOctetAs:
    """Support for 4-octet AS numbers (RFC 6793 §3), carrying the speaker's AS."""

    CODE: ClassVar[int] = CapabilityCode.FOUR_OCTET_AS
    asn: int

    def encode_value(self) -> bytes:
        """The capability value."""
        if not 0 <= self.asn <= 0xFFFFFFFF:
            raise LocalProtocolError(f"AS {self.asn} is not a 32-bit number")
        return _U32.pack(self.asn)


@dataclass(frozen=True, slots=True)
class AddPathEntry:
    """One family of the ADD-PATH capability (RFC 7911 §4).

    Attributes:
        family: the family.
        receive: the speaker can receive multiple paths (Send/Receive bit 1).
        send: the speaker can send multiple paths (Send/Receive bit 2).
    """

    family: Family
    receive: bool
    send: bool


@dataclass(frozen=True, slots=True)
class AddPath:
    """ADD-PATH (RFC 7911 §4)."""

    CODE: ClassVar[int] = CapabilityCode.ADD_PATH
    entries: tuple[AddPathEntry, ...]

    def encode_value(self) -> bytes:
        """The capability value."""
        return b"".join(
            _ADD_PATH.pack(e.family.afi, e.family.safi, int(e.receive) | (int(e.send) << 1))
            for e in self.entries
        )


@dataclass(frozen=True, slots=True)
class ExtendedNextHop:
    """Extended Next Hop Encoding (RFC 8950 §3).

    Attributes:
        entries: ``(NLRI family, next hop AFI)`` pairs, e.g. IPv4 unicast with IPv6 next hops.
    """

    CODE: ClassVar[int] = CapabilityCode.EXTENDED_NEXT_HOP
    entries: tuple[tuple[Family, int], ...]

    def encode_value(self) -> bytes:
        """The capability value."""
        return b"".join(_ENH.pack(f.afi, f.safi, nh_afi) for f, nh_afi in self.entries)


@dataclass(frozen=True, slots=True)
class GracefulRestartFamily:
    """One family of the Graceful Restart capability (RFC 4724 §3).

    Attributes:
        family: the family.
        flags: the "Flags for Address Family" octet; bit 0x80 is Forwarding State.
    """

    family: Family
    flags: int = 0

    @property
    def forwarding_state(self) -> bool:
        """F bit: forwarding state was preserved across the restart (RFC 4724 §3)."""
        return bool(self.flags & 0x80)


@dataclass(frozen=True, slots=True)
class GracefulRestart:
    """Graceful Restart (RFC 4724 §3).

    Attributes:
        flags: the 4-bit Restart Flags; 0x8 is Restart State (R), 0x4 Notification (N,
            RFC 8538).
        restart_time: seconds (12 bits) the peer should keep our routes while we restart.
        families: families with preserved forwarding state information.
    """

    CODE: ClassVar[int] = CapabilityCode.GRACEFUL_RESTART
    flags: int = 0
    restart_time: int = 120
    families: tuple[GracefulRestartFamily, ...] = ()

    @property
    def restart_state(self) -> bool:
        """R bit: the speaker has restarted (RFC 4724 §3)."""
        return bool(self.flags & 0x8)

    def encode_value(self) -> bytes:
        """The capability value."""
        if not 0 <= self.restart_time <= MAX_RESTART_TIME or not 0 <= self.flags <= 0xF:
            raise LocalProtocolError(f"graceful restart time {self.restart_time} or flags "
                                     f"{self.flags} out of range")
        head = _GR_HEAD.pack((self.flags << 12) | self.restart_time)
        return head + b"".join(
            _GR_FAMILY.pack(f.family.afi, f.family.safi, f.flags) for f in self.families
        )


@dataclass(frozen=True, slots=True)
class Fqdn:
    """FQDN / hostname (draft-walton-bgp-hostname-capability, code 73).

    Attributes:
        hostname: host name (undecodable octets kept as surrogate escapes).
        domain: domain name.
    """

    CODE: ClassVar[int] = CapabilityCode.FQDN
    hostname: str
    domain: str = ""

    def encode_value(self) -> bytes:
        """The capability value."""
        host = self.hostname.encode("utf-8", "surrogateescape")
        domain = self.domain.encode("utf-8", "surrogateescape")
        if len(host) > 255 or len(domain) > 255:
            raise LocalProtocolError("FQDN host and domain names are at most 255 octets")
        return bytes((len(host),)) + host + bytes((len(domain),)) + domain


@dataclass(frozen=True, slots=True)
class UnknownCapability:
    """A capability this codec does not interpret, kept byte for byte.

    Attributes:
        code: capability code.
        raw: capability value.
    """

    code: int
    raw: bytes = b""

    def encode_value(self) -> bytes:
        """The capability value, as received."""
        return self.raw


Capability = (
    Multiprotocol | RouteRefresh | EnhancedRouteRefresh | ExtendedMessage | FourOctetAs
    | AddPath | ExtendedNextHop | GracefulRestart | Fqdn | UnknownCapability
)


def encode_capability(capability: Capability) -> bytes:
    """Encode one capability TLV: code, length, value (RFC 5492 §4).

    Raises:
        LocalProtocolError: the value is longer than 255 octets or out of range.
    """
    value = capability.encode_value()
    code = capability.code if isinstance(capability, UnknownCapability) else capability.CODE
    if len(value) > 255:
        raise LocalProtocolError(f"capability {code} value is {len(value)} > 255 octets")
    return bytes((code, len(value))) + value


def _fixed(value: bytes, size: int, name: str) -> None:
    if len(value) != size:
        raise DecodeError(f"{name} capability length {len(value)}, expected {size}")


def _entries(value: bytes, size: int, name: str) -> range:
    if len(value) % size:
        raise DecodeError(f"{name} capability length {len(value)} is not a multiple of {size}")
    return range(0, len(value), size)


def decode_capability(code: int, value: bytes) -> Capability:
    """Decode one capability value.

    Args:
        code: capability code.
        value: capability value.

    Returns:
        The capability; :class:`UnknownCapability` for codes this codec does not know.

    Raises:
        DecodeError: a known capability has a malformed value.
    """
    if code == CapabilityCode.MULTIPROTOCOL:
        _fixed(value, 4, "multiprotocol")
        afi, _reserved, safi = _MP.unpack(value)
        return Multiprotocol(Family(afi, safi))
    if code == CapabilityCode.ROUTE_REFRESH:
        _fixed(value, 0, "route refresh")
        return RouteRefresh()
    if code == CapabilityCode.ENHANCED_ROUTE_REFRESH:
        _fixed(value, 0, "enhanced route refresh")
        return EnhancedRouteRefresh()
    if code == CapabilityCode.EXTENDED_MESSAGE:
        _fixed(value, 0, "extended message")
        return ExtendedMessage()
    if code == CapabilityCode.FOUR_OCTET_AS:
        _fixed(value, 4, "4-octet AS")
        return FourOctetAs(_U32.unpack(value)[0])
    if code == CapabilityCode.ADD_PATH:
        entries = []
        for i in _entries(value, 4, "ADD-PATH"):
            afi, safi, mode = _ADD_PATH.unpack_from(value, i)
            if not 1 <= mode <= 3:  # RFC 7911 §4: Send/Receive is 1, 2 or 3
                raise DecodeError(f"ADD-PATH send/receive value {mode}", i + 3)
            entries.append(AddPathEntry(Family(afi, safi), bool(mode & 1), bool(mode & 2)))
        return AddPath(tuple(entries))
    if code == CapabilityCode.EXTENDED_NEXT_HOP:
        pairs = []
        for i in _entries(value, 6, "extended next hop"):
            afi, safi, nh_afi = _ENH.unpack_from(value, i)
            pairs.append((Family(afi, safi), nh_afi))
        return ExtendedNextHop(tuple(pairs))
    if code == CapabilityCode.GRACEFUL_RESTART:
        if len(value) < 2 or (len(value) - 2) % 4:
            raise DecodeError(f"graceful restart capability length {len(value)}")
        (head,) = _GR_HEAD.unpack_from(value, 0)
        families = []
        for i in range(2, len(value), 4):
            afi, safi, flags = _GR_FAMILY.unpack_from(value, i)
            families.append(GracefulRestartFamily(Family(afi, safi), flags))
        return GracefulRestart(head >> 12, head & MAX_RESTART_TIME, tuple(families))
    if code == CapabilityCode.FQDN:
        host_end = 1 + value[0] if value else 1
        if host_end >= len(value) or host_end + 1 + value[host_end] != len(value):
            raise DecodeError("FQDN capability domain name length is inconsistent")
        host = value[1:host_end].decode("utf-8", "surrogateescape")
        domain = value[host_end + 1 :].decode("utf-8", "surrogateescape")
        return Fqdn(host, domain)
    return UnknownCapability(code, bytes(value))


# -- negotiation --------------------------------------------------------------------------

_ALL_FAMILIES = frozenset({IPV4_UNICAST, IPV6_UNICAST, IPV4_LABELED, IPV6_LABELED, VPNV4, VPNV6})


@dataclass(frozen=True, slots=True)
class Negotiated:
    """What two OPEN messages agreed on: the context of every decode and encode.

    Attributes:
        hold_time: negotiated hold time in seconds (0 = no keepalives, RFC 4271 §4.2).
        asn4: both sides support 4-octet AS numbers (RFC 6793).
        families: families both sides announced (RFC 4760 §8; IPv4 unicast when a side
            announces none).
        add_path_receive: families whose received NLRI carry path ids (RFC 7911 §5).
        add_path_send: families whose sent NLRI carry path ids.
        extended_next_hop: NLRI families that may use IPv6 next hops (RFC 8950), taken
            as the families both sides announced with next hop AFI IPv6.
        extended_message: both sides support messages up to 65535 octets (RFC 8654).
        route_refresh: the peer accepts ROUTE-REFRESH (RFC 2918).
        enhanced_route_refresh: both sides announced Enhanced Route Refresh (RFC 7313).
        graceful_restart: the peer's Graceful Restart capability, or ``None`` (RFC 4724).
        local_asn: our AS number (0 when unknown, e.g. the default context).
        peer_asn: the peer's AS number (0 when unknown).
    """

    hold_time: int = 90
    asn4: bool = True
    families: frozenset[Family] = _ALL_FAMILIES
    add_path_receive: frozenset[Family] = frozenset()
    add_path_send: frozenset[Family] = frozenset()
    extended_next_hop: frozenset[Family] = frozenset()
    extended_message: bool = False
    route_refresh: bool = False
    enhanced_route_refresh: bool = False
    graceful_restart: GracefulRestart | None = None
    local_asn: int = 0
    peer_asn: int = 0

    @classmethod
    def default(cls, asn4: bool = True) -> Negotiated:
        """A context without a session: IPv4/IPv6 unicast, labelled unicast and VPN, no
        ADD-PATH, no extended next hop, 4096-octet messages.

        Stable entry point for benchmarks, fuzzers and tools (DESIGN §1).
        """
        return cls(asn4=asn4)

    @property
    def max_message_size(self) -> int:
        """Largest message allowed: 4096, or 65535 with Extended Message (RFC 8654 §4)."""
        return EXTENDED_MAX_MESSAGE_SIZE if self.extended_message else MAX_MESSAGE_SIZE

    @property
    def keepalive_time(self) -> int:
        """One third of the hold time (RFC 4271 §10 suggests it)."""
        return self.hold_time // 3

    @property
    def ebgp(self) -> bool | None:
        """True for an external peer, False for internal, None when the ASNs are unknown."""
        if not self.local_asn or not self.peer_asn:
            return None
        return self.local_asn != self.peer_asn

    def mirrored(self) -> Negotiated:
        """The same session seen from the peer's side (ADD-PATH directions and ASNs swapped)."""
        return Negotiated(
            self.hold_time, self.asn4, self.families, self.add_path_send,
            self.add_path_receive, self.extended_next_hop, self.extended_message,
            self.route_refresh, self.enhanced_route_refresh, self.graceful_restart,
            self.peer_asn, self.local_asn,
        )

    @classmethod
    def from_opens(cls, local: Open, remote: Open) -> Negotiated:
        """Negotiate from our OPEN and the peer's.

        Args:
            local: the OPEN we sent.
            remote: the OPEN we received.

        Returns:
            The session context.

        Raises:
            RemoteProtocolError: the peer's hold time is 1 or 2 seconds (RFC 4271 §6.2,
                Unacceptable Hold Time).
            LocalProtocolError: our own hold time is 1 or 2 seconds.
        """
        if 0 < local.hold_time < MIN_HOLD_TIME:
            raise LocalProtocolError(f"hold time {local.hold_time} is not 0 or >= 3")
        if 0 < remote.hold_time < MIN_HOLD_TIME:
            raise RemoteProtocolError(
                f"peer hold time {remote.hold_time} is not 0 or >= 3",
                ErrorCode.OPEN_MESSAGE_ERROR, OpenSubcode.UNACCEPTABLE_HOLD_TIME,
            )
        ours, theirs = local.capabilities, remote.capabilities

        def first(caps: Iterable[Capability], kind: type) -> Capability | None:
            return next((c for c in caps if isinstance(c, kind)), None)

        our_as4, their_as4 = first(ours, FourOctetAs), first(theirs, FourOctetAs)
        asn4 = our_as4 is not None and their_as4 is not None
        local_asn = our_as4.asn if isinstance(our_as4, FourOctetAs) else local.my_as
        peer_asn = their_as4.asn if isinstance(their_as4, FourOctetAs) else remote.my_as

        def families_of(caps: Iterable[Capability]) -> frozenset[Family]:
            found = frozenset(c.family for c in caps if isinstance(c, Multiprotocol))
            return found or frozenset({IPV4_UNICAST})  # RFC 4760 §8 / RFC 4271 default

        families = families_of(ours) & families_of(theirs)

        def add_path_of(caps: Iterable[Capability]) -> dict[Family, AddPathEntry]:
            return {e.family: e for c in caps if isinstance(c, AddPath) for e in c.entries}

        our_ap, their_ap = add_path_of(ours), add_path_of(theirs)
        receive = frozenset(
            f for f in families
            if f in our_ap and f in their_ap and our_ap[f].receive and their_ap[f].send
        )
        send = frozenset(
            f for f in families
            if f in our_ap and f in their_ap and our_ap[f].send and their_ap[f].receive
        )

        def enh_of(caps: Iterable[Capability]) -> frozenset[Family]:
            return frozenset(
                f for c in caps if isinstance(c, ExtendedNextHop)
                for f, nh_afi in c.entries if nh_afi == AFI.IPV6
            )

        extended_next_hop = enh_of(ours) & enh_of(theirs) & families

        def has(caps: Iterable[Capability], kind: type) -> bool:
            return first(caps, kind) is not None

        graceful = first(theirs, GracefulRestart)
        return cls(
            hold_time=min(local.hold_time, remote.hold_time),
            asn4=asn4,
            families=families,
            add_path_receive=receive,
            add_path_send=send,
            extended_next_hop=extended_next_hop,
            extended_message=has(ours, ExtendedMessage) and has(theirs, ExtendedMessage),
            route_refresh=has(theirs, RouteRefresh) or has(theirs, EnhancedRouteRefresh),
            enhanced_route_refresh=(has(ours, EnhancedRouteRefresh)
                                    and has(theirs, EnhancedRouteRefresh)),
            graceful_restart=graceful if isinstance(graceful, GracefulRestart) else None,
            local_asn=local_asn,
            peer_asn=peer_asn,
        )
