"""RIB: decision process, Adj-RIB-In updates, RFC 7606 handling, interning, families, packing."""

from __future__ import annotations

import itertools
import re
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netlinkbgp.bgp import (
    IPV4_UNICAST,
    IPV6_UNICAST,
    VPNV4,
    AsPath,
    AsPathSegment,
    ClusterList,
    Communities,
    Keepalive,
    LargeCommunities,
    LocalPref,
    MultiExitDisc,
    Negotiated,
    NextHopAttribute,
    Nlri,
    OriginatorId,
    OriginAttribute,
    Update,
    decode_message,
    encode_message,
    pack_updates,
    pack_withdrawals,
)
from netlinkbgp.bgp.constants import HEADER_SIZE, MARKER, AsPathSegmentType
from netlinkbgp.bgp.rib import (
    AdjRibIn,
    LocRib,
    Path,
    PeerInfo,
    prefix_key,
    select_best,
    split_key,
)
from netlinkbgp.bgp.rib_out import pack_loc_rib
from netlinkbgp.bgp.rib_wire import scan_update
from netlinkbgp.errors import LocalProtocolError, RemoteProtocolError
from netlinkbgp.route import NextHop, Origin, RouteDistinguisher
from tests.strategies_bgp import updates

CTX = Negotiated.default()
NH = NextHopAttribute(IPv4Address("192.0.2.1"))


def peer(n: int, asn: int = 65000 + 1, ebgp: bool = True, router_id: int | None = None) -> PeerInfo:
    return PeerInfo(IPv4Address(f"10.0.0.{n}"), asn,
                    IPv4Address(router_id if router_id is not None else 0x0A000000 + n), ebgp)


P1, P2, P3 = peer(1, 65001), peer(2, 65002), peer(3, 65003)


def path(source: PeerInfo, *attributes: object, path_id: int | None = None) -> Path:
    """A path built from attribute objects (no bytes), ORIGIN IGP unless given."""
    attrs = list(attributes)
    if not any(isinstance(a, OriginAttribute) for a in attrs):
        attrs.append(OriginAttribute(Origin.IGP))
    if not any(isinstance(a, AsPath) for a in attrs):
        attrs.append(AsPath.sequence([source.asn]))
    return Path(source, CTX, None, path_id=path_id, attributes=tuple(attrs))  # type: ignore[arg-type]


def seq(*asns: int) -> AsPath:
    return AsPath.sequence(list(asns))


def v4(text: str) -> int:
    net = IPv4Network(text)
    return prefix_key(int(net.network_address), net.prefixlen)


def announce(prefixes: list[str], *attributes: object, ctx: Negotiated = CTX) -> list[bytes]:
    attrs = [OriginAttribute(Origin.IGP), seq(65001, 65010), NH, *attributes]
    return pack_updates(attrs, [Nlri.from_network(p) for p in prefixes], ctx)  # type: ignore[arg-type]


def withdraw(prefixes: list[str]) -> list[bytes]:
    return pack_withdrawals([Nlri.from_network(p) for p in prefixes], CTX)


def feed(adj: AdjRibIn, messages: list[bytes]) -> list[object]:
    changes: list[object] = []
    for message in messages:
        changes += adj.apply_message(message)
    return changes


# -- decision process ----------------------------------------------------------------------

DECISION_CASES = [
    # (rule, winner, loser): each winner would lose on every later rule
    ("higher LOCAL_PREF beats a shorter path",
     path(P2, LocalPref(200), seq(65002, 1, 2, 3)), path(P1, LocalPref(100), seq(65001))),
    ("missing LOCAL_PREF counts as 100 (beats 99)",
     path(P2, seq(65002, 1, 2)), path(P1, LocalPref(99), seq(65001))),
    ("missing LOCAL_PREF counts as 100 (loses to 101)",
     path(P2, LocalPref(101), seq(65002, 1, 2)), path(P1, seq(65001))),
    ("shorter AS_PATH", path(P2, seq(65002)), path(P1, seq(65001, 7))),
    ("an AS_SET counts 1",
     path(P2, AsPath((AsPathSegment(AsPathSegmentType.AS_SEQUENCE, (65002,)),
                      AsPathSegment(AsPathSegmentType.AS_SET, (1, 2, 3, 4))))),
     path(P1, seq(65001, 1, 2))),
    ("confederation segments count 0",
     path(P2, AsPath((AsPathSegment(AsPathSegmentType.AS_CONFED_SEQUENCE, (1, 2, 3)),
                      AsPathSegment(AsPathSegmentType.AS_SEQUENCE, (65002,))))),
     path(P1, seq(65001, 9))),
    ("lower ORIGIN", path(P2, OriginAttribute(Origin.IGP)),
     path(P1, OriginAttribute(Origin.INCOMPLETE))),
    ("lower MED from the same neighbour AS",
     path(P2, seq(65000, 5), MultiExitDisc(10)), path(P1, seq(65000, 6), MultiExitDisc(20))),
    ("missing MED counts as 0",
     path(P2, seq(65000, 5)), path(P1, seq(65000, 6), MultiExitDisc(1))),
    ("eBGP over iBGP", path(peer(2, 65000, ebgp=True)), path(peer(1, 65000, ebgp=False))),
    ("lower router id", path(peer(2, 65000, router_id=1)), path(peer(1, 65000, router_id=2))),
    ("ORIGINATOR_ID replaces the router id",
     path(peer(2, 65000, router_id=9), OriginatorId(IPv4Address(1))),
     path(peer(1, 65000, router_id=2))),
    ("shorter CLUSTER_LIST",
     path(peer(2, 65000, router_id=5), ClusterList((IPv4Address(1),))),
     path(peer(1, 65000, router_id=5), ClusterList((IPv4Address(1), IPv4Address(2))))),
    ("lower peer address", path(peer(1, 65000, router_id=5)), path(peer(2, 65000, router_id=5))),
    ("lower path id", path(P1, path_id=1), path(P1, path_id=2)),
]


@pytest.mark.parametrize(("rule", "winner", "loser"), DECISION_CASES,
                         ids=[c[0] for c in DECISION_CASES])
def test_decision_rule(rule: str, winner: Path, loser: Path) -> None:
    assert select_best([winner, loser]) is winner
    assert select_best([loser, winner]) is winner


def test_med_is_not_compared_across_neighbour_ases() -> None:
    # Different neighbour ASes: MED 0 vs 50 is irrelevant; the router id decides.
    low_med = path(peer(2, 65000, router_id=9), seq(65100, 1), MultiExitDisc(0))
    high_med = path(peer(1, 65000, router_id=1), seq(65200, 1), MultiExitDisc(50))
    assert select_best([low_med, high_med]) is high_med


def test_med_elimination_is_per_neighbour_as() -> None:
    # a (AS 100, MED 5) eliminates b (AS 100, MED 9); c (AS 200, MED 7) survives; among a and
    # c the router id decides; b would have won on router id but is already out.
    a = path(peer(1, router_id=5), seq(100, 1), MultiExitDisc(5))
    b = path(peer(2, router_id=1), seq(100, 2), MultiExitDisc(9))
    c = path(peer(3, router_id=3), seq(200, 3), MultiExitDisc(7))
    for order in itertools.permutations([a, b, c]):
        assert select_best(list(order)) is c


def test_select_best_needs_candidates() -> None:
    with pytest.raises(LocalProtocolError):
        select_best([])


# -- Loc-RIB -------------------------------------------------------------------------------


def test_loc_rib_update_reports_best_changes() -> None:
    rib = LocRib()
    key = v4("192.0.2.0/24")
    weak = path(P1, LocalPref(100))
    strong = path(P2, LocalPref(200))
    change = rib.update(IPV4_UNICAST, key, P1, weak)
    assert change is not None and change.old is None and change.new is weak
    change = rib.update(IPV4_UNICAST, key, P2, strong)
    assert change is not None and (change.old, change.new) == (weak, strong)
    assert rib.candidates(IPV4_UNICAST, key) == (strong, weak)
    assert rib.update(IPV4_UNICAST, key, P1, None) is None  # the loser leaves: no change
    change = rib.update(IPV4_UNICAST, key, P2, None)
    assert change is not None and (change.old, change.new) == (strong, None)
    assert rib.best(IPV4_UNICAST, key) is None and len(rib) == 0
    assert rib.update(IPV4_UNICAST, key, P2, None) is None


# -- Adj-RIB-In ----------------------------------------------------------------------------


def test_announce_replace_and_withdraw() -> None:
    adj = AdjRibIn(P1, CTX)
    changes = feed(adj, announce(["192.0.2.0/24", "198.51.100.0/24"], MultiExitDisc(1)))
    assert len(changes) == 2 and len(adj) == 2 and len(adj.loc_rib) == 2
    first = adj.get(IPV4_UNICAST, v4("192.0.2.0/24"))
    assert first is not None and first is adj.get(IPV4_UNICAST, v4("198.51.100.0/24"))
    # implicit withdraw: a new attribute set for one prefix replaces the old path
    changes = feed(adj, announce(["192.0.2.0/24"], MultiExitDisc(2)))
    replaced = adj.get(IPV4_UNICAST, v4("192.0.2.0/24"))
    assert replaced is not None and replaced is not first
    assert [(c.old, c.new) for c in changes] == [(first, replaced)]  # type: ignore[attr-defined]
    assert first.refs == 1 and replaced.refs == 1
    # the same announcement again changes nothing
    assert feed(adj, announce(["192.0.2.0/24"], MultiExitDisc(2))) == []
    changes = feed(adj, withdraw(["192.0.2.0/24", "203.0.113.0/24"]))  # one unknown
    assert [(c.old, c.new) for c in changes] == [(replaced, None)]  # type: ignore[attr-defined]
    assert len(adj) == 1 and adj.loc_rib.count(IPV4_UNICAST) == 1
    assert adj.interned == 1  # the replaced set was released


def test_interning_shares_one_object_per_attribute_set() -> None:
    adj = AdjRibIn(P1, CTX)
    feed(adj, announce(["192.0.2.0/24"], Communities((1, 2))))
    feed(adj, announce(["198.51.100.0/24"], Communities((1, 2))))  # another UPDATE, same bytes
    feed(adj, announce(["203.0.113.0/24"], Communities((1, 3))))
    a, b, c = (adj.get(IPV4_UNICAST, v4(p))
               for p in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"))
    assert a is b and a is not c
    assert adj.interned == 2 and a is not None and a.refs == 2
    feed(adj, withdraw(["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"]))
    assert adj.interned == 0 and len(adj) == 0


def test_general_and_fast_paths_intern_together() -> None:
    adj = AdjRibIn(P1, CTX)
    (message,) = announce(["192.0.2.0/24"], Communities((7,)))
    (other,) = announce(["198.51.100.0/24"], Communities((7,)))
    assert scan_update(message, True, None, True) is not None
    adj.apply(decode_message(message, CTX))  # type: ignore[arg-type]
    adj.apply_message(other)
    assert adj.get(IPV4_UNICAST, v4("192.0.2.0/24")) is adj.get(IPV4_UNICAST,
                                                                 v4("198.51.100.0/24"))


def _with_bad_med(prefix: str) -> bytes:
    """An UPDATE whose MULTI_EXIT_DISC is 3 octets long (RFC 7606 §7.4: treat-as-withdraw)."""
    (good,) = announce([prefix])
    update = decode_message(good, CTX)
    assert isinstance(update, Update) and update.raw_attributes is not None
    block = update.raw_attributes + b"\x80\x04\x03\x00\x00\x01"
    nlri = good[HEADER_SIZE + 4 + len(update.raw_attributes):]
    body = b"\x00\x00" + len(block).to_bytes(2, "big") + block + nlri
    return MARKER + (HEADER_SIZE + len(body)).to_bytes(2, "big") + b"\x02" + body


def test_treat_as_withdraw_removes_the_prefix() -> None:
    adj = AdjRibIn(P1, CTX)
    feed(adj, announce(["192.0.2.0/24"]))
    bad = _with_bad_med("192.0.2.0/24")
    decoded = decode_message(bad, CTX)
    assert isinstance(decoded, Update) and decoded.treat_as_withdraw
    assert scan_update(bad, True, None, True) is None  # never taken by the fast path
    changes = adj.apply_message(bad)
    assert len(changes) == 1 and changes[0].new is None
    assert adj.get(IPV4_UNICAST, v4("192.0.2.0/24")) is None and len(adj.loc_rib) == 0


def test_session_reset_raises_and_changes_nothing() -> None:
    adj = AdjRibIn(P1, CTX)
    (good,) = announce(["192.0.2.0/24"])
    broken = good[:-1] + bytes([good[-1]]) + b"\x21"  # NLRI length 33 > 32
    broken = broken[:16] + len(broken).to_bytes(2, "big") + broken[18:]
    with pytest.raises(RemoteProtocolError):
        adj.apply_message(broken)
    assert len(adj) == 0
    with pytest.raises(LocalProtocolError):
        adj.apply_message(encode_message(Keepalive(), CTX))


def test_apply_stream_frames_in_place() -> None:
    messages = announce([f"10.{i // 256}.{i % 256}.0/24" for i in range(300)], Communities((1,)))
    messages += withdraw(["10.0.7.0/24"]) + announce(["192.0.2.0/24"])
    stream = b"".join(messages)
    one, whole = AdjRibIn(P1, CTX), AdjRibIn(P1, CTX)
    expected = feed(one, messages)
    changes, rest = whole.apply_stream(stream + messages[0][:30])
    assert rest == messages[0][:30]
    assert [(c.key, c.new is None) for c in changes] == \
        [(c.key, c.new is None) for c in expected]  # type: ignore[attr-defined]
    assert sorted((k, p.raw) for _, k, p in whole) == sorted((k, p.raw) for _, k, p in one)
    assert len(whole) == 300
    with pytest.raises(RemoteProtocolError):
        whole.apply_stream(b"\x00" * 19)


def test_end_of_rib_is_a_no_op() -> None:
    adj = AdjRibIn(P1, CTX)
    feed(adj, announce(["192.0.2.0/24"]))
    for family in (IPV4_UNICAST, IPV6_UNICAST, VPNV4):
        assert adj.apply_message(encode_message(Update.end_of_rib_marker(family), CTX)) == []
    assert len(adj) == 1


def test_ipv6_unicast_via_mp_reach() -> None:
    adj = AdjRibIn(P1, CTX)
    attrs = [OriginAttribute(Origin.IGP), seq(65001)]
    nets = ["2001:db8::/32", "2001:db8:1::/48"]
    messages = pack_updates(attrs, [Nlri.from_network(n) for n in nets], CTX,  # type: ignore[arg-type]
                            IPV6_UNICAST, next_hops=(IPv6Address("2001:db8::1"),))
    assert scan_update(messages[0], True, None, True) is not None
    feed(adj, messages)
    assert adj.count(IPV6_UNICAST) == 2 and adj.count(IPV4_UNICAST) == 0
    net = IPv6Network(nets[1])
    best = adj.loc_rib.best(IPV6_UNICAST, prefix_key(int(net.network_address), 48, IPV6_UNICAST))
    assert best is not None and best.next_hops == (IPv6Address("2001:db8::1"),)
    route = best.to_route(IPV6_UNICAST, prefix_key(int(net.network_address), 48, IPV6_UNICAST))
    assert route.prefix == net and route.as_path == (65001,)
    feed(adj, pack_withdrawals([Nlri.from_network(nets[0])], CTX, IPV6_UNICAST))
    assert adj.count(IPV6_UNICAST) == 1


def test_vpn_keys_include_the_route_distinguisher() -> None:
    adj = AdjRibIn(P1, CTX)
    rd1, rd2 = RouteDistinguisher(0, 65000, 1), RouteDistinguisher(1, 0x0A000001, 7)
    nlri = [Nlri.from_network("10.1.0.0/16", rd=rd, labels=(100,)) for rd in (rd1, rd2)]
    attrs = [OriginAttribute(Origin.IGP), seq(65001)]
    feed(adj, pack_updates(attrs, nlri, CTX, VPNV4,  # type: ignore[arg-type]
                           next_hops=(IPv4Address("192.0.2.9"),)))
    keys = sorted(k for f, k, _ in adj.loc_rib if f == VPNV4)
    assert len(keys) == 2
    assert {split_key(VPNV4, k) for k in keys} == {
        (0x0A010000, 16, rd1), (0x0A010000, 16, rd2)}
    route = adj.loc_rib.routes().__next__()
    assert route.rd in (rd1, rd2) and route.labels == (100,)
    assert route.next_hops == (NextHop(IPv4Address("192.0.2.9")),)
    feed(adj, pack_withdrawals([nlri[0]], CTX, VPNV4))
    assert [split_key(VPNV4, k)[2] for _, k, _ in adj.loc_rib] == [rd2]


def test_add_path_candidates_from_one_peer() -> None:
    ctx = Negotiated(add_path_receive=frozenset({IPV4_UNICAST}),
                     add_path_send=frozenset({IPV4_UNICAST}))
    adj = AdjRibIn(P1, ctx)
    base = [OriginAttribute(Origin.IGP), seq(65001), NH]
    for path_id, pref in ((1, 100), (2, 300)):
        nlri = [Nlri.from_network("192.0.2.0/24", path_id=path_id)]
        feed(adj, pack_updates([*base, LocalPref(pref)], nlri, ctx))  # type: ignore[list-item]
    key = v4("192.0.2.0/24")
    assert adj.count() == 2 and len(adj.loc_rib) == 1
    best = adj.loc_rib.best(IPV4_UNICAST, key)
    assert best is not None and best.path_id == 2
    changes = feed(adj, pack_withdrawals([Nlri.from_network("192.0.2.0/24", path_id=2)], ctx))
    best = adj.loc_rib.best(IPV4_UNICAST, key)
    assert best is not None and best.path_id == 1 and len(changes) == 1


def test_two_peers_and_clear() -> None:
    loc = LocRib()
    a, b = AdjRibIn(P1, CTX, loc), AdjRibIn(P2, CTX, loc)
    feed(a, announce(["192.0.2.0/24"], LocalPref(100)))
    feed(b, announce(["192.0.2.0/24"], LocalPref(200)))
    best = loc.best(IPV4_UNICAST, v4("192.0.2.0/24"))
    assert best is not None and best.peer == P2
    changes = b.clear()
    assert len(changes) == 1 and changes[0].new is not None and changes[0].new.peer == P1
    assert len(b) == 0 and b.interned == 0 and len(loc) == 1


def test_to_route_carries_every_field() -> None:
    adj = AdjRibIn(P1, CTX)
    feed(adj, announce(["192.0.2.0/24"], MultiExitDisc(5), LocalPref(150),
                       Communities((0xFDE80064,)), LargeCommunities(((65000, 1, 2),))))
    (route,) = adj.loc_rib.routes()
    assert route.prefix == IPv4Network("192.0.2.0/24")
    assert route.next_hops == (NextHop(IPv4Address("192.0.2.1")),)
    assert (route.as_path, route.med, route.local_pref) == ((65001, 65010), 5, 150)
    assert route.communities == (0xFDE80064,) and route.large_communities == ((65000, 1, 2),)
    assert route.source == "10.0.0.1" and route.origin == Origin.IGP


def test_pack_loc_rib_round_trip() -> None:
    adj = AdjRibIn(P1, CTX)
    feed(adj, announce([f"10.{i}.0.0/16" for i in range(50)], Communities((1,))))
    feed(adj, announce(["192.0.2.0/24"], Communities((2,))))
    feed(adj, pack_updates([OriginAttribute(Origin.IGP), seq(65001)],
                           [Nlri.from_network("2001:db8::/32")], CTX, IPV6_UNICAST,
                           next_hops=(IPv6Address("2001:db8::1"),)))
    out = list(pack_loc_rib(adj.loc_rib, CTX))
    assert len(out) == 3  # one UPDATE per interned set
    again = AdjRibIn(P1, CTX)
    feed(again, out)
    assert sorted((f.afi, k, p.raw) for f, k, p in again.loc_rib) == \
        sorted((f.afi, k, p.raw) for f, k, p in adj.loc_rib)


# -- properties ----------------------------------------------------------------------------

PREFIXES = ["10.0.0.0/8", "10.0.0.0/16", "192.0.2.0/24", "198.51.100.0/25"]
PEERS = [peer(1, 65001), peer(2, 65002, ebgp=False), peer(3, 65003, router_id=1)]

events = st.lists(st.tuples(
    st.integers(0, len(PEERS) - 1),
    st.sets(st.sampled_from(PREFIXES), min_size=1),
    st.one_of(st.none(), st.tuples(st.integers(99, 101), st.integers(0, 3), st.integers(0, 2),
                                   st.sampled_from([None, 0, 5]))),
), max_size=40)


@given(events)
@settings(max_examples=150, deadline=None)
def test_incremental_loc_rib_equals_recomputation(
    steps: list[tuple[int, set[str], object]],
) -> None:
    loc = LocRib()
    adjs = [AdjRibIn(p, CTX, loc) for p in PEERS]
    for who, prefixes, attrs in steps:
        if attrs is None:
            feed(adjs[who], withdraw(sorted(prefixes)))
            continue
        pref, hops, first_as, med = attrs  # type: ignore[misc]
        extra = [LocalPref(pref)] + ([MultiExitDisc(med)] if med is not None else [])
        path_attrs = [OriginAttribute(Origin.IGP), seq(*([64512 + first_as] + [1] * hops)), NH]
        feed(adjs[who], pack_updates([*path_attrs, *extra],  # type: ignore[list-item]
                                     [Nlri.from_network(p) for p in sorted(prefixes)], CTX))
    expected = {}
    for prefix in PREFIXES:
        key = v4(prefix)
        candidates = [p for p in (a.get(IPV4_UNICAST, key) for a in adjs) if p is not None]
        if candidates:
            expected[key] = select_best(candidates)
    assert {k: p for _, k, p in loc} == expected


@given(st.data())
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_fast_path_equals_full_decoder(data: st.DataObject) -> None:
    ctx = Negotiated(asn4=data.draw(st.booleans()))
    update = data.draw(updates(ctx))
    message = encode_message(update, ctx)
    if data.draw(st.booleans()):  # damage one octet: the fast path must not accept worse
        i = data.draw(st.integers(HEADER_SIZE, len(message) - 1))
        message = message[:i] + bytes([data.draw(st.integers(0, 255))]) + message[i + 1:]
    fast, slow = AdjRibIn(P1, ctx), AdjRibIn(P1, ctx)
    try:
        decoded = decode_message(message, ctx)
    except RemoteProtocolError:
        assert scan_update(message, ctx.asn4, None, True) is None
        return
    assert isinstance(decoded, Update)
    if scan_update(message, ctx.asn4, None, True) is not None:
        assert not decoded.errors
    fast.apply_message(message)
    slow.apply(decoded)

    def content(adj: AdjRibIn) -> list[tuple[object, ...]]:
        return sorted(((f.afi, f.safi, k, p.raw, p.next_hop_raw, p.labels, p.path_id,
                        p.attributes) for f, k, p in adj), key=repr)

    assert content(fast) == content(slow)
    assert fast.interned == slow.interned


def test_a_known_block_is_not_validated_again(monkeypatch: pytest.MonkeyPatch) -> None:
    import netlinkbgp.bgp.rib_wire as rib_wire

    calls: list[int] = []
    real = rib_wire.validate_block

    def counting(*args: object) -> bool:
        calls.append(1)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(rib_wire, "validate_block", counting)
    adj = AdjRibIn(P1, CTX)
    feed(adj, announce(["192.0.2.0/24"], Communities((9,))))
    feed(adj, announce(["198.51.100.0/24"], Communities((9,))))  # same block: no validation
    feed(adj, announce(["203.0.113.0/24"], Communities((8,))))
    assert len(calls) == 2 and adj.interned == 2 and len(adj) == 3


@given(st.data())
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_canonical_pattern_accepts_only_what_the_walk_accepts(data: st.DataObject) -> None:
    from netlinkbgp.bgp.rib_wire import _CANONICAL, walk_block

    asn4, ebgp, next_hop = data.draw(st.booleans()), data.draw(st.booleans()), \
        data.draw(st.booleans())
    ctx = Negotiated(asn4=asn4)
    update = data.draw(updates(ctx))
    message = encode_message(update, ctx)
    start = HEADER_SIZE + 4 + ((message[19] << 8) | message[20])
    end = start + ((message[start - 2] << 8) | message[start - 1])
    block = bytearray(message[start:end])
    if block and data.draw(st.booleans()):
        block[data.draw(st.integers(0, len(block) - 1))] = data.draw(st.integers(0, 255))
    raw = bytes(block)
    pattern = _CANONICAL[asn4, ebgp, next_hop]
    if pattern.fullmatch(raw):
        assert walk_block(raw, 0, len(raw), asn4, ebgp, next_hop)
    # Possessive optional attributes accept exactly what backtracking ones would.
    loose = re.compile(pattern.pattern.replace(b")?+", b")?"), re.DOTALL)
    assert bool(pattern.fullmatch(raw)) == bool(loose.fullmatch(raw))


def test_canonical_pattern_matches_a_typical_block() -> None:
    from netlinkbgp.bgp.rib_wire import _CANONICAL

    (message,) = announce(["192.0.2.0/24"], MultiExitDisc(3), Communities((1, 2, 3)),
                          LargeCommunities(((1, 2, 3),)))
    update = decode_message(message, CTX)
    assert isinstance(update, Update) and update.raw_attributes is not None
    assert _CANONICAL[True, False, True].fullmatch(update.raw_attributes)
    # external peer: LOCAL_PREF is left to the full decoder (RFC 7606 §7.5)
    (with_pref,) = announce(["192.0.2.0/24"], LocalPref(5))
    raw = decode_message(with_pref, CTX).raw_attributes  # type: ignore[union-attr]
    assert _CANONICAL[True, False, True].fullmatch(raw)  # type: ignore[arg-type]
    assert not _CANONICAL[True, True, True].fullmatch(raw)  # type: ignore[arg-type]


def test_afi_safi_disable_drops_the_family() -> None:
    adj = AdjRibIn(P1, CTX)
    attrs = [OriginAttribute(Origin.IGP), seq(65001)]
    good = pack_updates(attrs, [Nlri.from_network("2001:db8::/32")], CTX,  # type: ignore[arg-type]
                        IPV6_UNICAST, next_hops=(IPv6Address("2001:db8::1"),))
    feed(adj, good + announce(["192.0.2.0/24"]))
    assert adj.count(IPV6_UNICAST) == 1
    (message,) = pack_updates(attrs, [Nlri.from_network("2001:db8:1::/48")], CTX,  # type: ignore[arg-type]
                              IPV6_UNICAST, next_hops=(IPv6Address("2001:db8::1"),))
    assert message[30] == 16  # MP_REACH_NLRI next hop length
    broken = message[:30] + b"\x05" + message[31:]  # RFC 7606 §7.11: AFI/SAFI disable
    decoded = decode_message(broken, CTX)
    assert isinstance(decoded, Update) and decoded.disabled_families == {IPV6_UNICAST}
    changes = adj.apply_message(broken)
    assert [c.new for c in changes] == [None]
    assert adj.count(IPV6_UNICAST) == 0 and adj.count(IPV4_UNICAST) == 1


@given(st.binary(max_size=40), st.sampled_from([32, 128]))
def test_unicast_keys_match_a_plain_walk(field: bytes, bits: int) -> None:
    """The table-driven key reader gives what a plain prefix walk gives, ``None`` included
    (a length over ``bits``, a truncated prefix)."""
    from netlinkbgp.bgp.rib_wire import _unicast_keys

    expected: list[int] | None = []
    i = 0
    while i < len(field):
        plen = field[i]
        nbytes = (plen + 7) // 8
        if plen > bits or i + 1 + nbytes > len(field):
            expected = None
            break
        value = int.from_bytes(field[i + 1 : i + 1 + nbytes], "big") >> (nbytes * 8 - plen)
        assert expected is not None
        expected.append(plen << bits | value)
        i += 1 + nbytes
    assert _unicast_keys(field, 0, len(field), bits) == expected
    assert _unicast_keys(b"\x00" + field, 1, len(field) + 1, bits) == expected
