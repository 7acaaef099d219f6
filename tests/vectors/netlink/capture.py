#!/usr/bin/env python3
"""Capture real rtnetlink messages from the running kernel as test vectors.

Run as root from the project root::

    python3 tests/vectors/netlink/capture.py [--out DIR]

The script creates a throw-away network namespace, re-executes itself inside it with
``ip netns exec``, builds a known state there with ``ip`` commands (veth pairs, a bridge,
addresses, routes), and records raw netlink messages:

* dump replies (RTM_GETROUTE / RTM_GETLINK / RTM_GETADDR with NLM_F_DUMP and
  NETLINK_GET_STRICT_CHK on) and the NLMSG_DONE that ends each dump;
* multicast notifications (route, link and address groups) caused by ``ip`` commands;
* NLMSG_ERROR replies (ACK, EEXIST, ESRCH, extended-ack messages and offsets) together with the
  request bytes we sent to provoke them.

Every message becomes one JSON file ``<name>.json`` with its provenance, its hex and an expected
decoded value. The decoder used here is deliberately tiny and independent of ``netlinkbgp.codec``;
the human-readable ``summary`` comes from ``ip -j -d -N`` (or from the request we built), and the
``crosscheck`` block records where the two agree or disagree.

Standard library only. Nothing outside the namespace is touched; the namespace is deleted at the
end even on failure.
"""

from __future__ import annotations

import argparse
import datetime
import errno
import ipaddress
import json
import os
import platform
import select
import shlex
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

# --------------------------------------------------------------------------------------------
# Wire constants (values from include/uapi/linux/netlink.h and rtnetlink.h). Kept local on
# purpose: these vectors must not depend on netlinkbgp.codec.constants.
# --------------------------------------------------------------------------------------------

SOL_NETLINK = 270  #: include/linux/socket.h
NETLINK_ADD_MEMBERSHIP = 1
NETLINK_CAP_ACK = 10  #: do not echo the request payload in error replies
NETLINK_EXT_ACK = 11  #: extended ACK TLVs (NLMSGERR_ATTR_*)
NETLINK_GET_STRICT_CHK = 12  #: strict checking of dump requests

NLMSG_ERROR = 2
NLMSG_DONE = 3

NLM_F_REQUEST = 0x01
NLM_F_MULTI = 0x02
NLM_F_ACK = 0x04
NLM_F_DUMP = 0x300  # NLM_F_ROOT | NLM_F_MATCH
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLM_F_CAPPED = 0x100  # in NLMSG_ERROR: request payload not echoed
NLM_F_ACK_TLVS = 0x200  # in NLMSG_ERROR: extended ack TLVs follow

RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
RTM_NEWROUTE, RTM_DELROUTE, RTM_GETROUTE = 24, 25, 26

# rtnetlink multicast groups (enum rtnetlink_groups), joined with NETLINK_ADD_MEMBERSHIP.
RTNLGRP_LINK = 1
RTNLGRP_IPV4_IFADDR = 5
RTNLGRP_IPV4_ROUTE = 7
RTNLGRP_IPV6_IFADDR = 9
RTNLGRP_IPV6_ROUTE = 11

# Route attributes (enum rtattr_type_t).
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PRIORITY, RTA_PREFSRC = 1, 4, 5, 6, 7
RTA_METRICS, RTA_MULTIPATH, RTA_CACHEINFO, RTA_TABLE, RTA_VIA, RTA_PREF = 8, 9, 12, 15, 18, 20
RTA_EXPIRES = 23
RTAX_MTU = 2  # inside RTA_METRICS
RTNH_F_ONLINK = 4

# Link attributes (enum IFLA_*).
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_LINK, IFLA_MASTER = 1, 3, 4, 5, 10
IFLA_TXQLEN, IFLA_OPERSTATE, IFLA_LINKINFO = 13, 16, 18
IFLA_INFO_KIND, IFLA_INFO_SLAVE_KIND = 1, 4
IFF_UP = 0x1
OPERSTATES = ["UNKNOWN", "NOTPRESENT", "DOWN", "LOWERLAYERDOWN", "TESTING", "DORMANT", "UP"]

# Address attributes (enum IFA_*) and flags.
IFA_ADDRESS, IFA_LOCAL, IFA_LABEL, IFA_BROADCAST, IFA_CACHEINFO, IFA_FLAGS = 1, 2, 3, 4, 6, 8
IFA_F_SECONDARY, IFA_F_NODAD, IFA_F_PERMANENT = 0x01, 0x02, 0x80

# Extended ack attributes (enum nlmsgerr_attrs).
NLMSGERR_ATTR_MSG, NLMSGERR_ATTR_OFFS = 1, 2

USER_HZ = 100  # clock_t unit of RTA_CACHEINFO.rta_expires

# Our own netlink port ids. Explicit (rather than kernel-assigned) so regenerated vectors diff
# cleanly. They are above pid_max's hard limit (2**22), so no autobound `ip` process can hold
# them; the port space is per network namespace anyway.
PORT_DUMP = 0x4E420001
PORT_EVENTS = 0x4E420002
PORT_ERRORS = 0x4E420003
PORT_CAPPED = 0x4E420004

RECV_BUFSIZE = 1 << 20  # far above the kernel's 32 KiB dump skb size
EVENT_QUIET_SECONDS = 0.4  # how long the event socket must stay silent after a command
REPLY_TIMEOUT_SECONDS = 5.0  # the kernel answers in microseconds; this only avoids a hang

HEADER = struct.Struct("=IHHII")  # struct nlmsghdr
RTMSG = struct.Struct("=BBBBBBBBI")  # struct rtmsg
IFADDRMSG = struct.Struct("=BBBBI")  # struct ifaddrmsg
IFINFOMSG = struct.Struct("=BxHiII")  # struct ifinfomsg
NLA = struct.Struct("=HH")  # struct nlattr / rtattr

FIXED: dict[str, tuple[struct.Struct, tuple[str, ...]]] = {
    "route": (
        RTMSG,
        ("family", "dst_len", "src_len", "tos", "table", "protocol", "scope", "type", "flags"),
    ),
    "addr": (IFADDRMSG, ("family", "prefixlen", "flags", "scope", "index")),
    "link": (IFINFOMSG, ("family", "type", "index", "flags", "change")),
}
KIND_OF_TYPE = {
    RTM_NEWROUTE: "route",
    RTM_DELROUTE: "route",
    RTM_NEWADDR: "addr",
    RTM_DELADDR: "addr",
    RTM_NEWLINK: "link",
    RTM_DELLINK: "link",
    NLMSG_ERROR: "error",
    NLMSG_DONE: "done",
}

# Common state every vector starts from (run in this order inside the namespace).
BASE_SETUP = [
    # No duplicate address detection: addresses are usable at once and flags stay stable.
    "sysctl -qw net.ipv6.conf.all.accept_dad=0",
    "sysctl -qw net.ipv6.conf.default.accept_dad=0",
    "ip link set lo up",
    "ip link add veth0 address 02:00:00:00:00:01 type veth peer name veth1"
    " address 02:00:00:00:00:02",
    "ip link set veth0 up",
    "ip link set veth1 up",
    "ip addr add 10.1.0.2/24 brd + dev veth0",
    "ip addr add 10.1.0.3/24 dev veth0 label veth0:sec",
    "ip addr add 10.2.0.2/24 dev veth1",
    "ip -6 addr add 2001:db8:1::2/64 dev veth0 nodad",
    "ip -6 addr add 2001:db8:1::5/64 dev veth0 nodad valid_lft 3600 preferred_lft 1800",
    "ip -6 addr add 2001:db8:2::2/64 dev veth1 nodad",
    "ip link add br0 type bridge",
    "ip link add veth2 address 02:00:00:00:00:03 type veth peer name veth3"
    " address 02:00:00:00:00:04",
    "ip link set veth2 master br0",
    "ip link set br0 up",
    "ip link set veth2 up",
    "ip link set veth3 up",
]

# (vector name, commands that create the route, expected dst, expected table, description).
# Commands may be empty when the kernel creates the route itself (connected/local routes).
ROUTES: list[tuple[str, list[str], str, int, str]] = [
    (
        "route_v4_gateway_metric_proto",
        ["ip route add 10.10.0.0/24 via 10.1.0.1 dev veth0 metric 20 proto static"],
        "10.10.0.0/24",
        254,
        "IPv4 via gateway, metric 20, proto static(4), main table",
    ),
    (
        "route_v4_table_1000",
        ["ip route add 10.11.0.0/24 via 10.1.0.1 dev veth0 table 1000"],
        "10.11.0.0/24",
        1000,
        "table id > 255: rtm_table=RT_TABLE_COMPAT(252), RTA_TABLE=1000",
    ),
    (
        "route_v4_host_table_100",
        ["ip route add 192.0.2.10/32 via 10.1.0.1 dev veth0 table 100 proto 200 metric 7"],
        "192.0.2.10/32",
        100,
        "/32 VIP-style route, table 100 (<256), private proto 200",
    ),
    (
        "route_v4_default",
        ["ip route add default via 10.1.0.1 dev veth0"],
        "0.0.0.0/0",
        254,
        "default route: dst_len 0 and no RTA_DST at all",
    ),
    (
        "route_v4_onlink",
        ["ip route add 10.12.0.0/24 via 192.0.2.1 dev veth0 onlink"],
        "10.12.0.0/24",
        254,
        "gateway outside any connected subnet, rtm_flags RTNH_F_ONLINK",
    ),
    (
        "route_v4_multipath",
        [
            "ip route add 10.13.0.0/24 nexthop via 10.1.0.1 dev veth0 weight 1"
            " nexthop via 10.2.0.1 dev veth1 weight 3"
        ],
        "10.13.0.0/24",
        254,
        "IPv4 ECMP: RTA_MULTIPATH with two rtnexthop (hops = weight-1)",
    ),
    (
        "route_v4_via_inet6",
        ["ip route add 10.9.0.0/24 via inet6 fe80::1 dev veth0"],
        "10.9.0.0/24",
        254,
        "IPv4 route with IPv6 next hop: RTA_VIA instead of RTA_GATEWAY",
    ),
    (
        "route_v4_blackhole",
        ["ip route add blackhole 10.14.0.0/24"],
        "10.14.0.0/24",
        254,
        "rtm_type RTN_BLACKHOLE(6), no oif",
    ),
    (
        "route_v4_unreachable",
        ["ip route add unreachable 10.15.0.0/24 metric 5"],
        "10.15.0.0/24",
        254,
        "rtm_type RTN_UNREACHABLE(7) with metric",
    ),
    (
        "route_v4_mtu_metrics",
        ["ip route add 10.16.0.0/24 via 10.1.0.1 dev veth0 mtu 1400"],
        "10.16.0.0/24",
        254,
        "RTA_METRICS nested, RTAX_MTU=1400",
    ),
    (
        "route_v4_prefsrc",
        ["ip route add 10.17.0.0/24 via 10.1.0.1 dev veth0 src 10.1.0.2"],
        "10.17.0.0/24",
        254,
        "RTA_PREFSRC",
    ),
    (
        "route_v4_connected",
        [],
        "10.1.0.0/24",
        254,
        "connected route made by `ip addr add`: proto kernel, scope link",
    ),
    (
        "route_v4_local",
        [],
        "10.1.0.2/32",
        255,
        "local table, rtm_type RTN_LOCAL(2), scope host",
    ),
    (
        "route_v6_gateway",
        ["ip -6 route add 2001:db8:10::/48 via 2001:db8:1::1 dev veth0 metric 100 proto static"],
        "2001:db8:10::/48",
        254,
        "IPv6 via global gateway, metric 100, proto static",
    ),
    (
        "route_v6_linklocal_gateway",
        ["ip -6 route add 2001:db8:15::/48 via fe80::2 dev veth0"],
        "2001:db8:15::/48",
        254,
        "IPv6 via link-local gateway, default metric 1024",
    ),
    (
        "route_v6_multipath",
        [
            "ip -6 route add 2001:db8:11::/48 nexthop via 2001:db8:1::1 dev veth0 weight 1"
            " nexthop via 2001:db8:2::1 dev veth1 weight 2"
        ],
        "2001:db8:11::/48",
        254,
        "IPv6 ECMP in one message with RTA_MULTIPATH",
    ),
    (
        "route_v6_pref_high",
        ["ip -6 route add 2001:db8:12::/48 via 2001:db8:1::1 dev veth0 pref high"],
        "2001:db8:12::/48",
        254,
        "RTA_PREF = ICMPV6_ROUTER_PREF_HIGH(1)",
    ),
    (
        "route_v6_expires",
        ["ip -6 route add 2001:db8:13::/48 via 2001:db8:1::1 dev veth0 expires 600"],
        "2001:db8:13::/48",
        254,
        "expiring route: RTA_CACHEINFO.rta_expires (clock_t) non-zero",
    ),
    (
        "route_v6_blackhole",
        ["ip -6 route add blackhole 2001:db8:14::/48"],
        "2001:db8:14::/48",
        254,
        "IPv6 blackhole",
    ),
    (
        "route_v6_connected",
        [],
        "2001:db8:1::/64",
        254,
        "IPv6 connected prefix route, proto kernel, metric 256",
    ),
]

# (vector name, ifname, description)
LINKS = [
    ("link_lo", "lo", "loopback"),
    ("link_veth", "veth0", "veth with IFLA_LINKINFO{IFLA_INFO_KIND='veth'} and IFLA_LINK peer"),
    ("link_bridge", "br0", "bridge with IFLA_LINKINFO kind 'bridge' and IFLA_INFO_DATA"),
    ("link_bridge_port", "veth2", "veth enslaved to br0: IFLA_MASTER and slave kind 'bridge'"),
]

# (vector name, family, address, ifname, description)
ADDRS = [
    ("addr_v4_lo", 2, "127.0.0.1", "lo", "IPv4 on lo, scope host"),
    ("addr_v4_primary", 2, "10.1.0.2", "veth0", "IPv4 with IFA_BROADCAST and IFA_LABEL"),
    ("addr_v4_secondary_label", 2, "10.1.0.3", "veth0", "IPv4 secondary with label veth0:sec"),
    ("addr_v6_lo", 10, "::1", "lo", "IPv6 on lo"),
    ("addr_v6_nodad", 10, "2001:db8:1::2", "veth0", "IPv6 global, permanent, nodad"),
    (
        "addr_v6_lifetimes",
        10,
        "2001:db8:1::5",
        "veth0",
        "IPv6 with finite lifetimes in IFA_CACHEINFO (valid 3600, preferred 1800)",
    ),
    ("addr_v6_linklocal", 10, "fe80::ff:fe00:1", "veth0", "IPv6 link-local (EUI-64), scope link"),
]


# --------------------------------------------------------------------------------------------
# Tiny independent decoder
# --------------------------------------------------------------------------------------------


def align4(n: int) -> int:
    """NLMSG_ALIGN / NLA_ALIGN."""
    return (n + 3) & ~3


def split_messages(datagram: bytes) -> list[bytes]:
    """Split one datagram into whole netlink messages (each includes its header)."""
    out = []
    off = 0
    while off + HEADER.size <= len(datagram):
        length = HEADER.unpack_from(datagram, off)[0]
        if length < HEADER.size or off + length > len(datagram):
            raise ValueError(f"bad nlmsg_len {length} at offset {off}")
        out.append(datagram[off : off + length])
        off += align4(length)
    return out


def header_of(msg: bytes) -> dict[str, int]:
    length, mtype, flags, seq, pid = HEADER.unpack_from(msg, 0)
    return {"len": length, "type": mtype, "flags": flags, "seq": seq, "pid": pid}


def walk_attrs(buf: bytes) -> list[tuple[int, int, bytes]]:
    """TLVs in wire order as (type without flag bits, flag bits, payload)."""
    out = []
    off = 0
    while off + NLA.size <= len(buf):
        length, rtype = NLA.unpack_from(buf, off)
        if length < NLA.size or off + length > len(buf):
            raise ValueError(f"bad rta_len {length} at offset {off}")
        out.append((rtype & 0x3FFF, rtype & 0xC000, buf[off + NLA.size : off + length]))
        off += align4(length)
    return out


def attrs_json(buf: bytes) -> list[list[Any]]:
    """[type, payload hex] per TLV; a third element carries NLA_F_NESTED/BYTEORDER bits if set."""
    out: list[list[Any]] = []
    for rtype, flags, payload in walk_attrs(buf):
        entry: list[Any] = [rtype, payload.hex()]
        if flags:
            entry.append(flags)
        out.append(entry)
    return out


def decode(msg: bytes) -> dict[str, Any]:
    """The `expected` block of a vector: header, kind, fixed part, attributes."""
    hdr = header_of(msg)
    kind = KIND_OF_TYPE.get(hdr["type"], "unknown")
    body = msg[HEADER.size : hdr["len"]]
    out: dict[str, Any] = {"header": hdr, "kind": kind}
    if kind in FIXED:
        st, names = FIXED[kind]
        out["fixed"] = dict(zip(names, st.unpack_from(body, 0), strict=True))
        out["attrs"] = attrs_json(body[align4(st.size) :])
    elif kind == "done":
        out["fixed"] = {"error": struct.unpack_from("=i", body, 0)[0]}
        out["attrs"] = attrs_json(body[4:])  # ext-ack TLVs may follow (NLM_F_ACK_TLVS)
    elif kind == "error":
        # struct nlmsgerr { int error; struct nlmsghdr msg; } then, unless NLM_F_CAPPED, the
        # rest of the request; then (NLM_F_ACK_TLVS) the extended ack attributes.
        err = struct.unpack_from("=i", body, 0)[0]
        inner = header_of(body[4:])
        echoed = HEADER.size if hdr["flags"] & NLM_F_CAPPED else inner["len"]
        out["fixed"] = {"error": err}
        out["request_header"] = inner
        out["request_payload"] = body[4 + HEADER.size : 4 + echoed].hex()
        out["attrs"] = attrs_json(body[4 + align4(echoed) :])
    return out


def ip_text(family: int, raw: bytes) -> str:
    return str(ipaddress.ip_address(raw)) if family in (2, 10) else raw.hex()


def family_of_len(raw: bytes) -> int:
    return 2 if len(raw) == 4 else 10


def route_facts(msg: bytes, kind: str = "route") -> dict[str, Any]:
    """Decode the route fields that `ip route` also shows, for the cross-check."""
    body = msg[HEADER.size :]
    fam, dst_len, _src, _tos, table, proto, scope, rtype, flags = RTMSG.unpack_from(body, 0)
    attrs = {t: p for t, _f, p in walk_attrs(body[RTMSG.size :])}
    facts: dict[str, Any] = {}
    dst = attrs.get(RTA_DST)
    base = ip_text(fam, dst) if dst else ("0.0.0.0" if fam == 2 else "::")
    facts["dst"] = f"{base}/{dst_len}"
    facts["type"], facts["protocol"], facts["scope"] = rtype, proto, scope
    facts["table"] = struct.unpack("=I", attrs[RTA_TABLE])[0] if RTA_TABLE in attrs else table
    if RTA_GATEWAY in attrs:
        facts["gateway"] = ip_text(fam, attrs[RTA_GATEWAY])
    if RTA_OIF in attrs and len(attrs[RTA_OIF]) == 4:  # request vectors may carry a bad one
        facts["oif"] = struct.unpack("=I", attrs[RTA_OIF])[0]
    if RTA_PRIORITY in attrs:
        facts["priority"] = struct.unpack("=I", attrs[RTA_PRIORITY])[0]
    if RTA_PREFSRC in attrs:
        facts["prefsrc"] = ip_text(fam, attrs[RTA_PREFSRC])
    if RTA_PREF in attrs:
        facts["pref"] = attrs[RTA_PREF][0]
    if RTA_VIA in attrs:
        vfam = struct.unpack_from("=H", attrs[RTA_VIA])[0]
        facts["via"] = ip_text(vfam, attrs[RTA_VIA][2:])
    if RTA_METRICS in attrs:
        for t, _f, p in walk_attrs(attrs[RTA_METRICS]):
            if t == RTAX_MTU:
                facts["mtu"] = struct.unpack("=I", p)[0]
    if RTA_CACHEINFO in attrs:
        # struct rta_cacheinfo: clntref, lastuse, expires(s32, clock_t), error, used, id, ts, tsage
        expires = struct.unpack_from("=i", attrs[RTA_CACHEINFO], 8)[0]
        if expires:
            facts["expires"] = expires // USER_HZ
    if RTA_MULTIPATH in attrs:
        hops = []
        buf = attrs[RTA_MULTIPATH]
        off = 0
        while off + 8 <= len(buf):
            # struct rtnexthop { u16 len; u8 flags; u8 hops; s32 ifindex; } + nested attrs
            nh_len, _nh_flags, nh_hops, nh_ifindex = struct.unpack_from("=HBBi", buf, off)
            hop: dict[str, Any] = {"oif": nh_ifindex, "weight": nh_hops + 1}
            for t, _f, p in walk_attrs(buf[off + 8 : off + nh_len]):
                if t == RTA_GATEWAY:
                    hop["gateway"] = ip_text(family_of_len(p), p)
            hops.append(hop)
            off += align4(nh_len)
        facts["nexthops"] = hops
    facts["onlink"] = bool(flags & RTNH_F_ONLINK)
    return facts


def link_facts(msg: bytes) -> dict[str, Any]:
    body = msg[HEADER.size :]
    _fam, _type, index, flags, _change = IFINFOMSG.unpack_from(body, 0)
    attrs = {t: p for t, _f, p in walk_attrs(body[IFINFOMSG.size :])}
    facts: dict[str, Any] = {"ifindex": index, "up": bool(flags & IFF_UP)}
    facts["ifname"] = attrs[IFLA_IFNAME].rstrip(b"\0").decode()
    facts["mtu"] = struct.unpack("=I", attrs[IFLA_MTU])[0]
    facts["txqlen"] = struct.unpack("=I", attrs[IFLA_TXQLEN])[0]
    facts["operstate"] = OPERSTATES[attrs[IFLA_OPERSTATE][0]]
    if IFLA_ADDRESS in attrs:
        facts["address"] = ":".join(f"{b:02x}" for b in attrs[IFLA_ADDRESS])
    if IFLA_MASTER in attrs:
        facts["master"] = struct.unpack("=I", attrs[IFLA_MASTER])[0]
    if IFLA_LINK in attrs:
        facts["link"] = struct.unpack("=i", attrs[IFLA_LINK])[0]
    if IFLA_LINKINFO in attrs:
        for t, _f, p in walk_attrs(attrs[IFLA_LINKINFO]):
            if t == IFLA_INFO_KIND:
                facts["kind"] = p.rstrip(b"\0").decode()
            elif t == IFLA_INFO_SLAVE_KIND:
                facts["slave_kind"] = p.rstrip(b"\0").decode()
    return facts


def addr_facts(msg: bytes) -> dict[str, Any]:
    body = msg[HEADER.size :]
    fam, prefixlen, flags8, scope, index = IFADDRMSG.unpack_from(body, 0)
    attrs = {t: p for t, _f, p in walk_attrs(body[IFADDRMSG.size :])}
    facts: dict[str, Any] = {"family": fam, "prefixlen": prefixlen, "scope": scope}
    facts["index"] = index
    # IPv4 reports the interface address in IFA_LOCAL (IFA_ADDRESS is the peer); IPv6 only
    # sends IFA_ADDRESS unless a peer is configured.
    local = attrs.get(IFA_LOCAL, attrs.get(IFA_ADDRESS))
    if local is not None:
        facts["local"] = ip_text(fam, local)
    if IFA_BROADCAST in attrs:
        facts["broadcast"] = ip_text(fam, attrs[IFA_BROADCAST])
    if IFA_LABEL in attrs:
        facts["label"] = attrs[IFA_LABEL].rstrip(b"\0").decode()
    if IFA_CACHEINFO in attrs:
        preferred, valid, _c, _t = struct.unpack("=IIII", attrs[IFA_CACHEINFO])
        facts["valid_life_time"], facts["preferred_life_time"] = valid, preferred
    flags = struct.unpack("=I", attrs[IFA_FLAGS])[0] if IFA_FLAGS in attrs else flags8
    facts["secondary"] = bool(flags & IFA_F_SECONDARY)
    facts["nodad"] = bool(flags & IFA_F_NODAD)
    facts["permanent"] = bool(flags & IFA_F_PERMANENT)
    return facts


def ext_ack_facts(msg: bytes) -> dict[str, Any]:
    exp = decode(msg)
    facts: dict[str, Any] = {"error": exp["fixed"]["error"]}
    code = -exp["fixed"]["error"]
    facts["errno_name"] = errno.errorcode.get(code, "OK") if code else "OK"
    for t, p, *_ in exp["attrs"]:
        raw = bytes.fromhex(p)
        if t == NLMSGERR_ATTR_MSG:
            facts["ext_ack_msg"] = raw.rstrip(b"\0").decode()
        elif t == NLMSGERR_ATTR_OFFS:
            facts["ext_ack_offs"] = struct.unpack("=I", raw)[0]
    return facts


# --------------------------------------------------------------------------------------------
# `ip -j -d -N` side of the cross-check
# --------------------------------------------------------------------------------------------


def run(cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(shlex.split(cmd), capture_output=True, text=True, check=check)


def ip_json(cmd: str) -> Any:
    return json.loads(run(cmd).stdout or "[]")


def ifindexes() -> dict[str, int]:
    return {link["ifname"]: link["ifindex"] for link in ip_json("ip -j link show")}


def ip_route_summary(obj: dict[str, Any], idx: dict[str, int], fam: int) -> dict[str, Any]:
    """Normalise one `ip -j -d -N route show` object to the keys route_facts() uses."""
    dst = obj["dst"]
    if dst == "default":
        dst = "0.0.0.0/0" if fam == 2 else "::/0"
    elif "/" not in dst:
        dst += "/32" if fam == 2 else "/128"
    s: dict[str, Any] = {"dst": dst}
    for key in ("type", "protocol", "scope", "table"):
        s[key] = int(obj[key])
    if "gateway" in obj:
        s["gateway"] = obj["gateway"]
    if "dev" in obj:
        s["oif"] = idx[obj["dev"]]
    if "metric" in obj:
        s["priority"] = obj["metric"]
    if "prefsrc" in obj:
        s["prefsrc"] = obj["prefsrc"]
    if "pref" in obj:
        s["pref"] = {"medium": 0, "high": 1, "low": 3}[obj["pref"]]
    if "via" in obj:
        s["via"] = obj["via"]["host"]
    for metric in obj.get("metrics", []):
        if "mtu" in metric:
            s["mtu"] = metric["mtu"]
    if "expires" in obj:
        s["expires"] = obj["expires"]
    if "nexthops" in obj:
        s["nexthops"] = [
            {"oif": idx[nh["dev"]], "weight": nh.get("weight", 1), "gateway": nh["gateway"]}
            for nh in obj["nexthops"]
        ]
    s["onlink"] = "onlink" in obj.get("flags", [])
    return s


def ip_route(fam: int, dst: str, table: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(raw ip object, normalised summary) for one route."""
    idx = ifindexes()
    for obj in ip_json(f"ip -j -d -N -{4 if fam == 2 else 6} route show table all"):
        summary = ip_route_summary(obj, idx, fam)
        if summary["dst"] == dst and summary["table"] == table:
            return obj, summary
    raise LookupError(f"ip does not show {dst} table {table}")


def ip_link(ifname: str) -> tuple[dict[str, Any], dict[str, Any]]:
    idx = ifindexes()
    obj = ip_json(f"ip -j -d link show dev {ifname}")[0]
    s: dict[str, Any] = {"ifindex": obj["ifindex"], "ifname": obj["ifname"], "mtu": obj["mtu"]}
    s["up"] = "UP" in obj["flags"]
    s["txqlen"] = obj["txqlen"]
    s["operstate"] = obj["operstate"]
    s["address"] = obj["address"]
    if "master" in obj:
        s["master"] = idx[obj["master"]]
    if "link" in obj:
        s["link"] = idx[obj["link"]]
    info = obj.get("linkinfo", {})
    if "info_kind" in info:
        s["kind"] = info["info_kind"]
    if "info_slave_kind" in info:
        s["slave_kind"] = info["info_slave_kind"]
    return obj, s


SCOPES = {"global": 0, "site": 200, "link": 253, "host": 254, "nowhere": 255}


def ip_addr(fam: int, local: str) -> tuple[dict[str, Any], dict[str, Any]]:
    for link in ip_json("ip -j -d addr show"):
        for info in link.get("addr_info", []):
            if info["local"] != local:
                continue
            s: dict[str, Any] = {
                "family": fam,
                "prefixlen": info["prefixlen"],
                "scope": SCOPES[info["scope"]],
                "index": link["ifindex"],
                "local": info["local"],
            }
            for key in ("broadcast", "label", "valid_life_time", "preferred_life_time"):
                if key in info:
                    s[key] = info[key]
            s["secondary"] = bool(info.get("secondary"))
            s["nodad"] = bool(info.get("nodad"))
            s["permanent"] = not info.get("dynamic", False)
            return info, s
    raise LookupError(f"ip does not show address {local}")


# Fields whose values legitimately drift between our capture and the `ip` run (seconds).
DRIFTING = {"expires", "valid_life_time", "preferred_life_time"}


def crosscheck(decoded: dict[str, Any], summary: dict[str, Any], raw: Any) -> dict[str, Any]:
    """Compare every field the summary has with the decoder's view of the same message."""
    agree, disagree = [], {}
    for key, want in summary.items():
        got = decoded.get(key)
        same = got == want
        if not same and key in DRIFTING and isinstance(got, int) and isinstance(want, int):
            same = abs(got - want) <= 3
        if same:
            agree.append(key)
        else:
            disagree[key] = {"decoded": got, "summary": want}
    extra = sorted(set(decoded) - set(summary))
    return {"source": raw, "agree": agree, "disagree": disagree, "decoded_only": extra}


# --------------------------------------------------------------------------------------------
# Netlink sockets
# --------------------------------------------------------------------------------------------


def open_socket(
    port: int, groups: Iterable[int] = (), ext_ack: bool = True, cap_ack: bool = False
) -> socket.socket:
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECV_BUFSIZE)
    sock.setsockopt(SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1)
    if ext_ack:
        sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
    if cap_ack:
        sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
    sock.bind((port, 0))
    for group in groups:
        sock.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, group)
    return sock


def nlmsg(mtype: int, flags: int, seq: int, payload: bytes) -> bytes:
    """A request: nlmsghdr (pid 0 = to the kernel) + payload."""
    return HEADER.pack(HEADER.size + len(payload), mtype, flags, seq, 0) + payload


def rtattr(rtype: int, payload: bytes) -> bytes:
    raw = NLA.pack(NLA.size + len(payload), rtype) + payload
    return raw + b"\0" * (align4(len(raw)) - len(raw))


def dump(sock: socket.socket, mtype: int, seq: int, payload: bytes) -> list[bytes]:
    """Send a dump request; return every reply message, the final NLMSG_DONE included."""
    sock.send(nlmsg(mtype, NLM_F_REQUEST | NLM_F_DUMP, seq, payload))
    out: list[bytes] = []
    while True:
        for msg in split_messages(sock.recv(RECV_BUFSIZE)):
            out.append(msg)
            mt = header_of(msg)["type"]
            if mt == NLMSG_ERROR:
                raise OSError(-struct.unpack_from("=i", msg, 16)[0], "dump failed")
            if mt == NLMSG_DONE:
                return out


def request(sock: socket.socket, msg: bytes) -> bytes:
    """Send one request and return the reply that ends it.

    That is NLMSG_ERROR (ACK or error) for a normal request. A dump request that fails its
    strict check does not get an NLMSG_ERROR: the check runs inside the dump callback, so the
    errno arrives in the NLMSG_DONE (with the extended ack TLVs appended).
    """
    seq = header_of(msg)["seq"]
    sock.send(msg)
    while select.select([sock], [], [], REPLY_TIMEOUT_SECONDS)[0]:
        for reply in split_messages(sock.recv(RECV_BUFSIZE)):
            hdr = header_of(reply)
            if hdr["type"] in (NLMSG_ERROR, NLMSG_DONE) and hdr["seq"] == seq:
                return reply
    raise TimeoutError(f"no reply to seq {seq}")


def drain(sock: socket.socket, quiet: float = EVENT_QUIET_SECONDS) -> list[bytes]:
    """Everything the event socket receives until it has been quiet for `quiet` seconds."""
    out: list[bytes] = []
    while select.select([sock], [], [], quiet)[0]:
        out.extend(split_messages(sock.recv(RECV_BUFSIZE)))
    return out


# --------------------------------------------------------------------------------------------
# Vector files
# --------------------------------------------------------------------------------------------


class Writer:
    """Collects vectors and writes one JSON file per message."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.written: list[tuple[str, str]] = []
        today = datetime.datetime.now(datetime.UTC).date().isoformat()
        self.provenance_base = {
            "kernel": platform.release(),
            "iproute2": run("ip -V").stdout.strip(),
            "captured": today,
        }

    def write(
        self,
        name: str,
        msg: bytes,
        how: str,
        setup: list[str],
        description: str,
        summary: dict[str, Any] | None = None,
        check: dict[str, Any] | None = None,
    ) -> None:
        expected = decode(msg)
        expected["summary"] = summary or {}
        doc: dict[str, Any] = {
            "description": description,
            "provenance": {**self.provenance_base, "setup": setup, "how": how},
            "hex": msg.hex(),
            "expected": expected,
        }
        if check is not None:
            doc["crosscheck"] = check
        path = self.out / f"{name}.json"
        path.write_text(json.dumps(doc, indent=2) + "\n")
        self.written.append((name, description))
        bad = check["disagree"] if check else {}
        note = f"  DISAGREE {bad}" if bad else ""
        print(f"wrote {path.name} ({len(msg)} bytes){note}")


def rtmsg_payload(fam: int, **kw: int) -> bytes:
    """rtmsg with all fields zero except those given."""
    fields = dict.fromkeys(FIXED["route"][1], 0) | {"family": fam} | kw
    return RTMSG.pack(*(fields[n] for n in FIXED["route"][1]))


def is_route(mtype: int, dst: str, table: int | None = None) -> Callable[[bytes], bool]:
    """Predicate: a route message of this type for this prefix (and table, if given)."""

    def pred(msg: bytes) -> bool:
        if header_of(msg)["type"] != mtype:
            return False
        facts = route_facts(msg)
        return bool(facts["dst"] == dst and (table is None or facts["table"] == table))

    return pred


def is_addr(mtype: int, local: str) -> Callable[[bytes], bool]:
    """Predicate: an address message of this type for this address."""

    def pred(msg: bytes) -> bool:
        return header_of(msg)["type"] == mtype and addr_facts(msg).get("local") == local

    return pred


def is_link(mtype: int, ifname: str) -> Callable[[bytes], bool]:
    """Predicate: a link message of this type for this interface name."""

    def pred(msg: bytes) -> bool:
        return header_of(msg)["type"] == mtype and link_facts(msg)["ifname"] == ifname

    return pred


def find(msgs: list[bytes], pred: Callable[[bytes], bool]) -> bytes:
    for msg in msgs:
        if pred(msg):
            return msg
    raise LookupError("no message matched")


# --------------------------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------------------------


def capture_dumps(w: Writer) -> None:
    sock = open_socket(PORT_DUMP)
    seq = 1
    for fam, how in ((2, "AF_INET"), (10, "AF_INET6")):
        msgs = dump(sock, RTM_GETROUTE, seq, rtmsg_payload(fam))
        how_text = f"RTM_GETROUTE dump, {how}, all tables, strict check on, seq {seq}"
        for name, cmds, dst, table, desc in ROUTES:
            if ("/" in dst and ":" in dst) != (fam == 10):
                continue
            msg = find(
                msgs,
                is_route(RTM_NEWROUTE, dst, table),
            )
            raw, summary = ip_route(fam, dst, table)
            check = crosscheck(route_facts(msg), summary, raw)
            w.write(name, msg, how_text, BASE_SETUP + cmds, desc, summary, check)
        w.write(
            f"done_route_{'v4' if fam == 2 else 'v6'}",
            msgs[-1],
            how_text,
            BASE_SETUP,
            "NLMSG_DONE ending the route dump: 4-byte int 0 (dump_done_errno)",
        )
        seq += 1

    # Links: AF_UNSPEC ifinfomsg, all zero (strict check rejects anything else).
    msgs = dump(sock, RTM_GETLINK, seq, IFINFOMSG.pack(0, 0, 0, 0, 0))
    how_text = f"RTM_GETLINK dump, AF_UNSPEC, no IFLA_EXT_MASK, strict check on, seq {seq}"
    for name, ifname, desc in LINKS:
        msg = find(
            msgs,
            is_link(RTM_NEWLINK, ifname),
        )
        raw, summary = ip_link(ifname)
        w.write(
            name,
            msg,
            how_text,
            BASE_SETUP,
            desc,
            summary,
            crosscheck(link_facts(msg), summary, raw),
        )
    w.write("done_link", msgs[-1], how_text, BASE_SETUP, "NLMSG_DONE ending the link dump")
    seq += 1

    for fam, how in ((2, "AF_INET"), (10, "AF_INET6")):
        msgs = dump(sock, RTM_GETADDR, seq, IFADDRMSG.pack(fam, 0, 0, 0, 0))
        how_text = f"RTM_GETADDR dump, {how}, strict check on, seq {seq}"
        for name, afam, local, _ifname, desc in ADDRS:
            if afam != fam:
                continue
            msg = find(
                msgs,
                is_addr(RTM_NEWADDR, local),
            )
            raw, summary = ip_addr(fam, local)
            w.write(
                name,
                msg,
                how_text,
                BASE_SETUP,
                desc,
                summary,
                crosscheck(addr_facts(msg), summary, raw),
            )
        if fam == 2:
            w.write(
                "done_addr",
                msgs[-1],
                how_text,
                BASE_SETUP,
                "NLMSG_DONE ending the IPv4 address dump",
            )
        seq += 1
    sock.close()


def capture_events(w: Writer, log: list[dict[str, Any]]) -> None:
    groups = (
        RTNLGRP_LINK,
        RTNLGRP_IPV4_IFADDR,
        RTNLGRP_IPV4_ROUTE,
        RTNLGRP_IPV6_IFADDR,
        RTNLGRP_IPV6_ROUTE,
    )
    # veth4/veth5 exist (down) before we subscribe, so `ip link set up` is the only change.
    pre = [
        "ip link add veth4 address 02:00:00:00:00:05 type veth peer name veth5"
        " address 02:00:00:00:00:06"
    ]
    for cmd in pre:
        run(cmd)
    sock = open_socket(PORT_EVENTS, groups)
    how = (
        "multicast on RTNLGRP_LINK, IPV4_IFADDR, IPV4_ROUTE, IPV6_IFADDR, IPV6_ROUTE "
        "(NETLINK_ADD_MEMBERSHIP), message caused by the last setup command"
    )
    setup_so_far = BASE_SETUP + pre

    def step(cmd: str) -> list[bytes]:
        run(cmd)
        msgs = drain(sock)
        for m in msgs:
            log.append({"command": cmd, "header": header_of(m), "hex": m.hex()})
        setup_so_far.append(cmd)
        return msgs

    # IPv4 route add / del.
    v4 = "ip route add 10.20.0.0/24 via 10.1.0.1 dev veth0 proto 200 metric 50"
    msg = find(step(v4), is_route(RTM_NEWROUTE, "10.20.0.0/24"))
    raw, summary = ip_route(2, "10.20.0.0/24", 254)
    w.write(
        "event_route_v4_new",
        msg,
        how,
        list(setup_so_far),
        "RTM_NEWROUTE notification for an added IPv4 route",
        summary,
        crosscheck(route_facts(msg), summary, raw),
    )
    msg = find(step(v4.replace(" add ", " del ")), is_route(RTM_DELROUTE, "10.20.0.0/24"))
    w.write(
        "event_route_v4_del",
        msg,
        how,
        list(setup_so_far),
        "RTM_DELROUTE notification (summary: the route as ip showed it before the delete)",
        summary,
        crosscheck(route_facts(msg), summary, raw),
    )

    # IPv6 route add / del.
    v6 = "ip -6 route add 2001:db8:20::/48 via 2001:db8:1::1 dev veth0 proto 200"
    msg = find(step(v6), is_route(RTM_NEWROUTE, "2001:db8:20::/48"))
    raw, summary = ip_route(10, "2001:db8:20::/48", 254)
    w.write(
        "event_route_v6_new",
        msg,
        how,
        list(setup_so_far),
        "RTM_NEWROUTE notification for an added IPv6 route",
        summary,
        crosscheck(route_facts(msg), summary, raw),
    )
    msg = find(step(v6.replace(" add ", " del ")), is_route(RTM_DELROUTE, "2001:db8:20::/48"))
    w.write(
        "event_route_v6_del",
        msg,
        how,
        list(setup_so_far),
        "RTM_DELROUTE notification for an IPv6 route",
        summary,
        crosscheck(route_facts(msg), summary, raw),
    )

    # Addresses.
    msg = find(step("ip addr add 10.1.0.9/24 dev veth0"), is_addr(RTM_NEWADDR, "10.1.0.9"))
    raw, summary = ip_addr(2, "10.1.0.9")
    w.write(
        "event_addr_v4_new",
        msg,
        how,
        list(setup_so_far),
        "RTM_NEWADDR notification, IPv4 secondary address",
        summary,
        crosscheck(addr_facts(msg), summary, raw),
    )
    msg = find(step("ip addr del 10.1.0.9/24 dev veth0"), is_addr(RTM_DELADDR, "10.1.0.9"))
    w.write(
        "event_addr_v4_del",
        msg,
        how,
        list(setup_so_far),
        "RTM_DELADDR notification (summary: as ip showed it before the delete)",
        summary,
        crosscheck(addr_facts(msg), summary, raw),
    )
    cmd = "ip -6 addr add 2001:db8:1::9/64 dev veth0 nodad valid_lft 3600 preferred_lft 1800"
    msg = find(step(cmd), is_addr(RTM_NEWADDR, "2001:db8:1::9"))
    raw, summary = ip_addr(10, "2001:db8:1::9")
    w.write(
        "event_addr_v6_new",
        msg,
        how,
        list(setup_so_far),
        "RTM_NEWADDR notification, IPv6 with finite lifetimes",
        summary,
        crosscheck(addr_facts(msg), summary, raw),
    )

    # Link up: the first RTM_NEWLINK for veth4 (its peer is still down: no carrier).
    msg = find(
        step("ip link set veth4 up"),
        is_link(RTM_NEWLINK, "veth4"),
    )
    raw, summary = ip_link("veth4")
    w.write(
        "event_link_up",
        msg,
        how,
        list(setup_so_far),
        "RTM_NEWLINK notification after `ip link set veth4 up` (peer down)",
        summary,
        crosscheck(link_facts(msg), summary, raw),
    )
    sock.close()


def capture_errors(w: Writer) -> None:
    sock = open_socket(PORT_ERRORS)
    idx = ifindexes()
    veth0 = idx["veth0"]
    how_req = "request bytes this script sent on a NETLINK_ROUTE socket (ext ack + strict on)"
    how_err = "reply to the request vector named in `description` (ext ack + strict on)"

    def route_req(
        mtype: int, flags: int, seq: int, fam: int, dst: str, gateway: str | None, **kw: int
    ) -> tuple[bytes, dict[str, Any]]:
        net = ipaddress.ip_network(dst)
        fixed = {"dst_len": net.prefixlen, "table": 254, "protocol": 200, "scope": 0, "type": 1}
        fixed |= {k: v for k, v in kw.items() if k in fixed}
        attrs = rtattr(RTA_TABLE, struct.pack("=I", 254))
        attrs += rtattr(RTA_DST, net.network_address.packed)
        summary: dict[str, Any] = {"dst": str(net), "table": 254, "protocol": 200}
        summary |= {"type": 1, "scope": 0}
        if gateway:
            attrs += rtattr(RTA_GATEWAY, ipaddress.ip_address(gateway).packed)
            summary["gateway"] = gateway
        if "oif" in kw:
            attrs += rtattr(RTA_OIF, struct.pack("=I", kw["oif"]))
            summary["oif"] = kw["oif"]
        if "priority" in kw:
            attrs += rtattr(RTA_PRIORITY, struct.pack("=I", kw["priority"]))
            summary["priority"] = kw["priority"]
        summary["onlink"] = False
        payload = rtmsg_payload(fam, **fixed) + attrs
        return nlmsg(mtype, flags, seq, payload), summary

    def record(
        name: str,
        req: bytes,
        summary: dict[str, Any],
        desc: str,
        ip_cmd: str | None,
        reply_name: str,
        reply_desc: str,
        sock_: socket.socket = sock,
        save_request: bool = True,
    ) -> None:
        reply = request(sock_, req)
        if save_request:
            w.write(
                name,
                req,
                how_req,
                BASE_SETUP,
                desc,
                summary,
                crosscheck(route_facts(req), summary, "request built by capture.py"),
            )
        rsummary = ext_ack_facts(reply)
        check = None
        if ip_cmd:
            proc = run(ip_cmd, check=False)
            rsummary["ip_command"] = ip_cmd
            rsummary["ip_exit"] = proc.returncode
            rsummary["ip_stderr"] = proc.stderr.strip()
            if rsummary.get("ext_ack_msg"):
                # iproute2 prints "Error: <msg>." for extended-ack messages.
                want = f"Error: {rsummary['ext_ack_msg']}."
                check = {
                    "source": proc.stderr.strip(),
                    "agree": ["ext_ack_msg"] if want in proc.stderr else [],
                    "disagree": {} if want in proc.stderr else {"ext_ack_msg": proc.stderr},
                }
        w.write(
            reply_name,
            reply,
            how_err,
            BASE_SETUP,
            f"{reply_desc} (request: {name})",
            rsummary,
            check,
        )

    new = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
    # (a) ACK for a successful RTM_NEWROUTE.
    req, summary = route_req(
        RTM_NEWROUTE, new, 100, 2, "10.30.0.0/24", "10.1.0.1", oif=veth0, priority=10
    )
    record(
        "request_route_v4_new",
        req,
        summary,
        "RTM_NEWROUTE request: NLM_F_REQUEST|ACK|CREATE|EXCL, table/dst/gateway/oif/priority",
        None,
        "error_ack",
        "NLMSG_ERROR with error 0 (ACK), NLM_F_CAPPED",
    )
    # (c) EEXIST: the same request again (new seq), plus what ip says for the same route.
    req, summary = route_req(
        RTM_NEWROUTE, new, 101, 2, "10.30.0.0/24", "10.1.0.1", oif=veth0, priority=10
    )
    record(
        "request_route_v4_new_again",
        req,
        summary,
        "",
        "ip route add 10.30.0.0/24 via 10.1.0.1 dev veth0 proto 200 metric 10",
        "error_eexist",
        "EEXIST on adding the same route twice (request echoed)",
        save_request=False,
    )
    # (d) ESRCH on deleting a route that is not there.
    req, summary = route_req(RTM_DELROUTE, NLM_F_REQUEST | NLM_F_ACK, 102, 2, "10.31.0.0/24", None)
    record(
        "request_route_v4_del",
        req,
        summary,
        "RTM_DELROUTE request: table, dst, protocol 200 (ownership by protocol)",
        "ip route del 10.31.0.0/24 proto 200",
        "error_esrch",
        "ESRCH on deleting a missing route",
    )
    # (b1) extended ack message: gateway not reachable.
    req, summary = route_req(RTM_NEWROUTE, new, 103, 2, "10.32.0.0/24", "10.99.0.1", oif=veth0)
    record(
        "request_route_v4_bad_gateway",
        req,
        summary,
        "RTM_NEWROUTE request via 10.99.0.1 which is not on veth0's subnet",
        "ip route add 10.32.0.0/24 via 10.99.0.1 dev veth0",
        "error_extack_msg",
        "ENETUNREACH with NLMSGERR_ATTR_MSG, NLM_F_ACK_TLVS",
    )
    # (b2) extended ack offset: RTA_OIF with a 2-byte payload fails policy validation.
    good, summary = route_req(RTM_NEWROUTE, new, 104, 2, "10.33.0.0/24", "10.1.0.1")
    req = good + rtattr(RTA_OIF, b"\x03\x00")
    req = HEADER.pack(len(req), *HEADER.unpack_from(req)[1:]) + req[HEADER.size :]
    record(
        "request_route_v4_bad_attr_len",
        req,
        summary,
        "RTM_NEWROUTE request whose last attribute RTA_OIF has a 2-byte payload",
        None,
        "error_extack_offs",
        "policy failure: NLMSGERR_ATTR_MSG + NLMSGERR_ATTR_OFFS (+ NLMSGERR_ATTR_POLICY)",
    )
    # (b3) the same bad gateway on a NETLINK_CAP_ACK socket: capped error that keeps TLVs.
    capped = open_socket(PORT_CAPPED, cap_ack=True)
    req, summary = route_req(RTM_NEWROUTE, new, 105, 2, "10.32.0.0/24", "10.99.0.1", oif=veth0)
    record(
        "request_route_v4_bad_gateway",
        req,
        summary,
        "",
        None,
        "error_extack_capped",
        "same bad gateway on a NETLINK_CAP_ACK socket: NLM_F_CAPPED|NLM_F_ACK_TLVS",
        sock_=capped,
        save_request=False,
    )
    capped.close()
    # (b4) strict checking of a dump request: non-zero rtm_dst_len in RTM_GETROUTE.
    req = nlmsg(RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, 106, rtmsg_payload(2, dst_len=24))
    reply = request(sock, req)
    w.write(
        "request_getroute_dump_bad",
        req,
        how_req,
        BASE_SETUP,
        "RTM_GETROUTE dump request, AF_INET, rtm_dst_len=24 (rejected by strict check)",
    )
    w.write(
        "done_strict_dump_error",
        reply,
        how_err,
        BASE_SETUP,
        "strict-check failure of a dump arrives as NLMSG_DONE with error -EINVAL and an "
        "ext-ack message, not as NLMSG_ERROR (request: request_getroute_dump_bad)",
        ext_ack_facts(reply),
    )
    # IPv6 request with ACK, then EEXIST for it.
    req, summary = route_req(
        RTM_NEWROUTE, new, 107, 10, "2001:db8:30::/48", "2001:db8:1::1", oif=veth0, priority=300
    )
    record(
        "request_route_v6_new",
        req,
        summary,
        "RTM_NEWROUTE request, IPv6",
        None,
        "error_ack_v6",
        "ACK for the IPv6 RTM_NEWROUTE request",
    )
    req, summary = route_req(
        RTM_NEWROUTE, new, 108, 10, "2001:db8:30::/48", "2001:db8:1::1", oif=veth0, priority=300
    )
    record(
        "request_route_v6_new",
        req,
        summary,
        "",
        "ip -6 route add 2001:db8:30::/48 via 2001:db8:1::1 dev veth0 proto 200 metric 300",
        "error_eexist_v6",
        "EEXIST for the IPv6 route added twice",
        save_request=False,
    )
    sock.close()


# --------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------


def inner(out: Path) -> None:
    """Runs inside the namespace."""
    ns = os.environ["NLBGP_CAPTURE_NS"]
    here = run(f"ip netns identify {os.getpid()}").stdout.strip()
    if here != ns:  # refuse to touch a namespace we did not create
        sys.exit(f"not inside namespace {ns!r} (found {here!r}); refusing to run")
    for cmd in BASE_SETUP:
        run(cmd)
    for _name, cmds, *_ in ROUTES:
        for cmd in cmds:
            run(cmd)
    out.mkdir(parents=True, exist_ok=True)
    w = Writer(out)
    capture_dumps(w)
    log: list[dict[str, Any]] = []
    capture_events(w, log)
    (out / "events_log.json").write_text(json.dumps(log, indent=2) + "\n")
    capture_errors(w)
    print(f"{len(w.written)} vectors written to {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args()
    if "NLBGP_CAPTURE_NS" in os.environ:
        inner(args.out)
        return
    if os.geteuid() != 0:
        sys.exit("run as root: the script creates a network namespace")
    ns = f"nlbgp-capture-{os.getpid()}"
    # Turn SIGTERM (e.g. from `timeout`) into SystemExit so the `finally` below still runs.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    run(f"ip netns add {ns}")
    try:
        env = dict(os.environ, NLBGP_CAPTURE_NS=ns)
        cmd = ["ip", "netns", "exec", ns, sys.executable, str(Path(__file__).resolve())]
        subprocess.run([*cmd, "--out", str(args.out.resolve())], env=env, check=True)
    finally:
        run(f"ip netns del {ns}", check=False)


if __name__ == "__main__":
    main()
