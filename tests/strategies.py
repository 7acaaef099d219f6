"""Hypothesis strategies for rtnetlink values (BGP ones live in strategies_bgp.py)."""

from __future__ import annotations

import socket

from hypothesis import strategies as st

from netlinkbgp.codec.attrs import AddrCacheInfo, Attr, RouteCacheInfo, RtNextHop, RtVia, Unknown
from netlinkbgp.codec.constants import Ifa, Ifla, IflaInfo, NlmsgerrAttr, Rta, Rtax
from netlinkbgp.codec.messages import (
    AddressMessage,
    DoneMessage,
    ErrorMessage,
    LinkMessage,
    Message,
    RawMessage,
    RouteMessage,
)
from netlinkbgp.codec.route_requests import RouteSpec

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
s32 = st.integers(-(2**31), 2**31 - 1)
u64 = st.integers(0, 2**64 - 1)
addr = st.one_of(st.binary(min_size=4, max_size=4), st.binary(min_size=16, max_size=16))
text = st.text(st.characters(min_codepoint=1, max_codepoint=0x2FF), max_size=15)
#: Types no spec interprets (well above every RTA_/IFLA_/IFA_ value), with or without flags.
unknown_type = st.integers(200, 0x3FFF) | st.integers(200, 0x3FFF).map(lambda t: t | 0x8000)
unknown = st.tuples(unknown_type, st.binary(max_size=24).map(Unknown))


def _pair(atype: int, values: st.SearchStrategy[object]) -> st.SearchStrategy[Attr]:
    return st.tuples(st.just(int(atype)), values)  # type: ignore[arg-type]


nexthop_attr = st.one_of(
    _pair(Rta.RTA_GATEWAY, addr),
    _pair(Rta.RTA_VIA, st.builds(RtVia, st.sampled_from([2, 10]), addr)),
    _pair(Rta.RTA_FLOW, u32),
)
nexthop = st.builds(RtNextHop, u8, u8, s32, st.lists(nexthop_attr, max_size=2).map(tuple))
route_attr = st.one_of(
    *(_pair(t, addr) for t in (Rta.RTA_DST, Rta.RTA_SRC, Rta.RTA_GATEWAY, Rta.RTA_PREFSRC)),
    *(_pair(t, u32) for t in (Rta.RTA_IIF, Rta.RTA_OIF, Rta.RTA_PRIORITY, Rta.RTA_TABLE,
                              Rta.RTA_MARK, Rta.RTA_FLOW, Rta.RTA_UID, Rta.RTA_NH_ID)),
    _pair(Rta.RTA_PREF, u8),
    _pair(Rta.RTA_ENCAP_TYPE, u16),
    _pair(Rta.RTA_EXPIRES, st.binary(max_size=8)),
    _pair(Rta.RTA_VIA, st.builds(RtVia, u16, addr)),
    _pair(Rta.RTA_CACHEINFO, st.builds(RouteCacheInfo, u32, u32, s32, u32, u32, u32, u32, u32)),
    _pair(Rta.RTA_MULTIPATH, st.lists(nexthop, max_size=3).map(tuple)),
    _pair(Rta.RTA_METRICS, st.lists(st.one_of(
        _pair(Rtax.RTAX_MTU, u32), _pair(Rtax.RTAX_HOPLIMIT, u32),
        _pair(Rtax.RTAX_CC_ALGO, text)), max_size=3).map(tuple)),
    unknown,
)
link_info = st.lists(st.one_of(
    _pair(IflaInfo.IFLA_INFO_KIND, st.sampled_from(["veth", "vrf", "bridge"])),
    _pair(IflaInfo.IFLA_INFO_DATA, st.lists(unknown.map(lambda a: (a[0] & 0x3FFF, a[1])),
                                            max_size=2).map(tuple)),
), max_size=2).map(tuple)
link_attr = st.one_of(
    _pair(Ifla.IFLA_IFNAME, text),
    _pair(Ifla.IFLA_ADDRESS, st.binary(max_size=8)),
    *(_pair(t, u32) for t in (Ifla.IFLA_MTU, Ifla.IFLA_MASTER, Ifla.IFLA_TXQLEN, Ifla.IFLA_GROUP)),
    _pair(Ifla.IFLA_OPERSTATE, u8),
    _pair(Ifla.IFLA_LINK_NETNSID, s32),
    _pair(Ifla.IFLA_LINKINFO, link_info),
    unknown,
)
addr_attr = st.one_of(
    *(_pair(t, addr) for t in (Ifa.IFA_ADDRESS, Ifa.IFA_LOCAL, Ifa.IFA_BROADCAST)),
    _pair(Ifa.IFA_LABEL, text),
    _pair(Ifa.IFA_FLAGS, u32),
    _pair(Ifa.IFA_CACHEINFO, st.builds(AddrCacheInfo, u32, u32, u32, u32)),
    _pair(Ifa.IFA_PROTO, u8),
    unknown,
)
err_attr = st.one_of(
    _pair(NlmsgerrAttr.NLMSGERR_ATTR_MSG, text),
    _pair(NlmsgerrAttr.NLMSGERR_ATTR_OFFS, u32),
)


def attrs_of(strategy: st.SearchStrategy[Attr]) -> st.SearchStrategy[tuple[Attr, ...]]:
    """A tuple of 0..6 attributes."""
    return st.lists(strategy, max_size=6).map(tuple)


header = (u16, u32, u32)  # flags, seq, pid
route_message = st.builds(
    RouteMessage, st.sampled_from([24, 25, 26]), *header, u8, u8, u8, u8, u8, u8, u8, u8, u32,
    attrs_of(route_attr),
)
link_message = st.builds(
    LinkMessage, st.sampled_from([16, 17, 18, 19]), *header, u8, u16, s32, u32, u32,
    attrs_of(link_attr),
)
address_message = st.builds(
    AddressMessage, st.sampled_from([20, 21, 22]), *header, u8, u8, u8, u8, u32,
    attrs_of(addr_attr),
)
# An error message as the kernel builds it: a capped echo (a header) then ext-ack TLVs.
error_message = st.builds(
    ErrorMessage, st.just(0x300), u32, u32, st.integers(-4095, -1),
    st.binary(min_size=16, max_size=16), attrs_of(err_attr),
)
ack_message = st.builds(
    ErrorMessage, st.just(0x100), u32, u32, st.just(0), st.binary(min_size=16, max_size=16),
)
done_message = st.builds(DoneMessage, u16, u32, u32, s32 | st.none())
raw_message = st.builds(RawMessage, st.sampled_from([1, 4, 28, 40]), *header,
                        st.binary(max_size=40))

message: st.SearchStrategy[Message] = st.one_of(
    route_message, link_message, address_message, error_message, ack_message, done_message,
    raw_message,
)

route_spec = st.builds(
    RouteSpec,
    st.just(socket.AF_INET), st.binary(min_size=4, max_size=4), st.integers(0, 32),
    st.integers(1, 0xFFFFFFFF), u8, u32 | st.none(),
    st.binary(min_size=4, max_size=4) | st.none(), st.integers(0, 2**31 - 1), st.booleans(),
    st.sampled_from([1, 6, 7]),
) | st.builds(
    RouteSpec,
    st.just(socket.AF_INET6), st.binary(min_size=16, max_size=16), st.integers(0, 128),
    st.integers(1, 0xFFFFFFFF), u8, u32 | st.none(),
    st.binary(min_size=16, max_size=16) | st.none(), st.integers(0, 2**31 - 1), st.booleans(),
    st.sampled_from([1, 6, 7]),
)
