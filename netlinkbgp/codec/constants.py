"""rtnetlink wire numbers, named as in the kernel headers.

Sources: ``include/uapi/linux/netlink.h`` (NLMSG_*, NLM_F_*, NETLINK_* socket options,
NLMSGERR_ATTR_*), ``include/uapi/linux/rtnetlink.h`` (RTM_*, RTA_*, RTN_*, RTPROT_*, RT_SCOPE_*,
RT_TABLE_*, RTNLGRP_*), ``include/uapi/linux/if_link.h`` (IFLA_*), ``include/uapi/linux/if_addr.h``
(IFA_*). Values are ABI: they never change once released.
"""

from __future__ import annotations

import enum

#: Address families (``linux/socket.h``), so the codec needs no socket module.
AF_UNSPEC = 0
AF_INET = 2
AF_INET6 = 10

#: Netlink protocol number of rtnetlink (``netlink.h``).
NETLINK_ROUTE = 0
#: ``SOL_NETLINK`` socket option level (``linux/socket.h``).
SOL_NETLINK = 270

#: Attribute type flags carried in the top bits of ``nla_type`` (``netlink.h``).
NLA_F_NESTED = 0x8000
NLA_F_NET_BYTEORDER = 0x4000
NLA_TYPE_MASK = ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER) & 0xFFFF


class NetlinkSockOpt(enum.IntEnum):
    """``SOL_NETLINK`` socket options (``netlink.h``)."""

    NETLINK_ADD_MEMBERSHIP = 1  #: netlink.h
    NETLINK_DROP_MEMBERSHIP = 2  #: netlink.h
    NETLINK_NO_ENOBUFS = 5  #: netlink.h
    NETLINK_CAP_ACK = 10  #: netlink.h, since 4.3: errors echo only the request header
    NETLINK_EXT_ACK = 11  #: netlink.h, since 4.12: error text and offset in NLMSG_ERROR
    NETLINK_GET_STRICT_CHK = 12  #: netlink.h, since 4.20: dumps honour header filters


class NlmsgType(enum.IntEnum):
    """Control message types (``netlink.h``)."""

    NLMSG_NOOP = 1  #: netlink.h
    NLMSG_ERROR = 2  #: netlink.h; error 0 is an ACK
    NLMSG_DONE = 3  #: netlink.h; ends a multipart dump
    NLMSG_OVERRUN = 4  #: netlink.h


class NlmFlag(enum.IntFlag):
    """``nlmsg_flags`` bits (``netlink.h``). GET, NEW and ACK-reply bits share values."""

    NLM_F_REQUEST = 0x01  #: netlink.h
    NLM_F_MULTI = 0x02  #: netlink.h
    NLM_F_ACK = 0x04  #: netlink.h
    NLM_F_ECHO = 0x08  #: netlink.h
    NLM_F_DUMP_INTR = 0x10  #: netlink.h: the dump was inconsistent; redo it
    NLM_F_DUMP_FILTERED = 0x20  #: netlink.h
    # GET requests
    NLM_F_ROOT = 0x100  #: netlink.h
    NLM_F_MATCH = 0x200  #: netlink.h
    NLM_F_ATOMIC = 0x400  #: netlink.h
    NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH  #: netlink.h
    # NEW requests
    NLM_F_REPLACE = 0x100  #: netlink.h
    NLM_F_EXCL = 0x200  #: netlink.h
    NLM_F_CREATE = 0x400  #: netlink.h
    NLM_F_APPEND = 0x800  #: netlink.h
    # ACK replies
    NLM_F_CAPPED = 0x100  #: netlink.h: the echoed request was cut to its header
    NLM_F_ACK_TLVS = 0x200  #: netlink.h: extended-ack attributes follow


class NlmsgerrAttr(enum.IntEnum):
    """Extended-ack attributes after ``struct nlmsgerr`` (``netlink.h``)."""

    NLMSGERR_ATTR_UNUSED = 0  #: netlink.h
    NLMSGERR_ATTR_MSG = 1  #: netlink.h: NUL-terminated text
    NLMSGERR_ATTR_OFFS = 2  #: netlink.h: u32 offset of the offending attribute in the request
    NLMSGERR_ATTR_COOKIE = 3  #: netlink.h
    NLMSGERR_ATTR_POLICY = 4  #: netlink.h
    NLMSGERR_ATTR_MISS_TYPE = 5  #: netlink.h
    NLMSGERR_ATTR_MISS_NEST = 6  #: netlink.h


class RtmType(enum.IntEnum):
    """rtnetlink message types (``rtnetlink.h``)."""

    RTM_NEWLINK = 16  #: rtnetlink.h
    RTM_DELLINK = 17  #: rtnetlink.h
    RTM_GETLINK = 18  #: rtnetlink.h
    RTM_SETLINK = 19  #: rtnetlink.h
    RTM_NEWADDR = 20  #: rtnetlink.h
    RTM_DELADDR = 21  #: rtnetlink.h
    RTM_GETADDR = 22  #: rtnetlink.h
    RTM_NEWROUTE = 24  #: rtnetlink.h
    RTM_DELROUTE = 25  #: rtnetlink.h
    RTM_GETROUTE = 26  #: rtnetlink.h


class Rta(enum.IntEnum):
    """Route attributes (``enum rtattr_type_t``, ``rtnetlink.h``)."""

    RTA_UNSPEC = 0  #: rtnetlink.h
    RTA_DST = 1  #: rtnetlink.h
    RTA_SRC = 2  #: rtnetlink.h
    RTA_IIF = 3  #: rtnetlink.h
    RTA_OIF = 4  #: rtnetlink.h
    RTA_GATEWAY = 5  #: rtnetlink.h
    RTA_PRIORITY = 6  #: rtnetlink.h: the metric
    RTA_PREFSRC = 7  #: rtnetlink.h
    RTA_METRICS = 8  #: rtnetlink.h: nested RTAX_*
    RTA_MULTIPATH = 9  #: rtnetlink.h: array of struct rtnexthop
    RTA_PROTOINFO = 10  #: rtnetlink.h: no longer used
    RTA_FLOW = 11  #: rtnetlink.h
    RTA_CACHEINFO = 12  #: rtnetlink.h: struct rta_cacheinfo
    RTA_SESSION = 13  #: rtnetlink.h: no longer used
    RTA_MP_ALGO = 14  #: rtnetlink.h: no longer used
    RTA_TABLE = 15  #: rtnetlink.h: full 32-bit table id
    RTA_MARK = 16  #: rtnetlink.h
    RTA_MFC_STATS = 17  #: rtnetlink.h
    RTA_VIA = 18  #: rtnetlink.h: struct rtvia (gateway of another family)
    RTA_NEWDST = 19  #: rtnetlink.h
    RTA_PREF = 20  #: rtnetlink.h: IPv6 router preference
    RTA_ENCAP_TYPE = 21  #: rtnetlink.h
    RTA_ENCAP = 22  #: rtnetlink.h
    RTA_EXPIRES = 23  #: rtnetlink.h
    RTA_PAD = 24  #: rtnetlink.h
    RTA_UID = 25  #: rtnetlink.h
    RTA_TTL_PROPAGATE = 26  #: rtnetlink.h
    RTA_IP_PROTO = 27  #: rtnetlink.h
    RTA_SPORT = 28  #: rtnetlink.h
    RTA_DPORT = 29  #: rtnetlink.h
    RTA_NH_ID = 30  #: rtnetlink.h
    RTA_FLOWLABEL = 31  #: rtnetlink.h


class Rtax(enum.IntEnum):
    """Route metrics nested in RTA_METRICS (``rtnetlink.h``)."""

    RTAX_LOCK = 1  #: rtnetlink.h
    RTAX_MTU = 2  #: rtnetlink.h
    RTAX_WINDOW = 3  #: rtnetlink.h
    RTAX_RTT = 4  #: rtnetlink.h
    RTAX_RTTVAR = 5  #: rtnetlink.h
    RTAX_SSTHRESH = 6  #: rtnetlink.h
    RTAX_CWND = 7  #: rtnetlink.h
    RTAX_ADVMSS = 8  #: rtnetlink.h
    RTAX_REORDERING = 9  #: rtnetlink.h
    RTAX_HOPLIMIT = 10  #: rtnetlink.h
    RTAX_INITCWND = 11  #: rtnetlink.h
    RTAX_FEATURES = 12  #: rtnetlink.h
    RTAX_RTO_MIN = 13  #: rtnetlink.h
    RTAX_INITRWND = 14  #: rtnetlink.h
    RTAX_QUICKACK = 15  #: rtnetlink.h
    RTAX_CC_ALGO = 16  #: rtnetlink.h: a string
    RTAX_FASTOPEN_NO_COOKIE = 17  #: rtnetlink.h


class Rtn(enum.IntEnum):
    """Route types, ``rtm_type`` (``rtnetlink.h``)."""

    RTN_UNSPEC = 0  #: rtnetlink.h
    RTN_UNICAST = 1  #: rtnetlink.h
    RTN_LOCAL = 2  #: rtnetlink.h
    RTN_BROADCAST = 3  #: rtnetlink.h
    RTN_ANYCAST = 4  #: rtnetlink.h
    RTN_MULTICAST = 5  #: rtnetlink.h
    RTN_BLACKHOLE = 6  #: rtnetlink.h
    RTN_UNREACHABLE = 7  #: rtnetlink.h
    RTN_PROHIBIT = 8  #: rtnetlink.h
    RTN_THROW = 9  #: rtnetlink.h
    RTN_NAT = 10  #: rtnetlink.h
    RTN_XRESOLVE = 11  #: rtnetlink.h


class Rtprot(enum.IntEnum):
    """Well-known ``rtm_protocol`` values (``rtnetlink.h``); any u8 is valid on the wire."""

    RTPROT_UNSPEC = 0  #: rtnetlink.h
    RTPROT_REDIRECT = 1  #: rtnetlink.h
    RTPROT_KERNEL = 2  #: rtnetlink.h: connected routes
    RTPROT_BOOT = 3  #: rtnetlink.h: `ip route add` default
    RTPROT_STATIC = 4  #: rtnetlink.h
    RTPROT_RA = 9  #: rtnetlink.h
    RTPROT_DHCP = 16  #: rtnetlink.h
    RTPROT_ZEBRA = 11  #: rtnetlink.h
    RTPROT_BIRD = 12  #: rtnetlink.h
    RTPROT_BGP = 186  #: rtnetlink.h; netlinkbgp's default route-protocol


class RtScope(enum.IntEnum):
    """``rtm_scope`` values (``rtnetlink.h``)."""

    RT_SCOPE_UNIVERSE = 0  #: rtnetlink.h
    RT_SCOPE_SITE = 200  #: rtnetlink.h
    RT_SCOPE_LINK = 253  #: rtnetlink.h
    RT_SCOPE_HOST = 254  #: rtnetlink.h
    RT_SCOPE_NOWHERE = 255  #: rtnetlink.h


class RtTable(enum.IntEnum):
    """Reserved table ids (``rtnetlink.h``)."""

    RT_TABLE_UNSPEC = 0  #: rtnetlink.h
    RT_TABLE_COMPAT = 252  #: rtnetlink.h: in rtm_table when the id needs RTA_TABLE (> 255)
    RT_TABLE_DEFAULT = 253  #: rtnetlink.h
    RT_TABLE_MAIN = 254  #: rtnetlink.h
    RT_TABLE_LOCAL = 255  #: rtnetlink.h


class RtmFlag(enum.IntFlag):
    """``rtm_flags`` and ``rtnh_flags`` bits (``rtnetlink.h``)."""

    RTNH_F_DEAD = 0x01  #: rtnetlink.h
    RTNH_F_PERVASIVE = 0x02  #: rtnetlink.h
    RTNH_F_ONLINK = 0x04  #: rtnetlink.h: gateway is on-link even if no prefix says so
    RTNH_F_OFFLOAD = 0x08  #: rtnetlink.h
    RTNH_F_LINKDOWN = 0x10  #: rtnetlink.h
    RTNH_F_UNRESOLVED = 0x20  #: rtnetlink.h
    RTNH_F_TRAP = 0x40  #: rtnetlink.h
    RTM_F_NOTIFY = 0x100  #: rtnetlink.h
    RTM_F_CLONED = 0x200  #: rtnetlink.h
    RTM_F_EQUALIZE = 0x400  #: rtnetlink.h
    RTM_F_PREFIX = 0x800  #: rtnetlink.h
    RTM_F_LOOKUP_TABLE = 0x1000  #: rtnetlink.h
    RTM_F_FIB_MATCH = 0x2000  #: rtnetlink.h: RTM_GETROUTE returns the matching FIB entry
    RTM_F_OFFLOAD = 0x4000  #: rtnetlink.h
    RTM_F_TRAP = 0x8000  #: rtnetlink.h


class Rtnlgrp(enum.IntEnum):
    """Multicast groups (``enum rtnetlink_groups``, ``rtnetlink.h``); join by number."""

    RTNLGRP_LINK = 1  #: rtnetlink.h
    RTNLGRP_IPV4_IFADDR = 5  #: rtnetlink.h
    RTNLGRP_IPV4_ROUTE = 7  #: rtnetlink.h
    RTNLGRP_IPV6_IFADDR = 9  #: rtnetlink.h
    RTNLGRP_IPV6_ROUTE = 11  #: rtnetlink.h


class Ifla(enum.IntEnum):
    """Link attributes (``if_link.h``)."""

    IFLA_UNSPEC = 0  #: if_link.h
    IFLA_ADDRESS = 1  #: if_link.h
    IFLA_BROADCAST = 2  #: if_link.h
    IFLA_IFNAME = 3  #: if_link.h
    IFLA_MTU = 4  #: if_link.h
    IFLA_LINK = 5  #: if_link.h
    IFLA_QDISC = 6  #: if_link.h
    IFLA_STATS = 7  #: if_link.h
    IFLA_MASTER = 10  #: if_link.h: ifindex of the bridge/VRF device
    IFLA_TXQLEN = 13  #: if_link.h
    IFLA_MAP = 14  #: if_link.h
    IFLA_OPERSTATE = 16  #: if_link.h
    IFLA_LINKMODE = 17  #: if_link.h
    IFLA_LINKINFO = 18  #: if_link.h: nested IFLA_INFO_*
    IFLA_NET_NS_PID = 19  #: if_link.h
    IFLA_IFALIAS = 20  #: if_link.h
    IFLA_NUM_VF = 21  #: if_link.h
    IFLA_STATS64 = 23  #: if_link.h
    IFLA_AF_SPEC = 26  #: if_link.h
    IFLA_GROUP = 27  #: if_link.h
    IFLA_NET_NS_FD = 28  #: if_link.h
    IFLA_EXT_MASK = 29  #: if_link.h
    IFLA_PROMISCUITY = 30  #: if_link.h
    IFLA_NUM_TX_QUEUES = 31  #: if_link.h
    IFLA_NUM_RX_QUEUES = 32  #: if_link.h
    IFLA_CARRIER = 33  #: if_link.h
    IFLA_CARRIER_CHANGES = 35  #: if_link.h
    IFLA_LINK_NETNSID = 37  #: if_link.h
    IFLA_PROTO_DOWN = 39  #: if_link.h
    IFLA_GSO_MAX_SEGS = 40  #: if_link.h
    IFLA_GSO_MAX_SIZE = 41  #: if_link.h
    IFLA_XDP = 43  #: if_link.h
    IFLA_EVENT = 44  #: if_link.h
    IFLA_NEW_NETNSID = 45  #: if_link.h
    IFLA_CARRIER_UP_COUNT = 47  #: if_link.h
    IFLA_CARRIER_DOWN_COUNT = 48  #: if_link.h
    IFLA_MIN_MTU = 50  #: if_link.h
    IFLA_MAX_MTU = 51  #: if_link.h
    IFLA_PROP_LIST = 52  #: if_link.h
    IFLA_ALT_IFNAME = 53  #: if_link.h
    IFLA_PERM_ADDRESS = 54  #: if_link.h
    IFLA_PARENT_DEV_NAME = 56  #: if_link.h
    IFLA_PARENT_DEV_BUS_NAME = 57  #: if_link.h
    IFLA_GRO_MAX_SIZE = 58  #: if_link.h
    IFLA_TSO_MAX_SIZE = 59  #: if_link.h
    IFLA_TSO_MAX_SEGS = 60  #: if_link.h
    IFLA_ALLMULTI = 61  #: if_link.h
    IFLA_DEVLINK_PORT = 62  #: if_link.h
    IFLA_GSO_IPV4_MAX_SIZE = 63  #: if_link.h
    IFLA_GRO_IPV4_MAX_SIZE = 64  #: if_link.h


class IflaInfo(enum.IntEnum):
    """Nested in IFLA_LINKINFO (``if_link.h``)."""

    IFLA_INFO_KIND = 1  #: if_link.h: "veth", "vrf", "bridge"...
    IFLA_INFO_DATA = 2  #: if_link.h: kind-specific nested attributes
    IFLA_INFO_XSTATS = 3  #: if_link.h
    IFLA_INFO_SLAVE_KIND = 4  #: if_link.h
    IFLA_INFO_SLAVE_DATA = 5  #: if_link.h


class IflaVrf(enum.IntEnum):
    """Nested in IFLA_INFO_DATA of kind ``vrf`` (``if_link.h``)."""

    IFLA_VRF_TABLE = 1  #: if_link.h: u32 routing table of the VRF


class Ifa(enum.IntEnum):
    """Address attributes (``if_addr.h``)."""

    IFA_UNSPEC = 0  #: if_addr.h
    IFA_ADDRESS = 1  #: if_addr.h: peer address on point-to-point, else same as IFA_LOCAL
    IFA_LOCAL = 2  #: if_addr.h
    IFA_LABEL = 3  #: if_addr.h
    IFA_BROADCAST = 4  #: if_addr.h
    IFA_ANYCAST = 5  #: if_addr.h
    IFA_CACHEINFO = 6  #: if_addr.h: struct ifa_cacheinfo
    IFA_MULTICAST = 7  #: if_addr.h
    IFA_FLAGS = 8  #: if_addr.h: u32, supersedes ifa_flags
    IFA_RT_PRIORITY = 9  #: if_addr.h
    IFA_TARGET_NETNSID = 10  #: if_addr.h
    IFA_PROTO = 11  #: if_addr.h


class IfaFlag(enum.IntFlag):
    """Address flags (``if_addr.h``)."""

    IFA_F_SECONDARY = 0x01  #: if_addr.h
    IFA_F_NODAD = 0x02  #: if_addr.h
    IFA_F_OPTIMISTIC = 0x04  #: if_addr.h
    IFA_F_DADFAILED = 0x08  #: if_addr.h
    IFA_F_HOMEADDRESS = 0x10  #: if_addr.h
    IFA_F_DEPRECATED = 0x20  #: if_addr.h
    IFA_F_TENTATIVE = 0x40  #: if_addr.h
    IFA_F_PERMANENT = 0x80  #: if_addr.h
    IFA_F_MANAGETEMPADDR = 0x100  #: if_addr.h
    IFA_F_NOPREFIXROUTE = 0x200  #: if_addr.h
    IFA_F_MCAUTOJOIN = 0x400  #: if_addr.h
    IFA_F_STABLE_PRIVACY = 0x800  #: if_addr.h


class Iff(enum.IntFlag):
    """Interface flags in ``ifi_flags`` (``linux/if.h``)."""

    IFF_UP = 0x1  #: if.h
    IFF_BROADCAST = 0x2  #: if.h
    IFF_LOOPBACK = 0x8  #: if.h
    IFF_POINTOPOINT = 0x10  #: if.h
    IFF_RUNNING = 0x40  #: if.h
    IFF_NOARP = 0x80  #: if.h
    IFF_LOWER_UP = 0x10000  #: if.h


#: ``rtnh_hops`` is the weight minus one (``rtnetlink.h``): weights are 1..256.
MAX_NEXTHOP_WEIGHT = 256
