"""Netlink attribute (TLV) walking and building.

An attribute is ``struct nlattr { u16 nla_len; u16 nla_type; }`` followed by its payload and
padding to a 4-byte boundary (``NLA_ALIGNTO``, ``netlink.h``). Decoded attributes are plain
``(type, value)`` pairs in wire order, so a message re-encodes byte for byte. ``type`` keeps the
NLA_F_NESTED / NLA_F_NET_BYTEORDER bits as they came; :func:`find` masks them.

How a payload is interpreted comes from a *spec*: ``{type: (Kind, sub-spec or None)}``. Types not
in the spec decode to :class:`Unknown`, which keeps the payload; a known type whose payload has the
wrong size raises :class:`DecodeError`, since the kernel never sends one.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple, Union

from netlinkbgp.codec.constants import NLA_TYPE_MASK
from netlinkbgp.errors import DecodeError, LocalProtocolError

__all__ = [
    "AddrCacheInfo",
    "Attr",
    "AttrValue",
    "Kind",
    "RouteCacheInfo",
    "RtNextHop",
    "RtVia",
    "Spec",
    "Unknown",
    "decode_attrs",
    "encode_attrs",
    "find",
]

NLA_HDR = struct.Struct("=HH")
_U16 = struct.Struct("=H")
_U32 = struct.Struct("=I")
_S32 = struct.Struct("=i")
_U64 = struct.Struct("=Q")
#: struct rtnexthop { u16 rtnh_len; u8 rtnh_flags; u8 rtnh_hops; int rtnh_ifindex; }
_RTNH = struct.Struct("=HBBi")
#: struct rtvia { __kernel_sa_family_t rtvia_family; u8 rtvia_addr[]; }
_RTVIA = struct.Struct("=H")
#: struct rta_cacheinfo: clntref, lastuse (u32), expires (s32), error, used, id, ts, tsage (u32)
_RTA_CACHEINFO = struct.Struct("=IIiIIIII")
#: struct ifa_cacheinfo: ifa_prefered, ifa_valid, cstamp, tstamp (u32)
_IFA_CACHEINFO = struct.Struct("=IIII")

_PAD = (b"", b"\0\0\0", b"\0\0", b"\0")
_tuple_new = tuple.__new__


class Kind(enum.Enum):
    """How an attribute payload is interpreted."""

    U8 = "u8"
    U16 = "u16"
    U32 = "u32"
    S32 = "s32"
    U64 = "u64"
    ADDR = "addr"  #: 4 or 16 bytes, kept packed
    STR = "str"  #: NUL-terminated text
    BYTES = "bytes"  #: opaque but known (MAC address, statistics blobs)
    NESTED = "nested"  #: attributes inside, described by the sub-spec
    MULTIPATH = "multipath"  #: array of struct rtnexthop
    VIA = "via"  #: struct rtvia
    RTA_CACHEINFO = "rta_cacheinfo"
    IFA_CACHEINFO = "ifa_cacheinfo"


@dataclass(frozen=True, slots=True)
class Unknown:
    """An attribute we have no interpretation for; re-encodes to the same bytes."""

    raw: bytes


@dataclass(frozen=True, slots=True)
class RtNextHop:
    """One ``struct rtnexthop`` of RTA_MULTIPATH, with its own attributes (RTA_GATEWAY...).

    Attributes:
        flags: RTNH_F_* bits.
        hops: ``rtnh_hops``: the weight minus one.
        ifindex: outgoing interface.
        attrs: nested route attributes (usually RTA_GATEWAY, or RTA_VIA).
    """

    flags: int = 0
    hops: int = 0
    ifindex: int = 0
    attrs: tuple[Attr, ...] = ()


@dataclass(frozen=True, slots=True)
class RtVia:
    """RTA_VIA: a gateway whose family differs from the route's (IPv4 via IPv6)."""

    family: int
    address: bytes


class RouteCacheInfo(NamedTuple):
    """``struct rta_cacheinfo`` (RTA_CACHEINFO); ``expires`` is in clock ticks.

    A NamedTuple rather than a dataclass: every IPv6 route of a dump carries one, and building
    a tuple in one step keeps the dump rate (see messages.py).
    """

    clntref: int = 0
    lastuse: int = 0
    expires: int = 0
    error: int = 0
    used: int = 0
    id: int = 0
    ts: int = 0
    tsage: int = 0


class AddrCacheInfo(NamedTuple):
    """``struct ifa_cacheinfo`` (IFA_CACHEINFO): lifetimes in seconds, stamps in 1/100 s."""

    prefered: int = 0
    valid: int = 0
    cstamp: int = 0
    tstamp: int = 0


AttrValue = Union[  # noqa: UP007  (a recursive alias needs the Union spelling)
    int,
    bytes,
    str,
    Unknown,
    RtVia,
    RouteCacheInfo,
    AddrCacheInfo,
    tuple["Attr", ...],
    tuple[RtNextHop, ...],
]
Attr = tuple[int, AttrValue]
Spec = Mapping[int, tuple[Kind, "Spec | None"]]

_FIXED_SIZE = {Kind.U8: 1, Kind.U16: 2, Kind.U32: 4, Kind.S32: 4, Kind.U64: 8}


def decode_attrs(data: bytes, start: int, end: int, spec: Spec) -> tuple[Attr, ...]:
    """Decode the attributes in ``data[start:end]``.

    Args:
        data: the whole buffer (offsets in errors are relative to it).
        start: offset of the first attribute.
        end: offset just past the last attribute.
        spec: the interpretation of known types.

    Raises:
        DecodeError: an attribute runs past ``end`` or a known type has the wrong size.
    """
    out: list[Attr] = []
    append = out.append
    unpack_hdr = NLA_HDR.unpack_from
    offset = start
    while offset + 4 <= end:
        length, atype = unpack_hdr(data, offset)
        if length < 4 or offset + length > end:
            raise DecodeError(f"attribute type {atype} has length {length}", offset)
        p = offset + 4
        q = offset + length
        entry = spec.get(atype & NLA_TYPE_MASK)
        if entry is None:
            append((atype, Unknown(data[p:q])))
        else:
            kind = entry[0]
            size = q - p
            if kind is Kind.U32:
                if size != 4:
                    raise DecodeError(f"attribute {atype} wants 4 bytes, has {size}", offset)
                append((atype, _U32.unpack_from(data, p)[0]))
            elif kind is Kind.ADDR:
                if size != 4 and size != 16:
                    raise DecodeError(f"address attribute {atype} has {size} bytes", offset)
                append((atype, data[p:q]))
            else:
                append((atype, _decode_value(data, p, q, kind, entry[1], offset)))
        offset += (length + 3) & ~3
    if offset < end:
        # Fewer than four bytes left: the kernel pads only after a whole attribute, so this
        # is a cut or corrupted message.
        raise DecodeError(f"{end - offset} stray bytes after the last attribute", offset)
    return tuple(out)


def _decode_value(data: bytes, p: int, q: int, kind: Kind, sub: Spec | None, at: int) -> AttrValue:
    size = q - p
    want = _FIXED_SIZE.get(kind)
    if want is not None and size != want:
        raise DecodeError(f"{kind.value} attribute has {size} bytes", at)
    if kind is Kind.U8:
        return data[p]
    if kind is Kind.U16:
        return int(_U16.unpack_from(data, p)[0])
    if kind is Kind.S32:
        return int(_S32.unpack_from(data, p)[0])
    if kind is Kind.U64:
        return int(_U64.unpack_from(data, p)[0])
    if kind is Kind.STR:
        if size == 0 or data[q - 1] != 0 or 0 in data[p : q - 1]:
            raise DecodeError("string attribute is not one NUL-terminated string", at)
        return data[p : q - 1].decode("utf-8", "surrogateescape")
    if kind is Kind.BYTES:
        return data[p:q]
    if kind is Kind.NESTED:
        return decode_attrs(data, p, q, sub or {})
    if kind is Kind.MULTIPATH:
        return _decode_multipath(data, p, q, sub or {})
    if kind is Kind.VIA:
        if size not in (2 + 4, 2 + 16):
            raise DecodeError(f"RTA_VIA has {size} bytes", at)
        return RtVia(_RTVIA.unpack_from(data, p)[0], data[p + 2 : q])
    if kind is Kind.RTA_CACHEINFO:
        if size != _RTA_CACHEINFO.size:
            raise DecodeError(f"RTA_CACHEINFO has {size} bytes", at)
        return _tuple_new(RouteCacheInfo, _RTA_CACHEINFO.unpack_from(data, p))
    if kind is Kind.IFA_CACHEINFO:
        if size != _IFA_CACHEINFO.size:
            raise DecodeError(f"IFA_CACHEINFO has {size} bytes", at)
        return _tuple_new(AddrCacheInfo, _IFA_CACHEINFO.unpack_from(data, p))
    # U32 and ADDR are handled inline by decode_attrs.
    raise AssertionError(kind)  # pragma: no cover


def _decode_multipath(data: bytes, p: int, q: int, spec: Spec) -> tuple[RtNextHop, ...]:
    hops: list[RtNextHop] = []
    while p < q:
        if p + _RTNH.size > q:
            raise DecodeError("truncated rtnexthop", p)
        length, flags, count, ifindex = _RTNH.unpack_from(data, p)
        if length < _RTNH.size or p + length > q:
            raise DecodeError(f"rtnexthop has length {length}", p)
        attrs = decode_attrs(data, p + _RTNH.size, p + length, spec)
        hops.append(RtNextHop(flags, count, ifindex, attrs))
        p += (length + 3) & ~3
    return tuple(hops)


def encode_attrs(attrs: tuple[Attr, ...] | list[Attr], spec: Spec) -> bytes:
    """Encode ``(type, value)`` pairs with their headers and padding.

    Raises:
        LocalProtocolError: a value does not fit its attribute's kind.
    """
    parts: list[bytes] = []
    for atype, value in attrs:
        if isinstance(value, Unknown):
            payload = value.raw
        else:
            entry = spec.get(atype & NLA_TYPE_MASK)
            if entry is None:
                raise LocalProtocolError(f"attribute type {atype} is unknown: wrap it in Unknown")
            payload = _encode_value(atype, value, entry[0], entry[1])
        length = 4 + len(payload)
        if length > 0xFFFF:
            raise LocalProtocolError(f"attribute {atype} is too long ({length} bytes)")
        parts.append(NLA_HDR.pack(length, atype))
        parts.append(payload)
        parts.append(_PAD[length & 3])
    return b"".join(parts)


def _encode_value(atype: int, value: AttrValue, kind: Kind, sub: Spec | None) -> bytes:
    try:
        if kind is Kind.U32:
            return _U32.pack(value)
        if kind is Kind.ADDR:
            if not isinstance(value, bytes) or len(value) not in (4, 16):
                raise LocalProtocolError(f"attribute {atype}: an address is 4 or 16 bytes")
            return value
        if kind is Kind.U8:
            return bytes((value,))  # type: ignore[arg-type]
        if kind is Kind.U16:
            return _U16.pack(value)
        if kind is Kind.S32:
            return _S32.pack(value)
        if kind is Kind.U64:
            return _U64.pack(value)
        if kind is Kind.STR and isinstance(value, str):
            return value.encode("utf-8", "surrogateescape") + b"\0"
        if kind is Kind.BYTES and isinstance(value, bytes):
            return value
        if kind is Kind.NESTED and isinstance(value, tuple):
            return encode_attrs(value, sub or {})  # type: ignore[arg-type]
        if kind is Kind.MULTIPATH and isinstance(value, tuple):
            return b"".join(_encode_nexthop(hop, sub or {}) for hop in value)
        if kind is Kind.VIA and isinstance(value, RtVia):
            return _RTVIA.pack(value.family) + value.address
        if kind is Kind.RTA_CACHEINFO and isinstance(value, RouteCacheInfo):
            return _RTA_CACHEINFO.pack(
                value.clntref, value.lastuse, value.expires, value.error,
                value.used, value.id, value.ts, value.tsage,
            )
        if kind is Kind.IFA_CACHEINFO and isinstance(value, AddrCacheInfo):
            return _IFA_CACHEINFO.pack(value.prefered, value.valid, value.cstamp, value.tstamp)
    except (struct.error, TypeError, ValueError) as exc:
        raise LocalProtocolError(f"attribute {atype}: {value!r} is not a {kind.value}") from exc
    raise LocalProtocolError(f"attribute {atype}: {value!r} is not a {kind.value}")


def _encode_nexthop(hop: RtNextHop, spec: Spec) -> bytes:
    if not isinstance(hop, RtNextHop):
        raise LocalProtocolError(f"RTA_MULTIPATH holds RtNextHop values, not {hop!r}")
    body = encode_attrs(hop.attrs, spec)
    length = _RTNH.size + len(body)
    try:
        return _RTNH.pack(length, hop.flags, hop.hops, hop.ifindex) + body
    except struct.error as exc:
        raise LocalProtocolError(f"bad rtnexthop {hop!r}: {exc}") from exc


def find(attrs: tuple[Attr, ...], atype: int) -> AttrValue | None:
    """The value of the first attribute of ``atype`` (flag bits ignored), or ``None``."""
    for t, v in attrs:
        if t & NLA_TYPE_MASK == atype:
            return v
    return None
