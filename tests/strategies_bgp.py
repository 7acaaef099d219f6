"""Hypothesis strategies for BGP values: NLRI, attributes, capabilities, messages, contexts.

Generated messages are *valid* for the context they are drawn with, so that
``decode_message(encode_message(m, ctx), ctx) == m`` must hold: no duplicate attributes,
mandatory attributes present when NLRI are, AS numbers that fit the session, next hops the
family allows, and sizes that fit a 4096-octet message.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

from hypothesis import strategies as st

from netlinkbgp.bgp import (
    IPV4_UNICAST,
    SUPPORTED_FAMILIES,
    AddPath,
    AddPathEntry,
    Aggregator,
    As4Aggregator,
    As4Path,
    AsPath,
    AsPathSegment,
    AtomicAggregate,
    ClusterList,
    Communities,
    EnhancedRouteRefresh,
    ExtendedCommunities,
    ExtendedMessage,
    ExtendedNextHop,
    Family,
    FourOctetAs,
    Fqdn,
    GracefulRestart,
    GracefulRestartFamily,
    Keepalive,
    LargeCommunities,
    LocalPref,
    MpReachNlri,
    MpUnreachNlri,
    MultiExitDisc,
    Multiprotocol,
    Negotiated,
    NextHopAttribute,
    Nlri,
    NlriList,
    Notification,
    Open,
    OriginatorId,
    OriginAttribute,
    RouteRefresh,
    RouteRefreshCapability,
    UnknownAttribute,
    UnknownCapability,
    Update,
)
from netlinkbgp.bgp.attributes import DECODERS
from netlinkbgp.bgp.constants import AFI, AsPathSegmentType, CapabilityCode
from netlinkbgp.route import Origin, RouteDistinguisher

FAMILIES = sorted(SUPPORTED_FAMILIES, key=lambda f: (f.afi, f.safi))
MP_FAMILIES = [f for f in FAMILIES if f != IPV4_UNICAST]

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
ipv4 = st.builds(IPv4Address, u32)
ipv6 = st.builds(IPv6Address, st.integers(0, (1 << 128) - 1))
link_local = st.builds(lambda low: IPv6Address((0xFE80 << 112) | low),
                       st.integers(0, (1 << 64) - 1))
NextHops = tuple[IPv4Address | IPv6Address, ...]


# -- contexts -----------------------------------------------------------------------------


@st.composite
def contexts(draw: st.DrawFn) -> Negotiated:
    """A symmetric session context: what we send we also receive (so round trips hold)."""
    add_path = frozenset(draw(st.sets(st.sampled_from(FAMILIES))))
    ipv4_families = [f for f in FAMILIES if f.afi == AFI.IPV4]
    return Negotiated(
        asn4=draw(st.booleans()),
        add_path_receive=add_path,
        add_path_send=add_path,
        extended_next_hop=frozenset(draw(st.sets(st.sampled_from(ipv4_families)))),
    )


# -- NLRI ---------------------------------------------------------------------------------

rds = st.one_of(
    st.builds(RouteDistinguisher, st.just(0), u16, u32),
    st.builds(RouteDistinguisher, st.just(1), u32, u16),
    st.builds(RouteDistinguisher, st.just(2), u32, u16),
)
labels = st.lists(st.integers(0, 0xFFFFF), min_size=1, max_size=3).map(tuple)


@st.composite
def nlris(draw: st.DrawFn, family: Family, add_path: bool, withdraw: bool = False) -> Nlri:
    """One NLRI of ``family``; labelled withdrawals carry no labels (RFC 8277 §2.4)."""
    bits = family.max_length
    overhead = (24 * 3 if family.has_labels else 0) + (64 if family.has_rd else 0)
    length = draw(st.integers(0, min(bits, 255 - overhead)))
    value = draw(st.integers(0, (1 << length) - 1)) << (bits - length) if length else 0
    return Nlri(
        family.afi, value, length,
        path_id=draw(u32) if add_path else None,
        rd=draw(rds) if family.has_rd else None,
        labels=draw(labels) if family.has_labels and not withdraw else (),
    )


def nlri_lists(family: Family, add_path: bool, withdraw: bool = False,
               max_size: int = 12) -> st.SearchStrategy[NlriList]:
    """An NlriList of ``family``."""
    return st.lists(nlris(family, add_path, withdraw), max_size=max_size).map(
        lambda items: NlriList(family, items)
    )


# -- attributes ---------------------------------------------------------------------------


def segments(asn: st.SearchStrategy[int], confed: bool = True) -> st.SearchStrategy[AsPathSegment]:
    kinds = list(AsPathSegmentType) if confed else [AsPathSegmentType.AS_SEQUENCE,
                                                     AsPathSegmentType.AS_SET]
    return st.builds(AsPathSegment, st.sampled_from(kinds),
                     st.lists(asn, min_size=1, max_size=8).map(tuple))


def as_paths(asn4: bool) -> st.SearchStrategy[AsPath]:
    asn = u32 if asn4 else u16
    return st.lists(segments(asn), max_size=4).map(lambda s: AsPath(tuple(s)))


def _next_hops(family: Family, ctx: Negotiated) -> st.SearchStrategy[NextHops]:
    v6 = st.one_of(ipv6.map(lambda a: (a,)), st.tuples(ipv6, link_local))
    if family.afi == AFI.IPV6:
        return v6
    if family in ctx.extended_next_hop:
        return st.one_of(ipv4.map(lambda a: (a,)), v6)
    return ipv4.map(lambda a: (a,))


_known_codes = set(DECODERS)
unknown_attributes = st.builds(
    UnknownAttribute,
    st.integers(1, 255).filter(lambda c: c not in _known_codes),
    st.integers(0, 0xFF).map(lambda f: f | 0x80),  # optional: unknown well-known resets
    st.binary(max_size=40),
)


@st.composite
def attribute_sets(draw: st.DrawFn, ctx: Negotiated, need_next_hop: bool,
                   need_path: bool) -> list[object]:
    """Path attributes (no MP ones), each type at most once, in a drawn order."""
    asn = u32 if ctx.asn4 else u16
    chosen: list[object] = []
    if need_path or draw(st.booleans()):
        chosen.append(OriginAttribute(draw(st.sampled_from(list(Origin)))))
    if need_path or draw(st.booleans()):
        chosen.append(draw(as_paths(ctx.asn4)))
    if need_next_hop or draw(st.booleans()):
        chosen.append(NextHopAttribute(draw(ipv4)))
    optional = [
        st.builds(MultiExitDisc, u32),
        st.builds(LocalPref, u32),
        st.just(AtomicAggregate()),
        st.builds(Aggregator, asn, ipv4),
        st.builds(Communities, st.lists(u32, min_size=1, max_size=10).map(tuple)),
        st.builds(ExtendedCommunities,
                  st.lists(st.binary(min_size=8, max_size=8), min_size=1, max_size=6).map(tuple)),
        st.builds(LargeCommunities,
                  st.lists(st.tuples(u32, u32, u32), min_size=1, max_size=6).map(tuple)),
        st.builds(OriginatorId, ipv4),
        st.builds(ClusterList, st.lists(ipv4, min_size=1, max_size=5).map(tuple)),
    ]
    if not ctx.asn4:  # a 4-octet speaker discards these (RFC 6793 §4.1)
        optional.append(st.builds(As4Path, st.lists(segments(u32, confed=False), max_size=3)
                                  .map(tuple)))
        optional.append(st.builds(As4Aggregator, u32, ipv4))
    for strategy in optional:
        if draw(st.booleans()):
            chosen.append(draw(strategy))
    unknown = draw(st.lists(unknown_attributes, max_size=2, unique_by=lambda a: a.type_code))
    chosen.extend(unknown)
    return draw(st.permutations(chosen))


@st.composite
def updates(draw: st.DrawFn, ctx: Negotiated) -> Update:
    """A valid UPDATE for ``ctx`` of any shape: classic IPv4, MP_REACH, MP_UNREACH, or EoR."""
    v4_add_path = IPV4_UNICAST in ctx.add_path_send
    withdrawn = draw(nlri_lists(IPV4_UNICAST, v4_add_path, withdraw=True, max_size=8))
    nlri = draw(nlri_lists(IPV4_UNICAST, v4_add_path, max_size=8))
    mp: list[object] = []
    if draw(st.booleans()):
        family = draw(st.sampled_from(MP_FAMILIES))
        mp.append(MpUnreachNlri(family, draw(nlri_lists(family, family in ctx.add_path_send,
                                                        withdraw=True, max_size=6))))
    reach_nlri = False
    if draw(st.booleans()):
        family = draw(st.sampled_from(FAMILIES))
        items = draw(nlri_lists(family, family in ctx.add_path_send, max_size=6))
        mp.insert(0, MpReachNlri(family, draw(_next_hops(family, ctx)), items))
        reach_nlri = bool(items)
    others = draw(attribute_sets(ctx, need_next_hop=bool(nlri),
                                 need_path=bool(nlri) or reach_nlri))
    return Update(withdrawn, tuple(mp + others), nlri)  # type: ignore[arg-type]


# -- capabilities and other messages ------------------------------------------------------

families_any = st.builds(Family, u16, u8)
_known_caps = {int(c) for c in CapabilityCode}
fqdn_names = st.binary(max_size=40).map(lambda b: b.decode("utf-8", "surrogateescape"))

capabilities = st.one_of(
    st.builds(Multiprotocol, families_any),
    st.just(RouteRefreshCapability()),
    st.just(EnhancedRouteRefresh()),
    st.just(ExtendedMessage()),
    st.builds(FourOctetAs, u32),
    st.builds(AddPath, st.lists(
        st.builds(AddPathEntry, families_any, st.booleans(), st.booleans())
        .filter(lambda e: e.send or e.receive), max_size=4).map(tuple)),
    st.builds(ExtendedNextHop, st.lists(st.tuples(st.builds(Family, u16, u16), u16),
                                        max_size=4).map(tuple)),
    st.builds(GracefulRestart, st.integers(0, 15), st.integers(0, 0xFFF),
              st.lists(st.builds(GracefulRestartFamily, families_any, u8), max_size=4)
              .map(tuple)),
    st.builds(Fqdn, fqdn_names, fqdn_names),
    st.builds(UnknownCapability, u8.filter(lambda c: c not in _known_caps),
              st.binary(max_size=30)),
)

opens = st.builds(
    Open,
    st.integers(1, 0xFFFF),
    st.one_of(st.just(0), st.integers(3, 0xFFFF)),
    st.builds(IPv4Address, st.integers(1, 0xFFFFFFFF)),
    st.lists(capabilities, max_size=12).map(tuple),
)
notifications = st.builds(Notification, u8, u8, st.binary(max_size=64))
route_refreshes = st.builds(RouteRefresh, families_any, u8)
keepalives = st.just(Keepalive())


def messages(ctx: Negotiated) -> st.SearchStrategy[object]:
    """Any message valid for ``ctx``."""
    return st.one_of(updates(ctx), opens, notifications, route_refreshes, keepalives)
