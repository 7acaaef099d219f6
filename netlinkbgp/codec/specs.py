"""How the attributes of each message kind are interpreted (``{type: (Kind, sub-spec)}``).

Types missing from a spec decode to :class:`~netlinkbgp.codec.attrs.Unknown` and re-encode byte
for byte. Sizes follow the kernel's ``nla_policy`` tables for each attribute.
"""

from __future__ import annotations

from netlinkbgp.codec.attrs import Kind, Spec
from netlinkbgp.codec.constants import Ifa, Ifla, IflaInfo, NlmsgerrAttr, Rta, Rtax

__all__ = ["ADDR_SPEC", "ERR_SPEC", "LINK_SPEC", "ROUTE_SPEC"]

_METRICS_SPEC: Spec = {int(t): (Kind.U32, None) for t in Rtax if t != Rtax.RTAX_CC_ALGO} | {
    Rtax.RTAX_CC_ALGO: (Kind.STR, None)
}
_NEXTHOP_SPEC: Spec = {
    Rta.RTA_GATEWAY: (Kind.ADDR, None),
    Rta.RTA_VIA: (Kind.VIA, None),
    Rta.RTA_FLOW: (Kind.U32, None),
}
#: How route attributes are interpreted; anything else decodes to Unknown.
ROUTE_SPEC: Spec = {
    Rta.RTA_DST: (Kind.ADDR, None),
    Rta.RTA_SRC: (Kind.ADDR, None),
    Rta.RTA_IIF: (Kind.U32, None),
    Rta.RTA_OIF: (Kind.U32, None),
    Rta.RTA_GATEWAY: (Kind.ADDR, None),
    Rta.RTA_PRIORITY: (Kind.U32, None),
    Rta.RTA_PREFSRC: (Kind.ADDR, None),
    Rta.RTA_METRICS: (Kind.NESTED, _METRICS_SPEC),
    Rta.RTA_MULTIPATH: (Kind.MULTIPATH, _NEXTHOP_SPEC),
    Rta.RTA_FLOW: (Kind.U32, None),
    Rta.RTA_CACHEINFO: (Kind.RTA_CACHEINFO, None),
    Rta.RTA_TABLE: (Kind.U32, None),
    Rta.RTA_MARK: (Kind.U32, None),
    Rta.RTA_VIA: (Kind.VIA, None),
    Rta.RTA_PREF: (Kind.U8, None),
    Rta.RTA_ENCAP_TYPE: (Kind.U16, None),
    # The kernel sends RTA_EXPIRES as u64 in dumps and takes u32 in requests: kept as bytes.
    Rta.RTA_EXPIRES: (Kind.BYTES, None),
    Rta.RTA_UID: (Kind.U32, None),
    Rta.RTA_TTL_PROPAGATE: (Kind.U8, None),
    Rta.RTA_IP_PROTO: (Kind.U8, None),
    Rta.RTA_NH_ID: (Kind.U32, None),
}
_LINKINFO_SPEC: Spec = {
    IflaInfo.IFLA_INFO_KIND: (Kind.STR, None),
    # IFLA_INFO_DATA depends on the kind; its members stay Unknown (see LinkMessage.vrf_table).
    IflaInfo.IFLA_INFO_DATA: (Kind.NESTED, {}),
    IflaInfo.IFLA_INFO_SLAVE_KIND: (Kind.STR, None),
    IflaInfo.IFLA_INFO_SLAVE_DATA: (Kind.NESTED, {}),
}
_U32_LINK_ATTRS = (
    Ifla.IFLA_MTU, Ifla.IFLA_LINK, Ifla.IFLA_MASTER, Ifla.IFLA_TXQLEN, Ifla.IFLA_GROUP,
    Ifla.IFLA_PROMISCUITY, Ifla.IFLA_NUM_TX_QUEUES, Ifla.IFLA_NUM_RX_QUEUES,
    Ifla.IFLA_CARRIER_CHANGES, Ifla.IFLA_GSO_MAX_SEGS, Ifla.IFLA_GSO_MAX_SIZE,
    Ifla.IFLA_CARRIER_UP_COUNT, Ifla.IFLA_CARRIER_DOWN_COUNT, Ifla.IFLA_MIN_MTU,
    Ifla.IFLA_MAX_MTU, Ifla.IFLA_GRO_MAX_SIZE, Ifla.IFLA_TSO_MAX_SIZE, Ifla.IFLA_TSO_MAX_SEGS,
    Ifla.IFLA_ALLMULTI, Ifla.IFLA_EXT_MASK, Ifla.IFLA_GSO_IPV4_MAX_SIZE,
    Ifla.IFLA_GRO_IPV4_MAX_SIZE,
)
#: How link attributes are interpreted; anything else decodes to Unknown.
LINK_SPEC: Spec = {int(t): (Kind.U32, None) for t in _U32_LINK_ATTRS} | {
    Ifla.IFLA_ADDRESS: (Kind.BYTES, None),
    Ifla.IFLA_BROADCAST: (Kind.BYTES, None),
    Ifla.IFLA_PERM_ADDRESS: (Kind.BYTES, None),
    Ifla.IFLA_IFNAME: (Kind.STR, None),
    Ifla.IFLA_QDISC: (Kind.STR, None),
    Ifla.IFLA_IFALIAS: (Kind.STR, None),
    Ifla.IFLA_OPERSTATE: (Kind.U8, None),
    Ifla.IFLA_LINKMODE: (Kind.U8, None),
    Ifla.IFLA_CARRIER: (Kind.U8, None),
    Ifla.IFLA_PROTO_DOWN: (Kind.U8, None),
    Ifla.IFLA_LINK_NETNSID: (Kind.S32, None),
    Ifla.IFLA_LINKINFO: (Kind.NESTED, _LINKINFO_SPEC),
    Ifla.IFLA_PROP_LIST: (Kind.NESTED, {Ifla.IFLA_ALT_IFNAME: (Kind.STR, None)}),
    Ifla.IFLA_ALT_IFNAME: (Kind.STR, None),
}
#: How address attributes are interpreted; anything else decodes to Unknown.
ADDR_SPEC: Spec = {
    Ifa.IFA_ADDRESS: (Kind.ADDR, None),
    Ifa.IFA_LOCAL: (Kind.ADDR, None),
    Ifa.IFA_LABEL: (Kind.STR, None),
    Ifa.IFA_BROADCAST: (Kind.ADDR, None),
    Ifa.IFA_ANYCAST: (Kind.ADDR, None),
    Ifa.IFA_CACHEINFO: (Kind.IFA_CACHEINFO, None),
    Ifa.IFA_MULTICAST: (Kind.ADDR, None),
    Ifa.IFA_FLAGS: (Kind.U32, None),
    Ifa.IFA_RT_PRIORITY: (Kind.U32, None),
    Ifa.IFA_TARGET_NETNSID: (Kind.S32, None),
    Ifa.IFA_PROTO: (Kind.U8, None),
}
ERR_SPEC: Spec = {
    NlmsgerrAttr.NLMSGERR_ATTR_MSG: (Kind.STR, None),
    NlmsgerrAttr.NLMSGERR_ATTR_OFFS: (Kind.U32, None),
    NlmsgerrAttr.NLMSGERR_ATTR_COOKIE: (Kind.BYTES, None),
    NlmsgerrAttr.NLMSGERR_ATTR_MISS_TYPE: (Kind.U32, None),
    NlmsgerrAttr.NLMSGERR_ATTR_MISS_NEST: (Kind.U32, None),
}
