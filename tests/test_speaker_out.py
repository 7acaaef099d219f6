"""The Speaker's outbound side without sockets: a walk over the local RIB done in slices
(:meth:`PeerExport.walk`) and UPDATEs cut in slices (:meth:`PeerExport.take`), with announces
and withdrawals arriving between the steps, as they do when the event loop runs between them.

The UPDATEs are fed to an Adj-RIB-In, as the peer would: what it holds at the end must be
the local RIB, and the Adj-RIB-Out must agree."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netlinkbgp.bgp.capabilities import Negotiated
from netlinkbgp.bgp.nlri import IPV4_UNICAST
from netlinkbgp.bgp.rib import AdjRibIn, PeerInfo
from netlinkbgp.route import Route
from netlinkbgp.speaker import out as out_module
from netlinkbgp.speaker.out import LocalRib, PeerExport, key_network
from netlinkbgp.speaker_config import PeerConfig, PrefixFilter

LOCAL = IPv4Address("192.0.2.2")
#: Small slices, so that a few hundred prefixes take many steps.
WALK_SLICE = 16
TAKE_SLICE = 8
TAKE_WINDOW = 24


@pytest.fixture(autouse=True)
def _small_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(out_module, "WALK_SLICE", WALK_SLICE)
    monkeypatch.setattr(out_module, "TAKE_SLICE", TAKE_SLICE)
    monkeypatch.setattr(out_module, "TAKE_WINDOW", TAKE_WINDOW)


def _route(n: int, med: int) -> Route:
    return Route(IPv4Network((0x0A000000 + (n << 8), 24)), med=med)


class Harness:
    """A local RIB and one peer's export, changed the way the Speaker changes them, and
    the peer's side: an Adj-RIB-In fed with every UPDATE cut."""

    def __init__(self, config: PeerConfig | None = None) -> None:
        self.rib = LocalRib()
        ctx = Negotiated.default()
        self.export = PeerExport(config or PeerConfig("192.0.2.1", 65000), 65001, ctx, LOCAL,
                                 ebgp=True)
        peer = PeerInfo(IPv4Address("192.0.2.2"), 65001, LOCAL, True)
        self.received = AdjRibIn(peer, ctx)

    def announce(self, n: int, med: int) -> None:  # Speaker.announce
        family, key, path, changed = self.rib.set(_route(n, med))
        if changed:
            self.export.offer(family, key, path)

    def withdraw(self, n: int) -> None:  # Speaker.withdraw
        removed = self.rib.remove(_route(n, 0))
        if removed is not None:
            self.export.offer(*removed, None)

    def steps(self) -> Iterator[str]:
        """What Peer._flush_task does, one step per item: the walk, then the take."""
        while self.export.walking() or self.export.has_pending():
            while self.export.walk():
                yield "walk"
            for batch in self.export.take():
                for message in batch:
                    self.received.apply_message(message)
                yield "take"

    def check(self) -> None:
        local = {str(r.prefix): r.med for r in self.rib.routes()}
        sent = {str(r.prefix): r.med for r in self.export.routes(self.received.peer)}
        got = {str(key_network(f, k)): p.to_route(f, k).med for f, k, p in self.received}
        assert sent == local
        assert got == local


#: One change made while the walk or the take is under way: announce (prefix, MED), withdraw.
_change = st.one_of(
    st.tuples(st.just("announce"), st.integers(0, 299), st.integers(0, 3)),
    st.tuples(st.just("withdraw"), st.integers(0, 299), st.just(0)),
)


@settings(max_examples=80, deadline=None)
@given(initial=st.integers(0, 300), step=st.integers(1, 7),
       changes=st.lists(st.lists(_change, max_size=4), min_size=1, max_size=80),
       already_sent=st.booleans())
def test_changes_during_a_sliced_walk_and_take_end_with_the_right_adj_rib_out(
        initial: int, step: int, changes: list[list[tuple[str, int, int]]],
        already_sent: bool) -> None:
    h = Harness()
    for n in range(0, initial, step):  # prefixes with gaps between them, in local RIB order
        h.announce(n, n % 3)
    if already_sent:  # the peer holds a table already: a re-walk (policy change, refresh)
        for _ in h.steps():
            pass
        h.check()
        h.withdraw(0)
        h.announce(1, 3)
    h.export.offer_all(h.rib)
    pending = iter(changes)
    for _ in h.steps():  # the event loop runs between steps: announces and withdrawals
        for kind, n, med in next(pending, []):
            if kind == "announce":
                h.announce(n, med)
            else:
                h.withdraw(n)
    h.check()


def test_the_walk_is_sliced_and_every_prefix_is_offered_once_it_ends() -> None:
    h = Harness()
    for n in range(100):
        h.announce(n, 1)
    h.export.pending.clear()  # as if the session came up now
    h.export.offer_all(h.rib)
    assert h.export.has_pending()
    walked = 0
    while h.export.walk():
        walked += 1
        assert len(h.export.pending[IPV4_UNICAST]) <= walked * WALK_SLICE
    assert walked == 100 // WALK_SLICE + 1
    assert len(h.export.pending[IPV4_UNICAST]) == 100
    steps = list(h.steps())
    # 100 changes: a step every TAKE_SLICE of them, plus the UPDATEs of each TAKE_WINDOW
    # (one attribute set: one UPDATE a window)
    windows = -(-100 // TAKE_WINDOW)
    assert steps.count("take") == 100 // TAKE_SLICE + windows
    assert h.export.updates == windows
    h.check()


def test_a_new_full_walk_replaces_one_under_way_and_applies_the_new_policy() -> None:
    h = Harness()
    for n in range(60):
        h.announce(n, n % 2)
    for _ in h.steps():
        pass
    h.export.offer_all(h.rib)
    assert h.export.walk()
    # the policy changes mid-walk (update_peer): only 10.0.0.0/24 .. 10.0.15.0/24 go out now
    config = dataclasses.replace(h.export.config,
                                 export_filter=PrefixFilter.parse(accept=("10.0.0.0/20",)))
    h.export.reconfigure(config)
    h.export.offer_all(h.rib)
    assert len(h.export._walks) == 1
    for _ in h.steps():
        pass
    got = {str(key_network(f, k)) for f, k, _ in h.received}
    assert got == {f"10.0.{n}.0/24" for n in range(16)}


def test_a_walk_of_one_family_runs_after_the_walk_under_way() -> None:
    h = Harness()
    for n in range(40):
        h.announce(n, 1)
    h.export.offer_all(h.rib)
    h.export.walk()
    h.export.offer_all(h.rib, IPV4_UNICAST)  # ROUTE-REFRESH for one family
    assert len(h.export._walks) == 2
    for _ in h.steps():
        pass
    h.check()


_asn = st.integers(1, 0xFFFFFFFF)
_u32 = st.integers(0, 0xFFFFFFFF)


@settings(max_examples=300, deadline=None)
@given(as_path=st.lists(_asn, max_size=300), med=st.none() | _u32,
       local_pref=st.none() | _u32, origin=st.integers(0, 2),
       communities=st.lists(_u32, max_size=80),
       large=st.lists(st.tuples(_u32, _u32, _u32), max_size=30),
       ext=st.lists(st.binary(min_size=8, max_size=8), max_size=5),
       ebgp=st.booleans(), config_med=st.none() | _u32,
       added=st.lists(st.sampled_from(["65000:1", "65000:2", "1:1"]), max_size=3),
       v6=st.booleans())
def test_the_plain_encoder_matches_the_attribute_objects(
        as_path: list[int], med: int | None, local_pref: int | None, origin: int,
        communities: list[int], large: list[tuple[int, int, int]], ext: list[bytes],
        ebgp: bool, config_med: int | None, added: list[str], v6: bool) -> None:
    from ipaddress import IPv6Address

    from netlinkbgp.bgp.attributes import encode_attribute
    from netlinkbgp.bgp.nlri import IPV6_UNICAST
    from netlinkbgp.route import Origin

    config = PeerConfig("192.0.2.1", 65000, med=config_med, communities=tuple(added),
                        next_hop_v6="2001:db8::1")
    ctx = Negotiated.default()
    export = PeerExport(config, 65001, ctx, LOCAL, ebgp=ebgp)
    route = Route(IPv4Network("10.0.0.0/24"), as_path=tuple(as_path), med=med,
                  local_pref=local_pref, origin=Origin(origin), communities=tuple(communities),
                  large_communities=tuple(large), ext_communities=tuple(ext))
    rib = LocalRib()
    _, _, path, _ = rib.set(route)
    family = IPV6_UNICAST if v6 else IPV4_UNICAST
    hops = (IPv6Address("2001:db8::1"),) if v6 else (LOCAL,)
    policy = export._policy(path)
    general = b"".join(encode_attribute(a, ctx)
                       for a in export._attributes(family, policy, hops))
    plain = out_module._plain_block(policy, b"" if v6 else LOCAL.packed)
    if len(as_path) + ebgp > 255:
        assert plain is None  # two AS_PATH segments: the general encoder's business
    else:
        assert plain == general
