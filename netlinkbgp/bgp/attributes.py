"""Path attributes: one frozen dataclass per attribute, plus their value codecs.

Each class names its type code and its RFC-mandated Optional/Transitive flags as class
variables (``TYPE``, ``FLAGS``). The ``wire_flags`` field (excluded from equality) remembers the
Partial and Extended Length bits as received, so a re-encoded attribute keeps them; the encoder
also sets Extended Length whenever the value is longer than 255 octets.

This module decodes and encodes attribute *values*. Walking the attribute block and the
RFC 7606 error handling (which action a malformed attribute triggers) live in
:mod:`netlinkbgp.bgp.rfc7606`. A value decoder signals a malformed value by raising
:class:`AttributeValueError` with the RFC 4271 §6.3 subcode it would have sent.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address
from typing import ClassVar, TypeVar

from netlinkbgp.bgp.aspath import (
    As4Path,
    AsPath,
    AsPathSegment,
    decode_segments,
    reconstruct_as_path,
    split_as4_path,
)
from netlinkbgp.bgp.capabilities import Negotiated
from netlinkbgp.bgp.constants import (
    AFI,
    AsPathSegmentType,
    AttrFlag,
    AttrType,
    UpdateSubcode,
)
from netlinkbgp.bgp.nlri import Family, NlriList
from netlinkbgp.errors import DecodeError, LocalProtocolError
from netlinkbgp.route import Origin

__all__ = [
    "Aggregator",
    "As4Aggregator",
    "As4Path",
    "AsPath",
    "AsPathSegment",
    "AtomicAggregate",
    "Attribute",
    "AttributeValueError",
    "ClusterList",
    "Communities",
    "ExtendedCommunities",
    "LargeCommunities",
    "LocalPref",
    "MpReachNlri",
    "MpUnreachNlri",
    "MultiExitDisc",
    "NextHopAttribute",
    "OriginAttribute",
    "OriginatorId",
    "UnknownAttribute",
    "encode_attribute",
    "reconstruct_as_path",
    "split_as4_path",
]

_WELL_KNOWN = int(AttrFlag.TRANSITIVE)  # well-known attributes: Optional 0, Transitive 1
_OPT_TRANS = int(AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE)
_OPT_NON_TRANS = int(AttrFlag.OPTIONAL)
#: Flag bits a received attribute keeps on re-encode (RFC 4271 §4.3).
_KEPT_FLAGS = int(AttrFlag.PARTIAL | AttrFlag.EXTENDED_LENGTH)

_T = TypeVar("_T")
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_AGG2 = struct.Struct("!H4s")
_AGG4 = struct.Struct("!I4s")
_MP_REACH_HEAD = struct.Struct("!HBB")
_MP_UNREACH_HEAD = struct.Struct("!HB")


class AttributeValueError(DecodeError):
    """An attribute value is malformed.

    Attributes:
        subcode: the UPDATE Message Error subcode RFC 4271 §6.3 names for this error.
        family: for MP_REACH/MP_UNREACH, the family concerned when it could be read.
        unlocatable: the attribute is too broken to find the NLRI it carries.
    """

    def __init__(
        self, message: str, subcode: int, family: Family | None = None,
        unlocatable: bool = False,
    ) -> None:
        super().__init__(message, 0)
        self.subcode = subcode
        self.family = family
        self.unlocatable = unlocatable


def _length_error(name: str, length: int, expected: str) -> AttributeValueError:
    return AttributeValueError(
        f"{name} length {length}, expected {expected}", UpdateSubcode.ATTRIBUTE_LENGTH_ERROR
    )


# -- simple attributes --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OriginAttribute:
    """ORIGIN (RFC 4271 §5.1.1)."""

    TYPE: ClassVar[int] = AttrType.ORIGIN
    FLAGS: ClassVar[int] = _WELL_KNOWN
    origin: Origin
    wire_flags: int = field(default=0, compare=False, repr=False, kw_only=True)

    def encode_value(self, ctx: Negotiated) -> bytes:
        """The attribute value."""
        return bytes((self.origin,))


@dataclass(frozen=True, slots=True)
class NextHopAttribute:
    """NEXT_HOP (RFC 4271 §5.1.3): the IPv4 next hop of the classic NLRI field."""

    TYPE: ClassVar[int] = AttrType.NEXT_HOP
    FLAGS: ClassVar[int] = _WELL_KNOWN
    address: IPv4Address
    wire_flags: int = field(default=0, compare=False, repr=False, kw_only=True)

    def encode_value(self, ctx: Negotiated) -> bytes:
        """The attribute value."""
        return self.address.packed


@dataclass(frozen=True, slots=True)
class MultiExitDisc:
    """MULTI_EXIT_DISC (RFC 4271 §5.1.4)."""

    TYPE: ClassVar[int] = AttrType.MULTI_EXIT_DISC
    FLAGS: ClassVar[int] = _OPT_NON_TRANS
    value: int
    wire_flags: int = field(default=0, compare=False, repr=False, kw_only=True)

    def encode_value(self, ctx: Negotiated) -> bytes:
        """The attribute value."""
        return _pack_u32(self.value, "MULTI_EXIT_DISC")


@dataclass(frozen=True, slots=True)
class LocalPref:
    """LOCAL_PREF (RFC 4271 §5.1.5)."""

    TYPE: ClassVar[int] = AttrType.LOCAL_PREF
    FLAGS: ClassVar[int] = _WELL_KNOWN
    value: int
    wire_flags: int = field(default=0, compare=False, repr=False, kw_only=True)

    def encode_value(self, ctx: Negotiated) -> bytes:
        """The attribute value."""
        return _pack_u32(self.value, "LOCAL_PREF")


@dataclass(frozen=True, slots=True)
class AtomicAggregate:
    """ATOMIC_AGGREGATE (RFC 4271 §5.1.6): no value."""

    TYPE: ClassVar[int] = AttrType.ATOMIC_AGGREGATE
    FLAGS: ClassVar[int] = _WELL_KNOWN
    wire_flags: int = field(default=0, compare=False, repr=False, kw_only=True)

    def encode_value(self, ctx: Negotiated) -> bytes:
        """The attribute value (empty)."""
        return b""


@dataclass(frozen=True, slots=True)
class Aggregator:
    """AGGREGATOR (RFC 4271 §5.1.7); 4-octet AS when the session has 4-octet AS (RFC 6793)."""

    TYPE: ClassVar[int] = AttrType.AGGREGATOR
    FLAGS: ClassVar[int] = _OPT_TRANS
    asn: int
    address: IPv4Address
    wire_flags: int = field(default=0, compare=False, repr=False, kw_only=True)

    def encode_value(self, ctx: Negotiated) -> bytes:
        """The attribute value (6 or 8 octets)."""
        if ctx.asn4:
            return _AGG4.pack(_check_u32(self.asn, "AGGREGATOR"), self.address.packed)
        if not 0 <= self.asn <= 0xFFFF:
            raise LocalProtocolError(f"AGGREGATOR AS {self.asn} needs AS_TRANS and "
                                     "AS4_AGGREGATOR on a 2-octet AS session")
        return _AGG2.pack(self.asn, self.address.packed)


@dataclass(frozen=True, slots=True)
class As4Aggregator:
    """AS4_AGGREGATOR (RFC 6793 §3)."""

    TYPE: ClassVar[int] = AttrType.AS4_AGGREGATOR
    FLAGS: ClassVar[int] = _OPT_TRANS
    asn: int
    address: IPv4Address
    wire_flags: int = field(default=0, compare=False, repr=False, kw_only=True)

    def encode_value(self, ctx: Negotiated) -> bytes:
        """The attribute value (8 octets)."""
        return _AGG4.pack(_check_u32(self.asn, "AS4_AGGREGATOR"), self.address.packed)


@dataclass(frozen=True, slots=True)
class Communities:
    """COMMUNITIES (RFC 1997): 32-bit values."""

    TYPE: ClassVar[int] = AttrType.COMMUNITIES
    FLAGS: ClassVar[int] = _OPT_TRANS
    values: tuple[int, ...]
    wire_flags: int = field(default=0, compare=False, repr=False, kw_only=True)

    def encode_value(self, ctx: Negotiated) -> bytes:
        """The attribute value."""
        for value in self.values:
            _check_u32(value, "COMMUNITIES")
        return struct.pack(f"!{len(self.values)}I", *self.values)


@dataclass(frozen=True, slots=True)
class ExtendedCommunities:
    """EXTENDED_COMMUNITIES (RFC 4360): 8-octet values (route targets live here).

    Use :func:`netlinkbgp.route.parse_route_target` / ``format_ext_community`` for text forms.
    """

    TYPE: ClassVar[int] = AttrType.EXTENDED_COMMUNITIES
    FLAGS: ClassVar[int] = _OPT_TRANS
    values: tuple[bytes, ...]
    wire_flags: int = field(default=0, compare=False, repr=False, kw_only=True)

    def route_targets(self) -> tuple[bytes, ...]:
        """The route targets among the values (RFC 4360 §4: sub-type 0x02, types 0x00-0x02)."""
        return tuple(v for v in self.values if v[0] & 0xBF in (0x00, 0x01, 0x02) and v[1] == 0x02)

    def encode_value(self, ctx: Negotiated) -> bytes:
        """The attribute value."""
        for value in self.values:
            if len(value) != 8:
                raise LocalProtocolError(f"extended community {value!r} is not 8 octets")
        return b"".join(self.values)


@dataclass(frozen=True, slots=True)
class LargeCommunities:
    """LARGE_COMMUNITY (RFC 8092): (global administrator, data 1, data 2) triples."""

    TYPE: ClassVar[int] = AttrType.LARGE_COMMUNITY
    FLAGS: ClassVar[int] = _OPT_TRANS
    values: tuple[tuple[int, int, int], ...]
    wire_flags: int = field(default=0, compare=False, repr=False, kw_only=True)

    def encode_value(self, ctx: Negotiated) -> bytes:
        """The attribute value."""
        out = bytearray()
        for triple in self.values:
            for part in triple:
                _check_u32(part, "LARGE_COMMUNITY")
            out += struct.pack("!III", *triple)
        return bytes(out)


@dataclass(frozen=True, slots=True)
class OriginatorId:
    """ORIGINATOR_ID (RFC 4456 §8)."""

    TYPE: ClassVar[int] = AttrType.ORIGINATOR_ID
    FLAGS: ClassVar[int] = _OPT_NON_TRANS
    address: IPv4Address
    wire_flags: int = field(default=0, compare=False, repr=False, kw_only=True)

    def encode_value(self, ctx: Negotiated) -> bytes:
        """The attribute value."""
        return self.address.packed


@dataclass(frozen=True, slots=True)
class ClusterList:
    """CLUSTER_LIST (RFC 4456 §8): cluster ids, nearest first."""

    TYPE: ClassVar[int] = AttrType.CLUSTER_LIST
    FLAGS: ClassVar[int] = _OPT_NON_TRANS
    ids: tuple[IPv4Address, ...]
    wire_flags: int = field(default=0, compare=False, repr=False, kw_only=True)

    def encode_value(self, ctx: Negotiated) -> bytes:
        """The attribute value."""
        return b"".join(address.packed for address in self.ids)


@dataclass(frozen=True, slots=True)
class UnknownAttribute:
    """An attribute this codec does not interpret, kept byte for byte (unknown is data).

    Attributes:
        type_code: the attribute type code.
        flags: the flags octet as received (the Extended Length bit is recomputed on encode).
        raw: the attribute value.
    """

    type_code: int
    flags: int
    raw: bytes

    def encode_value(self, ctx: Negotiated) -> bytes:
        """The attribute value, as received."""
        return self.raw


# -- multiprotocol ------------------------------------------------------------------------

NextHopAddress = IPv4Address | IPv6Address


@dataclass(frozen=True, slots=True)
class MpReachNlri:
    """MP_REACH_NLRI (RFC 4760 §3).

    Attributes:
        family: AFI/SAFI of the NLRI.
        next_hops: one next hop, or an IPv6 global and link-local pair (RFC 2545 §3).
            IPv4 families may carry IPv6 next hops when RFC 8950 was negotiated; IPv6 families
            never carry IPv4 (or IPv4-mapped) next hops.
        nlri: the reachable NLRI.
    """

    TYPE: ClassVar[int] = AttrType.MP_REACH_NLRI
    FLAGS: ClassVar[int] = _OPT_NON_TRANS
    family: Family
    next_hops: tuple[NextHopAddress, ...]
    nlri: NlriList
    wire_flags: int = field(default=0, compare=False, repr=False, kw_only=True)

    def encode_value(self, ctx: Negotiated) -> bytes:
        """The attribute value.

        Raises:
            LocalProtocolError: next hops unfit for the family or the session.
        """
        if self.nlri.family != self.family:
            raise LocalProtocolError(f"MP_REACH_NLRI for {self.family} holds {self.nlri.family}")
        next_hop = _encode_next_hop(self.family, self.next_hops, ctx)
        body = self.nlri.encode(add_path=self.family in ctx.add_path_send)
        return (_MP_REACH_HEAD.pack(self.family.afi, self.family.safi, len(next_hop))
                + next_hop + b"\x00" + body)


@dataclass(frozen=True, slots=True)
class MpUnreachNlri:
    """MP_UNREACH_NLRI (RFC 4760 §4); empty ``withdrawn`` is the End-of-RIB marker (RFC 4724).

    Attributes:
        family: AFI/SAFI of the withdrawn NLRI.
        withdrawn: the NLRI withdrawn.
    """

    TYPE: ClassVar[int] = AttrType.MP_UNREACH_NLRI
    FLAGS: ClassVar[int] = _OPT_NON_TRANS
    family: Family
    withdrawn: NlriList
    wire_flags: int = field(default=0, compare=False, repr=False, kw_only=True)

    def encode_value(self, ctx: Negotiated) -> bytes:
        """The attribute value."""
        if self.withdrawn.family != self.family:
            raise LocalProtocolError(
                f"MP_UNREACH_NLRI for {self.family} holds {self.withdrawn.family}"
            )
        body = self.withdrawn.encode(add_path=self.family in ctx.add_path_send, withdraw=True)
        return _MP_UNREACH_HEAD.pack(self.family.afi, self.family.safi) + body


def _encode_next_hop(
    family: Family, next_hops: tuple[NextHopAddress, ...], ctx: Negotiated
) -> bytes:
    if not 1 <= len(next_hops) <= 2:
        raise LocalProtocolError(f"MP_REACH_NLRI needs one or two next hops, not {next_hops}")
    rd = b"\x00" * 8 if family.has_rd else b""  # RFC 4364 §4.3.2: next hop RD is zero
    first = next_hops[0]
    if isinstance(first, IPv4Address):
        if family.afi != AFI.IPV4:
            raise LocalProtocolError(f"{family} needs an IPv6 next hop, not {first} "
                                     "(IPv4-mapped next hops are not used)")
        if len(next_hops) != 1:
            raise LocalProtocolError("an IPv4 next hop has no link-local companion")
        return rd + first.packed
    if family.afi == AFI.IPV4 and family not in ctx.extended_next_hop:
        raise LocalProtocolError(f"IPv6 next hop for {family} needs the RFC 8950 capability")
    out = rd + first.packed
    if len(next_hops) == 2:
        second = next_hops[1]
        if not isinstance(second, IPv6Address) or not second.is_link_local:
            raise LocalProtocolError(f"second next hop {second} is not IPv6 link-local")
        out += rd + second.packed
    return out


def _decode_next_hop(
    family: Family, data: bytes | memoryview, ctx: Negotiated
) -> tuple[NextHopAddress, ...]:
    """Next hop of MP_REACH_NLRI; its length must be what the family expects (RFC 7606 §7.11)."""
    step = 8 if family.has_rd else 0
    length = len(data)
    v6_ok = family.afi == AFI.IPV6 or family in ctx.extended_next_hop
    if family.afi == AFI.IPV4 and length == step + 4:
        return (IPv4Address(bytes(data[step:])),)
    if v6_ok and length == step + 16:
        return (IPv6Address(bytes(data[step:])),)
    if v6_ok and length == 2 * (step + 16):
        return (IPv6Address(bytes(data[step : step + 16])),
                IPv6Address(bytes(data[2 * step + 16 :])))
    raise AttributeValueError(
        f"MP_REACH_NLRI next hop length {length} does not fit {family}",
        UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, family,
    )


def _family_of(afi: int, safi: int, ctx: Negotiated, name: str) -> Family:
    family = Family(afi, safi)
    if family not in ctx.families:
        raise AttributeValueError(f"{name} for {family}, which was not negotiated",
                                  UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, family)
    return family


def _decode_mp_reach(value: bytes | memoryview, ctx: Negotiated) -> MpReachNlri:
    if len(value) < 5:
        raise AttributeValueError("MP_REACH_NLRI shorter than its fixed part",
                                  UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, unlocatable=True)
    afi, safi, nh_len = _MP_REACH_HEAD.unpack_from(value, 0)
    family = _family_of(afi, safi, ctx, "MP_REACH_NLRI")
    if 4 + nh_len + 1 > len(value):
        raise AttributeValueError("MP_REACH_NLRI next hop overruns the attribute",
                                  UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, family)
    next_hops = _decode_next_hop(family, value[4 : 4 + nh_len], ctx)
    # The octet after the next hop is Reserved (RFC 4760 §3): ignored on receipt.
    try:
        receive = ctx.add_path_receive
        nlri = NlriList.decode(value, family, add_path=bool(receive) and family in receive,
                               start=5 + nh_len)
    except DecodeError as exc:
        raise AttributeValueError(f"MP_REACH_NLRI: {exc.reason}",
                                  UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, family) from None
    return MpReachNlri(family, next_hops, nlri)


def _decode_mp_unreach(value: bytes | memoryview, ctx: Negotiated) -> MpUnreachNlri:
    if len(value) < 3:
        raise AttributeValueError("MP_UNREACH_NLRI shorter than its fixed part",
                                  UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, unlocatable=True)
    afi, safi = _MP_UNREACH_HEAD.unpack_from(value, 0)
    family = _family_of(afi, safi, ctx, "MP_UNREACH_NLRI")
    try:
        receive = ctx.add_path_receive
        withdrawn = NlriList.decode(value, family, add_path=bool(receive) and family in receive,
                                    withdraw=True, start=3)
    except DecodeError as exc:
        raise AttributeValueError(f"MP_UNREACH_NLRI: {exc.reason}",
                                  UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, family) from None
    return MpUnreachNlri(family, withdrawn)


Attribute = (
    OriginAttribute | AsPath | As4Path | NextHopAttribute
    | MultiExitDisc | LocalPref | AtomicAggregate | Aggregator | As4Aggregator | Communities
    | ExtendedCommunities | LargeCommunities | OriginatorId | ClusterList | MpReachNlri
    | MpUnreachNlri | UnknownAttribute
)


# -- value decoders -----------------------------------------------------------------------


def _pack_u32(value: int, name: str) -> bytes:
    return _U32.pack(_check_u32(value, name))


def _check_u32(value: int, name: str) -> int:
    if not 0 <= value <= 0xFFFFFFFF:
        raise LocalProtocolError(f"{name} value {value} is not a 32-bit number")
    return value


def _builder(cls: type[_T], name: str) -> Callable[[object], _T]:
    """A constructor for ``cls(value)`` from trusted, already validated input.

    It skips the frozen dataclass ``__init__`` (which costs more than the decoding itself on
    the UPDATE hot path) and writes the two slots directly.
    """
    new = object.__new__
    set_value = cls.__dict__[name].__set__
    set_flags = cls.__dict__["wire_flags"].__set__

    def build(value: object) -> _T:
        obj = new(cls)
        set_value(obj, value)
        set_flags(obj, 0)
        return obj

    return build


_new_as_path = _builder(AsPath, "segments")
_new_next_hop = _builder(NextHopAttribute, "address")
_new_med = _builder(MultiExitDisc, "value")
_new_local_pref = _builder(LocalPref, "value")
_new_communities = _builder(Communities, "values")
_new_ext_communities = _builder(ExtendedCommunities, "values")
_new_large_communities = _builder(LargeCommunities, "values")

#: The three ORIGIN values, built once: attribute values are immutable, so they are shared.
_ORIGINS = {int(o): OriginAttribute(o) for o in Origin}
#: Precompiled unpackers for the common short community lists.
_U32_STRUCTS = tuple(struct.Struct(f"!{n}I") for n in range(64))


def _decode_origin(value: bytes | memoryview, ctx: Negotiated) -> OriginAttribute:
    if len(value) != 1:
        raise _length_error("ORIGIN", len(value), "1")
    attribute = _ORIGINS.get(value[0])
    if attribute is None:
        raise AttributeValueError(f"ORIGIN value {value[0]} is undefined",
                                  UpdateSubcode.INVALID_ORIGIN_ATTRIBUTE)
    return attribute


def _decode_as_path(value: bytes | memoryview, ctx: Negotiated) -> AsPath:
    try:
        return _new_as_path(decode_segments(value, 4 if ctx.asn4 else 2, "AS_PATH"))
    except DecodeError as exc:
        raise AttributeValueError(exc.reason, UpdateSubcode.MALFORMED_AS_PATH) from None


def _decode_as4_path(value: bytes | memoryview, ctx: Negotiated) -> As4Path:
    try:
        segments = decode_segments(value, 4, "AS4_PATH")
    except DecodeError as exc:
        raise AttributeValueError(exc.reason, UpdateSubcode.MALFORMED_AS_PATH) from None
    for segment in segments:  # RFC 6793 §6: confederation segments make AS4_PATH malformed
        if segment.type in (AsPathSegmentType.AS_CONFED_SEQUENCE,
                            AsPathSegmentType.AS_CONFED_SET):
            raise AttributeValueError("AS4_PATH holds a confederation segment",
                                      UpdateSubcode.MALFORMED_AS_PATH)
    return As4Path(segments)


def _decode_next_hop_attr(value: bytes | memoryview, ctx: Negotiated) -> NextHopAttribute:
    if len(value) != 4:
        raise _length_error("NEXT_HOP", len(value), "4")
    return _new_next_hop(IPv4Address(_U32.unpack_from(value, 0)[0]))


def _decode_med(value: bytes | memoryview, ctx: Negotiated) -> MultiExitDisc:
    if len(value) != 4:
        raise _length_error("MULTI_EXIT_DISC", len(value), "4")
    return _new_med(_U32.unpack_from(value, 0)[0])


def _decode_local_pref(value: bytes | memoryview, ctx: Negotiated) -> LocalPref:
    if len(value) != 4:
        raise _length_error("LOCAL_PREF", len(value), "4")
    return _new_local_pref(_U32.unpack_from(value, 0)[0])


def _ipv4_value(name: str, value: bytes | memoryview) -> IPv4Address:
    if len(value) != 4:
        raise _length_error(name, len(value), "4")
    return IPv4Address(_U32.unpack_from(value, 0)[0])


def _decode_aggregator(value: bytes | memoryview, ctx: Negotiated) -> Aggregator:
    if ctx.asn4:
        if len(value) != 8:
            raise _length_error("AGGREGATOR", len(value), "8 (4-octet AS session)")
        asn, address = _AGG4.unpack_from(value, 0)
    else:
        if len(value) != 6:
            raise _length_error("AGGREGATOR", len(value), "6 (2-octet AS session)")
        asn, address = _AGG2.unpack_from(value, 0)
    return Aggregator(asn, IPv4Address(address))


def _decode_as4_aggregator(value: bytes | memoryview, ctx: Negotiated) -> As4Aggregator:
    if len(value) != 8:
        raise _length_error("AS4_AGGREGATOR", len(value), "8")
    asn, address = _AGG4.unpack_from(value, 0)
    return As4Aggregator(asn, IPv4Address(address))


def _multiple_of(name: str, value: bytes | memoryview, size: int) -> int:
    """Count of ``size``-octet items; RFC 7606 §7.8/§7.10/§7.14, RFC 8092 §6: non-zero."""
    if not value or len(value) % size:
        raise _length_error(name, len(value), f"a non-zero multiple of {size}")
    return len(value) // size


def _decode_communities(value: bytes | memoryview, ctx: Negotiated) -> Communities:
    count = _multiple_of("COMMUNITIES", value, 4)
    return _new_communities(_U32_STRUCTS[count].unpack_from(value, 0)
                            if count < 64 else struct.unpack_from(f"!{count}I", value, 0))


def _decode_ext_communities(value: bytes | memoryview, ctx: Negotiated) -> ExtendedCommunities:
    count = _multiple_of("EXTENDED_COMMUNITIES", value, 8)
    data = bytes(value)
    return _new_ext_communities(tuple(data[i * 8 : i * 8 + 8] for i in range(count)))


def _decode_large_communities(value: bytes | memoryview, ctx: Negotiated) -> LargeCommunities:
    count = _multiple_of("LARGE_COMMUNITY", value, 12)
    flat = struct.unpack_from(f"!{count * 3}I", value, 0)
    return _new_large_communities(tuple(zip(flat[0::3], flat[1::3], flat[2::3], strict=True)))


def _decode_cluster_list(value: bytes | memoryview, ctx: Negotiated) -> ClusterList:
    count = _multiple_of("CLUSTER_LIST", value, 4)
    return ClusterList(tuple(IPv4Address(i) for i in struct.unpack_from(f"!{count}I", value)))


def _decode_atomic_aggregate(value: bytes | memoryview, ctx: Negotiated) -> AtomicAggregate:
    if len(value):
        raise _length_error("ATOMIC_AGGREGATE", len(value), "0")
    return AtomicAggregate()


ValueDecoder = Callable[[bytes | memoryview, Negotiated], Attribute]

#: Value decoder and RFC-mandated Optional/Transitive flags, by type code.
DECODERS: dict[int, tuple[ValueDecoder, int]] = {
    AttrType.ORIGIN: (_decode_origin, _WELL_KNOWN),
    AttrType.AS_PATH: (_decode_as_path, _WELL_KNOWN),
    AttrType.NEXT_HOP: (_decode_next_hop_attr, _WELL_KNOWN),
    AttrType.MULTI_EXIT_DISC: (_decode_med, _OPT_NON_TRANS),
    AttrType.LOCAL_PREF: (_decode_local_pref, _WELL_KNOWN),
    AttrType.ATOMIC_AGGREGATE: (_decode_atomic_aggregate, _WELL_KNOWN),
    AttrType.AGGREGATOR: (_decode_aggregator, _OPT_TRANS),
    AttrType.COMMUNITIES: (_decode_communities, _OPT_TRANS),
    AttrType.ORIGINATOR_ID: (
        lambda v, c: OriginatorId(_ipv4_value("ORIGINATOR_ID", v)), _OPT_NON_TRANS
    ),
    AttrType.CLUSTER_LIST: (_decode_cluster_list, _OPT_NON_TRANS),
    AttrType.MP_REACH_NLRI: (_decode_mp_reach, _OPT_NON_TRANS),
    AttrType.MP_UNREACH_NLRI: (_decode_mp_unreach, _OPT_NON_TRANS),
    AttrType.EXTENDED_COMMUNITIES: (_decode_ext_communities, _OPT_TRANS),
    AttrType.AS4_PATH: (_decode_as4_path, _OPT_TRANS),
    AttrType.AS4_AGGREGATOR: (_decode_as4_aggregator, _OPT_TRANS),
    AttrType.LARGE_COMMUNITY: (_decode_large_communities, _OPT_TRANS),
}


def encode_attribute(attribute: Attribute, ctx: Negotiated) -> bytes:
    """Encode one path attribute: flags, type code, length, value (RFC 4271 §4.3).

    Args:
        attribute: the attribute.
        ctx: the session context (4-octet AS, ADD-PATH, extended next hop).

    Returns:
        The attribute bytes.

    Raises:
        LocalProtocolError: the attribute cannot be encoded for this session.
    """
    value = attribute.encode_value(ctx)
    if isinstance(attribute, UnknownAttribute):
        flags = attribute.flags & ~int(AttrFlag.EXTENDED_LENGTH)
        code = attribute.type_code
        if attribute.flags & AttrFlag.EXTENDED_LENGTH:
            flags |= AttrFlag.EXTENDED_LENGTH
    else:
        flags = attribute.FLAGS | (attribute.wire_flags & _KEPT_FLAGS)
        code = attribute.TYPE
    if len(value) > 0xFFFF:
        raise LocalProtocolError(f"attribute {code} value of {len(value)} octets is too long")
    if len(value) > 0xFF:
        flags |= AttrFlag.EXTENDED_LENGTH
    if flags & AttrFlag.EXTENDED_LENGTH:
        return bytes((flags, code)) + _U16.pack(len(value)) + value
    return bytes((flags, code, len(value))) + value


