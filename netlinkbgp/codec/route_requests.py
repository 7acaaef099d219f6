"""Route add/replace/delete requests in bulk: :class:`RouteSpec` -> bytes, fast.

Installing 100,000 routes is bounded by the kernel (a few microseconds each) only if encoding
costs less; the general path (:func:`~netlinkbgp.codec.messages.build_route` then
``encode_message``) builds a message object and walks its attributes. Here each request is one
``struct.pack`` with a format chosen by the request's shape (family, which attributes are
present), precompiled for every shape at import.

Anything outside the common shape (multipath, a gateway of the other family, a source address)
goes through the general path, so every route can still be expressed.

A :class:`PackedRoutes` batch (packed destinations and shared request "rests", as the Exporter
keeps its routes) encodes to the same bytes without a :class:`RouteSpec` per route.
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Callable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import NamedTuple, overload

from netlinkbgp.codec.constants import (
    AF_INET,
    AF_INET6,
    NlmFlag,
    Rta,
    RtmFlag,
    RtmType,
    Rtn,
    Rtprot,
    RtScope,
)
from netlinkbgp.codec.messages import build_route, encode_message, with_header
from netlinkbgp.errors import LocalProtocolError

__all__ = [
    "PACKED_V6",
    "PackedRoutes",
    "RouteRest",
    "RouteSpec",
    "encode_route_requests",
    "pack_prefix",
    "unpack_prefix",
]


class RouteSpec(NamedTuple):
    """One kernel route in wire terms, as batches carry it.

    Attributes:
        family: ``AF_INET`` (2) or ``AF_INET6`` (10).
        dst: packed network address (4 or 16 bytes).
        dst_len: prefix length.
        table: routing table id (1..2^32-1).
        protocol: ``rtm_protocol``; deletes carry it so only our routes match.
        metric: RTA_PRIORITY, or ``None`` for none (the kernel's 0; IPv6 defaults to 1024).
        gateway: packed next hop of the same family, or ``None``; one of the other family is
            sent as RTA_VIA.
        oif: outgoing interface index, 0 for none.
        onlink: RTNH_F_ONLINK: the gateway is reachable on ``oif`` whatever the routes say.
        type: ``rtm_type`` (RTN_UNICAST, RTN_BLACKHOLE...).
    """

    family: int
    dst: bytes
    dst_len: int
    table: int = 254
    protocol: int = Rtprot.RTPROT_BOOT
    metric: int | None = None
    gateway: bytes | None = None
    oif: int = 0
    onlink: bool = False
    type: int = Rtn.RTN_UNICAST

    @classmethod
    def of(
        cls,
        prefix: IPv4Network | IPv6Network,
        gateway: IPv4Address | IPv6Address | None = None,
        **fields: int | bool | None,
    ) -> RouteSpec:
        """Build a spec from ``ipaddress`` values (``table=``, ``metric=``... as keywords)."""
        family = AF_INET if prefix.version == 4 else AF_INET6
        packed = gateway.packed if gateway is not None else None
        return cls(family, prefix.network_address.packed, prefix.prefixlen,
                   gateway=packed, **fields)  # type: ignore[arg-type]


#: What a packed route carries besides its destination: the fields of a :class:`RouteSpec`
#: from ``table`` on (table, protocol, metric, gateway, oif, onlink, type).
RouteRest = tuple[int, int, int | None, bytes | None, int, bool, int]
#: The bit that marks an IPv6 destination in a packed prefix.
PACKED_V6 = 1 << 136
_MASK128 = (1 << 128) - 1
_U32 = 0xFFFFFFFF


def pack_prefix(prefix: IPv4Network | IPv6Network) -> int:
    """A prefix as one integer: ``(length << 32) | address`` for IPv4,
    ``PACKED_V6 | (length << 128) | address`` for IPv6 (both families in one key space)."""
    address = int(prefix.network_address)
    if prefix.version == 4:
        return (prefix.prefixlen << 32) | address
    return PACKED_V6 | (prefix.prefixlen << 128) | address


def unpack_prefix(packed: int) -> tuple[int, bytes, int]:
    """(family, packed destination address, prefix length) of a packed prefix."""
    if packed & PACKED_V6:
        return _AF_INET6, (packed & _MASK128).to_bytes(16, "big"), (packed >> 128) & 0xFF
    return _AF_INET, (packed & _U32).to_bytes(4, "big"), packed >> 32


class PackedRoutes(Sequence[RouteSpec]):
    """Routes as two parallel lists: each destination as a packed prefix
    (:func:`pack_prefix`) and the rest of its :class:`RouteSpec` (:data:`RouteRest`).

    The rest is usually one tuple shared by many routes, so a batch needs no object per
    route, and :func:`encode_route_requests` packs it without building a spec; indexing and
    iterating still give :class:`RouteSpec` values.

    Args:
        prefixes: packed destinations.
        rests: for each destination, the rest of its spec.

    Raises:
        LocalProtocolError: the lists differ in length.
    """

    __slots__ = ("prefixes", "rests")

    def __init__(self, prefixes: list[int], rests: list[RouteRest]) -> None:
        if len(prefixes) != len(rests):
            raise LocalProtocolError(
                f"{len(prefixes)} destinations for {len(rests)} routes")
        self.prefixes = prefixes
        self.rests = rests

    def __len__(self) -> int:
        return len(self.prefixes)

    @overload
    def __getitem__(self, index: int) -> RouteSpec: ...

    @overload
    def __getitem__(self, index: slice) -> PackedRoutes: ...

    def __getitem__(self, index: int | slice) -> RouteSpec | PackedRoutes:
        if isinstance(index, slice):
            return PackedRoutes(self.prefixes[index], self.rests[index])
        return _spec_new(RouteSpec, (*unpack_prefix(self.prefixes[index]), *self.rests[index]))

    def descending(self) -> list[int]:
        """Indexes by (family, destination address), highest first; equal ones keep their
        order (as ``sorted(..., reverse=True)`` on the specs' ``(family, dst)``)."""
        prefixes = self.prefixes

        def address(i: int) -> int:
            p = prefixes[i]
            return (1 << 128) | (p & _MASK128) if p & PACKED_V6 else p & _U32

        return sorted(range(len(prefixes)), key=address, reverse=True)

    def take(self, order: Sequence[int]) -> PackedRoutes:
        """The routes at these indexes, in this order."""
        prefixes, rests = self.prefixes, self.rests
        return PackedRoutes([prefixes[i] for i in order], [rests[i] for i in order])


_spec_new = tuple.__new__


def _shape(v6: bool, table: bool, gateway: bool, oif: bool, metric: bool) -> struct.Struct:
    addr = "16s" if v6 else "4s"
    fmt = "=IHHIIBBBBBBBBI"  # nlmsghdr + rtmsg
    if table:
        fmt += "HHI"
    fmt += "HH" + addr  # RTA_DST
    if gateway:
        fmt += "HH" + addr
    if oif:
        fmt += "HHI"
    if metric:
        fmt += "HHI"
    return struct.Struct(fmt)


#: One precompiled format per request shape, indexed by the bit set built in
#: encode_route_requests (v6, table > 255, gateway, oif, metric).
_SHAPES = tuple(
    _shape(bool(k & 1), bool(k & 2), bool(k & 4), bool(k & 8), bool(k & 16)) for k in range(32)
)
_RTA_TABLE = int(Rta.RTA_TABLE)
_RTA_DST = int(Rta.RTA_DST)
_RTA_GATEWAY = int(Rta.RTA_GATEWAY)
_RTA_OIF = int(Rta.RTA_OIF)
_RTA_PRIORITY = int(Rta.RTA_PRIORITY)
_ONLINK = int(RtmFlag.RTNH_F_ONLINK)
_COMPAT = 252
_AF_INET = int(AF_INET)
_AF_INET6 = int(AF_INET6)
_UNICAST = int(Rtn.RTN_UNICAST)
_LINK = int(RtScope.RT_SCOPE_LINK)
_UNIVERSE = int(RtScope.RT_SCOPE_UNIVERSE)
_NOWHERE = int(RtScope.RT_SCOPE_NOWHERE)


def encode_route_requests(
    specs: Sequence[RouteSpec], msg_type: int, flags: int, first_seq: int
) -> bytes:
    """Encode one request per spec, numbered from ``first_seq``; the last one asks for an ACK.

    Args:
        specs: the routes (a :class:`PackedRoutes` is encoded without building its specs).
        msg_type: RTM_NEWROUTE or RTM_DELROUTE.
        flags: netlink flags for every request (NLM_F_REQUEST is added; NLM_F_ACK only on the
            last one). For adds: NLM_F_CREATE | NLM_F_EXCL, or NLM_F_CREATE | NLM_F_REPLACE.
        first_seq: the sequence number of the first request.

    Returns:
        The datagram.

    Raises:
        LocalProtocolError: a spec has a value that does not fit its field.
    """
    if msg_type not in (RtmType.RTM_NEWROUTE, RtmType.RTM_DELROUTE):
        raise LocalProtocolError(f"message type {msg_type} is not a route add or delete")
    delete = msg_type == RtmType.RTM_DELROUTE
    quiet = (flags | NlmFlag.NLM_F_REQUEST) & ~NlmFlag.NLM_F_ACK
    acked = quiet | NlmFlag.NLM_F_ACK
    if isinstance(specs, PackedRoutes):
        return _encode_packed(specs, msg_type, quiet, acked, first_seq, delete)
    last = len(specs) - 1
    out: list[bytes] = []
    append = out.append
    seq = first_seq
    # Requests that differ only by destination (and sequence number, and the last one's ACK
    # flag) are the same bytes around those: after one is packed field by field, the others
    # are packed from its constant pieces, by everything but family and destination.
    templates: dict[tuple[object, ...], _Template] = {}
    # The template in use (consecutive specs usually share one): its rest, and its pieces.
    current: tuple[object, ...] | None = None
    family = size = length = 0
    pack: Callable[..., bytes] | None = None
    mid = tail = b""
    for index, spec in enumerate(specs):
        rest: tuple[object, ...] = spec[2:]
        cacheable = True
        if rest != current:
            try:
                template = templates.get(rest)
            except TypeError:  # an unhashable field (a bytearray address): no template
                template, cacheable = None, False
            if template is None:
                current = pack = None
            else:
                current = rest
                family, size, pack, length, mid, tail = template
        if pack is not None:
            dst = spec[1]
            if spec[0] == family and len(dst) == size:
                try:
                    append(pack(length, msg_type, acked if index == last else quiet, seq, mid,
                                dst, tail))
                except struct.error as exc:
                    raise LocalProtocolError(f"route {spec} does not fit the wire: {exc}") from exc
                seq += 1
                continue
        data, at = _encode_one(spec, msg_type, acked if index == last else quiet, seq, delete)
        append(data)
        seq += 1
        if at and cacheable and len(templates) < _MAX_TEMPLATES:
            template = templates[rest] = _template(spec[0], len(spec[1]), data, at)
            current = rest
            family, size, pack, length, mid, tail = template
    return b"".join(out)


def _encode_one(
    spec: RouteSpec, msg_type: int, flags: int, seq: int, delete: bool
) -> tuple[bytes, int]:
    """One request packed field by field, and where its destination's value starts (0 when
    it went through the general path: no template can be cut from it)."""
    family, dst, dst_len, table, protocol, metric, gateway, oif, onlink, rtype = spec
    v6 = family == _AF_INET6
    size = 16 if v6 else 4
    if len(dst) != size or (gateway is not None and len(gateway) != size):
        return _general(spec, msg_type, flags, seq), 0
    key = v6 | (table > 255) << 1 | (gateway is not None) << 2 | bool(oif) << 3
    key |= (metric is not None) << 4
    shape = _SHAPES[key]
    if delete:
        scope = _NOWHERE
    elif rtype == _UNICAST and gateway is None and oif:
        scope = _LINK
    else:
        scope = _UNIVERSE
    args: list[int | bytes] = [
        shape.size, msg_type, flags, seq, 0, family, dst_len,
        0, 0, _COMPAT if table > 255 else table, protocol, scope, rtype,
        _ONLINK if onlink else 0,
    ]
    if table > 255:
        args += (8, _RTA_TABLE, table)
    args += (4 + size, _RTA_DST, dst)
    if gateway is not None:
        args += (4 + size, _RTA_GATEWAY, gateway)
    if oif:
        args += (8, _RTA_OIF, oif)
    if metric is not None:
        args += (8, _RTA_PRIORITY, metric)
    try:
        data = shape.pack(*args)
    except struct.error as exc:
        raise LocalProtocolError(f"route {spec} does not fit the wire: {exc}") from exc
    return data, 28 + (8 if table > 255 else 0) + 4  # RTA_DST's value


def _encode_packed(
    routes: PackedRoutes, msg_type: int, quiet: int, acked: int, seq: int, delete: bool
) -> bytes:
    """encode_route_requests for packed routes: the same bytes, without a spec per route.
    A template is cut per (rest, family and prefix length) the first time it is met, from
    the request packed field by field."""
    rests = routes.rests
    last = len(rests) - 1
    out: list[bytes] = []
    append = out.append
    templates: dict[tuple[RouteRest, int], _Template] = {}
    rest: RouteRest | None = None
    shape = -1
    template: _Template | None = None
    pack: Callable[..., bytes] | None = None
    length = 0
    mid = tail = b""
    index = 0
    try:
        for index, prefix in enumerate(routes.prefixes):
            if prefix & PACKED_V6:
                kind = prefix >> 128
                dst = (prefix & _MASK128).to_bytes(16, "big")
            else:
                kind = prefix >> 32
                dst = (prefix & _U32).to_bytes(4, "big")
            now = rests[index]
            if now is not rest or kind != shape or pack is None:
                rest, shape = now, kind
                try:
                    template = templates.get((now, kind))
                except TypeError:  # an unhashable field (a bytearray address): no template
                    template = None
                if template is None:
                    spec = routes[index]
                    data, at = _encode_one(spec, msg_type, acked if index == last else quiet,
                                           seq, delete)
                    append(data)
                    seq += 1
                    pack = None
                    if at and len(templates) < _MAX_TEMPLATES:
                        with contextlib.suppress(TypeError):
                            template = templates[(now, kind)] = _template(
                                spec[0], len(dst), data, at)
                            _family, _size, pack, length, mid, tail = template
                    continue
                _family, _size, pack, length, mid, tail = template
            append(pack(length, msg_type, acked if index == last else quiet, seq, mid, dst,
                        tail))
            seq += 1
    except struct.error as exc:
        raise LocalProtocolError(f"route {routes[index]} does not fit the wire: {exc}") from exc
    return b"".join(out)


#: Distinct request templates per call (a batch is a few next hops and tables).
_MAX_TEMPLATES = 256
#: family, address size, pack, nlmsg_len, bytes from nlmsg_pid to RTA_DST's value, bytes after it
_Template = tuple[int, int, Callable[..., bytes], int, bytes, bytes]
#: nlmsg_len, nlmsg_type, nlmsg_flags, nlmsg_seq: what precedes the constant middle.
_HEAD = "=IHHI"


def _template(family: int, size: int, data: bytes, at: int) -> _Template:
    """Cut a packed request around its sequence number and destination."""
    mid, tail = data[12:at], data[at + size :]
    pack = struct.Struct(f"{_HEAD}{len(mid)}s{size}s{len(tail)}s").pack
    return family, size, pack, len(data), mid, tail


def _general(spec: RouteSpec, msg_type: int, flags: int, seq: int) -> bytes:
    """The general path, for shapes without a precompiled format (a gateway of the other
    family, which becomes RTA_VIA)."""
    if len(spec.dst) not in (4, 16) or len(spec.gateway or b"1234") not in (4, 16):
        raise LocalProtocolError(f"route {spec} has an address of impossible length")
    prefix = ip_network((spec.dst, spec.dst_len))
    gateway = ip_address(spec.gateway) if spec.gateway is not None else None
    msg = build_route(
        msg_type, prefix, gateway=gateway, oif=spec.oif, table=spec.table, metric=spec.metric,
        protocol=spec.protocol, route_type=spec.type, onlink=spec.onlink, flags=flags,
    )
    return encode_message(with_header(msg, seq=seq))
