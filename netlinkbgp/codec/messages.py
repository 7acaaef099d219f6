"""rtnetlink messages: ``nlmsghdr`` + fixed header + attributes <-> frozen values.

Each message keeps its netlink header fields (``msg_type``, ``flags``, ``seq``, ``pid``), its
fixed header as named fields and its attributes as ``(type, value)`` pairs in wire order, so
``encode_message(decode_messages(b)[0]) == b`` for anything the kernel sends. Interpreted views
(``RouteMessage.dst``, ``LinkMessage.ifname``...) are properties.

Route, link and address messages are typed ``NamedTuple`` classes rather than frozen dataclasses:
a dump creates hundreds of thousands of them, and building a tuple in one step is several times
cheaper than a frozen dataclass ``__init__`` that sets each field through a call (STYLE §9,
measured in ``benchmarks/bench_netlink.py``). They are just as immutable and typed.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network
from typing import Any, NamedTuple, TypeVar, Union

from netlinkbgp.codec.attrs import (
    AddrCacheInfo,
    Attr,
    RtNextHop,
    RtVia,
    Unknown,
    decode_attrs,
    encode_attrs,
    find,
)
from netlinkbgp.codec.constants import (
    AF_INET,
    AF_INET6,
    AF_UNSPEC,
    Ifa,
    Ifla,
    IflaInfo,
    IflaVrf,
    NlmFlag,
    NlmsgerrAttr,
    NlmsgType,
    Rta,
    RtmFlag,
    RtmType,
    Rtn,
    Rtprot,
    RtScope,
    RtTable,
)
from netlinkbgp.codec.route_attrs import MAX_TEMPLATES, RouteShapes, decode_route_attrs
from netlinkbgp.codec.specs import ADDR_SPEC, ERR_SPEC, LINK_SPEC, ROUTE_SPEC
from netlinkbgp.errors import DecodeError, LocalProtocolError

__all__ = [
    "ADDR_SPEC",
    "LINK_SPEC",
    "ROUTE_SPEC",
    "AddressMessage",
    "DoneMessage",
    "ErrorMessage",
    "LinkMessage",
    "Message",
    "RawMessage",
    "RouteMessage",
    "build_route",
    "decode_messages",
    "encode_message",
]

#: struct nlmsghdr: len u32, type u16, flags u16, seq u32, pid u32 (host byte order).
HDR = struct.Struct("=IHHII")
#: struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type (u8); flags u32.
RTMSG = struct.Struct("=BBBBBBBBI")
#: struct ifinfomsg: family u8, pad u8, type u16, index s32, flags u32, change u32.
IFINFOMSG = struct.Struct("=BxHiII")
#: struct ifaddrmsg: family, prefixlen, flags, scope (u8); index u32.
IFADDRMSG = struct.Struct("=BBBBI")
#: struct nlmsgerr starts with int error, then the echoed request's nlmsghdr.
_ERRNO = struct.Struct("=i")

_T = TypeVar("_T")
_tuple_new = tuple.__new__
_PAD = (b"", b"\0\0\0", b"\0\0", b"\0")


def _address(raw: bytes) -> IPv4Address | IPv6Address:
    return IPv4Address(raw) if len(raw) == 4 else IPv6Address(raw)


class RouteMessage(NamedTuple):
    """RTM_NEWROUTE / RTM_DELROUTE / RTM_GETROUTE (``struct rtmsg`` + RTA_* attributes).

    ``table`` is the 8-bit ``rtm_table``; for ids above 255 the kernel puts RT_TABLE_COMPAT
    there and the real id in RTA_TABLE. :attr:`table_id` gives the real one.
    """

    msg_type: int = RtmType.RTM_NEWROUTE
    flags: int = 0
    seq: int = 0
    pid: int = 0
    family: int = AF_INET
    dst_len: int = 0
    src_len: int = 0
    tos: int = 0
    table: int = RtTable.RT_TABLE_MAIN
    protocol: int = Rtprot.RTPROT_BOOT
    scope: int = RtScope.RT_SCOPE_UNIVERSE
    type: int = Rtn.RTN_UNICAST
    rtm_flags: int = 0
    attrs: tuple[Attr, ...] = ()

    def get(self, atype: int) -> Any:
        """The value of attribute ``atype`` (an :class:`Rta`), or ``None``."""
        return find(self.attrs, atype)

    @property
    def table_id(self) -> int:
        """The routing table: RTA_TABLE when present, else ``rtm_table``."""
        value = find(self.attrs, Rta.RTA_TABLE)
        return value if isinstance(value, int) else self.table

    @property
    def dst(self) -> IPv4Network | IPv6Network:
        """The destination prefix (the default route when RTA_DST is absent)."""
        raw = find(self.attrs, Rta.RTA_DST)
        if not isinstance(raw, bytes):
            raw = bytes(4 if self.family == AF_INET else 16)
        return ip_network((raw, self.dst_len))

    @property
    def gateway(self) -> IPv4Address | IPv6Address | None:
        """RTA_GATEWAY, or RTA_VIA's address, or ``None``."""
        raw = find(self.attrs, Rta.RTA_GATEWAY)
        if isinstance(raw, bytes):
            return _address(raw)
        via = find(self.attrs, Rta.RTA_VIA)
        return _address(via.address) if isinstance(via, RtVia) else None

    @property
    def oif(self) -> int | None:
        """RTA_OIF, the outgoing interface index."""
        value = find(self.attrs, Rta.RTA_OIF)
        return value if isinstance(value, int) else None

    @property
    def priority(self) -> int | None:
        """RTA_PRIORITY, the metric (``None`` when absent, which the kernel treats as 0)."""
        value = find(self.attrs, Rta.RTA_PRIORITY)
        return value if isinstance(value, int) else None

    @property
    def prefsrc(self) -> IPv4Address | IPv6Address | None:
        """RTA_PREFSRC, the preferred source address."""
        raw = find(self.attrs, Rta.RTA_PREFSRC)
        return _address(raw) if isinstance(raw, bytes) else None

    @property
    def multipath(self) -> tuple[RtNextHop, ...]:
        """RTA_MULTIPATH next hops (empty for a single-path route)."""
        value = find(self.attrs, Rta.RTA_MULTIPATH)
        return value if isinstance(value, tuple) else ()

    @property
    def onlink(self) -> bool:
        """Whether RTNH_F_ONLINK is set."""
        return bool(self.rtm_flags & RtmFlag.RTNH_F_ONLINK)


class LinkMessage(NamedTuple):
    """RTM_NEWLINK / RTM_DELLINK / RTM_GETLINK (``struct ifinfomsg`` + IFLA_* attributes)."""

    msg_type: int = RtmType.RTM_NEWLINK
    flags: int = 0
    seq: int = 0
    pid: int = 0
    family: int = AF_UNSPEC
    ifi_type: int = 0
    ifindex: int = 0
    ifi_flags: int = 0
    change: int = 0
    attrs: tuple[Attr, ...] = ()

    def get(self, atype: int) -> Any:
        """The value of attribute ``atype`` (an :class:`Ifla`), or ``None``."""
        return find(self.attrs, atype)

    @property
    def ifname(self) -> str | None:
        """IFLA_IFNAME."""
        value = find(self.attrs, Ifla.IFLA_IFNAME)
        return value if isinstance(value, str) else None

    @property
    def master(self) -> int | None:
        """IFLA_MASTER: the index of the bridge or VRF device this link is enslaved to."""
        value = find(self.attrs, Ifla.IFLA_MASTER)
        return value if isinstance(value, int) else None

    @property
    def kind(self) -> str | None:
        """IFLA_LINKINFO / IFLA_INFO_KIND (``"veth"``, ``"vrf"``...)."""
        info = find(self.attrs, Ifla.IFLA_LINKINFO)
        if not isinstance(info, tuple):
            return None
        value = find(info, IflaInfo.IFLA_INFO_KIND)  # type: ignore[arg-type]
        return value if isinstance(value, str) else None

    @property
    def vrf_table(self) -> int | None:
        """IFLA_VRF_TABLE for a device of kind ``vrf``, else ``None``."""
        info = find(self.attrs, Ifla.IFLA_LINKINFO)
        if self.kind != "vrf" or not isinstance(info, tuple):
            return None
        data = find(info, IflaInfo.IFLA_INFO_DATA)  # type: ignore[arg-type]
        if not isinstance(data, tuple):
            return None
        table = find(data, IflaVrf.IFLA_VRF_TABLE)  # type: ignore[arg-type]
        if isinstance(table, Unknown) and len(table.raw) == 4:
            return int.from_bytes(table.raw, "little" if _LITTLE else "big")
        return None

    @property
    def up(self) -> bool:
        """Whether IFF_UP is set."""
        return bool(self.ifi_flags & 1)


_LITTLE = struct.pack("=H", 1) == b"\x01\x00"


class AddressMessage(NamedTuple):
    """RTM_NEWADDR / RTM_DELADDR / RTM_GETADDR (``struct ifaddrmsg`` + IFA_* attributes)."""

    msg_type: int = RtmType.RTM_NEWADDR
    flags: int = 0
    seq: int = 0
    pid: int = 0
    family: int = AF_INET
    prefixlen: int = 0
    ifa_flags: int = 0
    scope: int = RtScope.RT_SCOPE_UNIVERSE
    ifindex: int = 0
    attrs: tuple[Attr, ...] = ()

    def get(self, atype: int) -> Any:
        """The value of attribute ``atype`` (an :class:`Ifa`), or ``None``."""
        return find(self.attrs, atype)

    @property
    def address(self) -> IPv4Address | IPv6Address | None:
        """The interface's own address: IFA_LOCAL when present, else IFA_ADDRESS."""
        raw = find(self.attrs, Ifa.IFA_LOCAL)
        if not isinstance(raw, bytes):
            raw = find(self.attrs, Ifa.IFA_ADDRESS)
        return _address(raw) if isinstance(raw, bytes) else None

    @property
    def network(self) -> IPv4Network | IPv6Network | None:
        """The connected prefix (IFA_ADDRESS masked by ``prefixlen``)."""
        raw = find(self.attrs, Ifa.IFA_ADDRESS)
        if not isinstance(raw, bytes):
            return None
        return ip_network((raw, self.prefixlen), strict=False)

    @property
    def all_flags(self) -> int:
        """IFA_FLAGS when present (it supersedes the 8-bit ``ifa_flags``)."""
        value = find(self.attrs, Ifa.IFA_FLAGS)
        return value if isinstance(value, int) else self.ifa_flags

    @property
    def cacheinfo(self) -> AddrCacheInfo | None:
        """IFA_CACHEINFO lifetimes."""
        value = find(self.attrs, Ifa.IFA_CACHEINFO)
        return value if isinstance(value, AddrCacheInfo) else None


@dataclass(frozen=True, slots=True)
class ErrorMessage:
    """NLMSG_ERROR: an ACK (``error == 0``) or a failure, with optional extended ack.

    Attributes:
        error: ``0`` or a negative errno, as on the wire.
        request: the echoed request: its header, and its payload unless NLM_F_CAPPED.
        attrs: extended-ack attributes (NLMSGERR_ATTR_*) when NLM_F_ACK_TLVS is set.
    """

    flags: int = 0
    seq: int = 0
    pid: int = 0
    error: int = 0
    request: bytes = b""
    attrs: tuple[Attr, ...] = ()

    @property
    def errno(self) -> int:
        """The positive errno (0 for an ACK)."""
        return -self.error

    @property
    def extack(self) -> str:
        """The kernel's extended-ack text, or ``""``."""
        value = find(self.attrs, NlmsgerrAttr.NLMSGERR_ATTR_MSG)
        return value if isinstance(value, str) else ""

    @property
    def extack_offset(self) -> int | None:
        """Offset, in the request, of the attribute the kernel blames; ``None`` if not given."""
        value = find(self.attrs, NlmsgerrAttr.NLMSGERR_ATTR_OFFS)
        return value if isinstance(value, int) else None

    @property
    def request_seq(self) -> int:
        """Sequence number of the request this answers (from the echoed header)."""
        if len(self.request) >= HDR.size:
            return int(HDR.unpack_from(self.request)[3])
        return self.seq


@dataclass(frozen=True, slots=True)
class DoneMessage:
    """NLMSG_DONE: the end of a dump. ``error`` is ``None`` when the payload is empty."""

    flags: int = NlmFlag.NLM_F_MULTI
    seq: int = 0
    pid: int = 0
    error: int | None = 0
    attrs: tuple[Attr, ...] = ()


@dataclass(frozen=True, slots=True)
class RawMessage:
    """Any other message (NLMSG_NOOP, NLMSG_OVERRUN, families we do not decode)."""

    msg_type: int
    flags: int = 0
    seq: int = 0
    pid: int = 0
    payload: bytes = b""


Message = Union[  # noqa: UP007
    RouteMessage, LinkMessage, AddressMessage, ErrorMessage, DoneMessage, RawMessage
]

_ROUTE_TYPES = frozenset((RtmType.RTM_NEWROUTE, RtmType.RTM_DELROUTE, RtmType.RTM_GETROUTE))
_LINK_TYPES = frozenset(
    (RtmType.RTM_NEWLINK, RtmType.RTM_DELLINK, RtmType.RTM_GETLINK, RtmType.RTM_SETLINK)
)
_ADDR_TYPES = frozenset((RtmType.RTM_NEWADDR, RtmType.RTM_DELADDR, RtmType.RTM_GETADDR))
_DST = int(Rta.RTA_DST)


def decode_messages(data: bytes, shapes: RouteShapes | None = None) -> list[Message]:
    """Decode every netlink message in one datagram.

    Args:
        data: the datagram, as received.
        shapes: route-attribute shapes learned so far (keep one per socket to decode dumps
            faster); a fresh one is used when omitted.

    Returns:
        The messages in order.

    Raises:
        DecodeError: a header or attribute is truncated or inconsistent; ``offset`` is relative
            to ``data``.
    """
    if not isinstance(data, bytes):
        data = bytes(data)
    if shapes is None:
        shapes = RouteShapes()
    out: list[Message] = []
    append = out.append
    unpack_hdr = HDR.unpack_from
    unpack_rt = RTMSG.unpack_from
    cuts_get = shapes.cuts.get
    templates = shapes.templates
    templates_get = templates.get
    run = shapes.run
    remember = shapes.remember
    previous: object = None  # the template of the message before, when it had one
    n = len(data)
    offset = 0
    while offset < n:
        if n - offset < 16:
            raise DecodeError(f"{n - offset} bytes cannot hold a netlink header", offset)
        length, mtype, flags, seq, pid = unpack_hdr(data, offset)
        end = offset + length
        if length < 16 or end > n:
            raise DecodeError(f"netlink message length {length} is impossible here", offset)
        body = offset + 16
        if mtype in _ROUTE_TYPES:
            if length < 28:
                raise DecodeError("route message shorter than rtmsg", offset)
            # A dump's messages mostly match a template: see netlinkbgp.codec.route_attrs.
            cut = cuts_get(length)
            if cut is not None:
                low = offset + cut[0]
                high = offset + cut[1]
                template = templates_get(data[offset + 4 : low] + data[high:end])
                if template is not None:
                    fields, before, after, head, tail, _cut = template
                    # Look for a run only from the second message alike in a row (a table
                    # through several gateways has few), and never past unaligned messages.
                    if template is not previous or length & 3 \
                            or data[end : end + cut[0]] != head \
                            or data[end + cut[1] : end + length] != tail:
                        previous = template
                        attrs = before + ((_DST, data[low:high]),) + after  # noqa: RUF005
                        append(_tuple_new(RouteMessage, fields + (attrs,)))  # noqa: RUF005
                        offset += (length + 3) & ~3
                        continue
                    dsts = run(data, offset, length, template)
                    out += [_tuple_new(RouteMessage, fields + (before + ((_DST, dst),) + after,))  # noqa: RUF005
                            for dst in dsts]
                    offset += len(dsts) * length
                    continue
            fam, dlen, slen, tos, table, proto, scope, rtype, rflags = unpack_rt(data, body)
            msg = _tuple_new(RouteMessage, (
                mtype, flags, seq, pid, fam, dlen, slen, tos, table, proto, scope, rtype,
                rflags, decode_route_attrs(data, body + 12, end, shapes),
            ))
            if len(templates) < MAX_TEMPLATES or seq != shapes.seq:  # else: full, this dump
                remember(data, offset, end, msg)
            append(msg)
        elif mtype in _LINK_TYPES:
            if length < 32:
                raise DecodeError("link message shorter than ifinfomsg", offset)
            fam, itype, index, iflags, change = IFINFOMSG.unpack_from(data, body)
            attrs = decode_attrs(data, body + 16, end, LINK_SPEC)
            append(LinkMessage(mtype, flags, seq, pid, fam, itype, index, iflags, change, attrs))
        elif mtype in _ADDR_TYPES:
            if length < 24:
                raise DecodeError("address message shorter than ifaddrmsg", offset)
            fam, plen, aflags, scope, index = IFADDRMSG.unpack_from(data, body)
            attrs = decode_attrs(data, body + 8, end, ADDR_SPEC)
            append(AddressMessage(mtype, flags, seq, pid, fam, plen, aflags, scope, index, attrs))
        elif mtype == NlmsgType.NLMSG_ERROR:
            append(_decode_error(data, offset, end, flags, seq, pid))
        elif mtype == NlmsgType.NLMSG_DONE:
            if length == 16:
                append(DoneMessage(flags, seq, pid, None))
            elif length < 20:
                raise DecodeError("NLMSG_DONE payload is not an int", offset)
            else:
                error = _ERRNO.unpack_from(data, body)[0]
                attrs = decode_attrs(data, body + 4, end, ERR_SPEC)
                append(DoneMessage(flags, seq, pid, error, attrs))
        else:
            append(RawMessage(mtype, flags, seq, pid, data[body:end]))
        offset += (length + 3) & ~3
    return out


def _decode_error(data: bytes, offset: int, end: int, flags: int, seq: int, pid: int) -> Message:
    body = offset + 16
    if end - body < 4 + 16:
        raise DecodeError("NLMSG_ERROR shorter than struct nlmsgerr", offset)
    error = _ERRNO.unpack_from(data, body)[0]
    req_len = HDR.unpack_from(data, body + 4)[0]
    # The echoed request is its header alone when capped (or for an ACK), else all of it.
    if flags & NlmFlag.NLM_F_CAPPED or error == 0 or req_len < 16:
        req_end = body + 4 + 16
    else:
        req_end = body + 4 + ((req_len + 3) & ~3)
        if req_end > end:
            raise DecodeError(f"NLMSG_ERROR echoes {req_len} bytes but has fewer", offset)
    attrs: tuple[Attr, ...] = ()
    if flags & NlmFlag.NLM_F_ACK_TLVS:
        attrs = decode_attrs(data, req_end, end, ERR_SPEC)
    elif req_end != end:
        # No TLVs announced: what follows is part of the echo (uncapped ACKs echo it all).
        req_end = end
    return ErrorMessage(flags, seq, pid, error, data[body + 4 : req_end], attrs)


def encode_message(msg: Message) -> bytes:
    """Encode one message, netlink header included (``nlmsg_len`` is computed).

    Raises:
        LocalProtocolError: a field or attribute value does not fit its wire type.
    """
    try:
        if isinstance(msg, RouteMessage):
            body = RTMSG.pack(
                msg.family, msg.dst_len, msg.src_len, msg.tos, msg.table, msg.protocol,
                msg.scope, msg.type, msg.rtm_flags,
            ) + encode_attrs(msg.attrs, ROUTE_SPEC)
            mtype = msg.msg_type
        elif isinstance(msg, LinkMessage):
            body = IFINFOMSG.pack(
                msg.family, msg.ifi_type, msg.ifindex, msg.ifi_flags, msg.change
            ) + encode_attrs(msg.attrs, LINK_SPEC)
            mtype = msg.msg_type
        elif isinstance(msg, AddressMessage):
            body = IFADDRMSG.pack(
                msg.family, msg.prefixlen, msg.ifa_flags, msg.scope, msg.ifindex
            ) + encode_attrs(msg.attrs, ADDR_SPEC)
            mtype = msg.msg_type
        elif isinstance(msg, ErrorMessage):
            body = _ERRNO.pack(msg.error) + msg.request + encode_attrs(msg.attrs, ERR_SPEC)
            mtype = NlmsgType.NLMSG_ERROR
        elif isinstance(msg, DoneMessage):
            body = b"" if msg.error is None else _ERRNO.pack(msg.error)
            body += encode_attrs(msg.attrs, ERR_SPEC)
            mtype = NlmsgType.NLMSG_DONE
        elif isinstance(msg, RawMessage):
            body, mtype = msg.payload, msg.msg_type
        else:
            raise LocalProtocolError(f"cannot encode {type(msg).__name__}")
        # nlmsg_len counts the payload; the message itself is padded to NLMSG_ALIGNTO (4) so
        # that messages can be concatenated into one datagram.
        length = 16 + len(body)
        return HDR.pack(length, mtype, msg.flags, msg.seq, msg.pid) + body + _PAD[length & 3]
    except struct.error as exc:
        raise LocalProtocolError(f"{type(msg).__name__} has a field out of range: {exc}") from exc


# -- building requests ---------------------------------------------------------------------------

NextHopSpec = tuple[Union[IPv4Address, IPv6Address, None], int, int]  # noqa: UP007


def build_route(
    msg_type: int,
    prefix: IPv4Network | IPv6Network,
    *,
    gateway: IPv4Address | IPv6Address | None = None,
    oif: int = 0,
    table: int = RtTable.RT_TABLE_MAIN,
    metric: int | None = None,
    protocol: int = Rtprot.RTPROT_BOOT,
    scope: int | None = None,
    route_type: int = Rtn.RTN_UNICAST,
    onlink: bool = False,
    nexthops: Sequence[NextHopSpec] = (),
    prefsrc: IPv4Address | IPv6Address | None = None,
    flags: int = NlmFlag.NLM_F_REQUEST | NlmFlag.NLM_F_ACK,
    seq: int = 0,
) -> RouteMessage:
    """Build an RTM_NEWROUTE / RTM_DELROUTE / RTM_GETROUTE request for one prefix.

    Args:
        msg_type: an :class:`RtmType` route type.
        prefix: the destination.
        gateway: next-hop address; of the other family it is sent as RTA_VIA.
        oif: outgoing interface index (0: let the kernel pick from the gateway).
        table: table id; ids above 255 go in RTA_TABLE with RT_TABLE_COMPAT in the header.
        metric: RTA_PRIORITY, or ``None`` to leave it out.
        protocol: ``rtm_protocol``.
        scope: ``rtm_scope``; by default link scope for a gateway-less unicast route on an
            interface, universe otherwise.
        route_type: ``rtm_type`` (unicast, blackhole...).
        onlink: set RTNH_F_ONLINK (the gateway is on the link even if no prefix says so).
        nexthops: (gateway or None, ifindex, weight) for a multipath route.
        prefsrc: preferred source address.
        flags: netlink header flags.
        seq: sequence number (a channel sets it when sending).

    Raises:
        LocalProtocolError: a value does not fit (weight outside 1..256, mixed families...).
    """
    v4 = prefix.version == 4
    family = AF_INET if v4 else AF_INET6
    attrs: list[Attr] = []
    rtm_table = int(RtTable.RT_TABLE_COMPAT) if table > 255 else table
    if table > 255:
        attrs.append((Rta.RTA_TABLE, table))
    if prefix.prefixlen or msg_type != RtmType.RTM_GETROUTE:
        attrs.append((Rta.RTA_DST, prefix.network_address.packed))
    if gateway is not None:
        attrs.append(_gateway_attr(gateway, v4))
    if oif:
        attrs.append((Rta.RTA_OIF, oif))
    if metric is not None:
        attrs.append((Rta.RTA_PRIORITY, metric))
    if prefsrc is not None:
        attrs.append((Rta.RTA_PREFSRC, prefsrc.packed))
    if nexthops:
        attrs.append((Rta.RTA_MULTIPATH, tuple(_nexthop(h, v4, onlink) for h in nexthops)))
    if scope is None and msg_type == RtmType.RTM_DELROUTE:
        scope = RtScope.RT_SCOPE_NOWHERE  # a delete matches any scope (as `ip route del` does)
    elif scope is None:
        link = route_type == Rtn.RTN_UNICAST and gateway is None and not nexthops and oif
        scope = RtScope.RT_SCOPE_LINK if link else RtScope.RT_SCOPE_UNIVERSE
    return RouteMessage(
        msg_type, flags, seq, 0, family, prefix.prefixlen, 0, 0, rtm_table, protocol, scope,
        route_type, RtmFlag.RTNH_F_ONLINK if onlink and not nexthops else 0, tuple(attrs),
    )


def _gateway_attr(gateway: IPv4Address | IPv6Address, v4: bool) -> Attr:
    if (gateway.version == 4) == v4:
        return (Rta.RTA_GATEWAY, gateway.packed)
    family = AF_INET if gateway.version == 4 else AF_INET6
    return (Rta.RTA_VIA, RtVia(family, gateway.packed))


def _nexthop(hop: NextHopSpec, v4: bool, onlink: bool) -> RtNextHop:
    gateway, ifindex, weight = hop
    if not 1 <= weight <= 256:
        raise LocalProtocolError(f"next-hop weight {weight} is outside 1..256")
    attrs = (_gateway_attr(gateway, v4),) if gateway is not None else ()
    return RtNextHop(RtmFlag.RTNH_F_ONLINK if onlink else 0, weight - 1, ifindex, attrs)


def dump_request(msg_type: int, family: int = AF_UNSPEC, table: int = 0) -> Message:
    """A dump request (RTM_GETROUTE / RTM_GETLINK / RTM_GETADDR with NLM_F_DUMP).

    With NETLINK_GET_STRICT_CHK on, ``table`` (routes only) makes the kernel filter by table.
    """
    flags = NlmFlag.NLM_F_REQUEST | NlmFlag.NLM_F_DUMP
    if msg_type == RtmType.RTM_GETROUTE:
        attrs: tuple[Attr, ...] = ((Rta.RTA_TABLE, table),) if table else ()
        return RouteMessage(
            msg_type, flags, 0, 0, family, 0, 0, 0, 0, 0, 0, 0, 0, attrs
        )
    if msg_type == RtmType.RTM_GETLINK:
        return LinkMessage(msg_type, flags, 0, 0, family)
    if msg_type == RtmType.RTM_GETADDR:
        return AddressMessage(msg_type, flags, 0, 0, family, 0, 0, 0, 0)
    raise LocalProtocolError(f"message type {msg_type} has no dump")


def with_header(msg: Message, *, seq: int, flags: int | None = None) -> Message:
    """A copy of ``msg`` with a new sequence number (and flags)."""
    flags = msg.flags if flags is None else flags
    if isinstance(msg, (RouteMessage, LinkMessage, AddressMessage)):
        return msg._replace(seq=seq, flags=flags)
    return dataclasses.replace(msg, seq=seq, flags=flags)
