"""Our Speaker against BIRD 2: sessions both ways over IPv4 and IPv6, attributes in both
directions, 4-byte and 2-byte AS peers, link-local and RFC 8950 next hops, TCP MD5, graceful
restart, route refresh, OPEN errors and live changes.

BIRD runs in ``topo.ns_daemon``; our Speaker runs in a child forked into ``topo.ns_ours``
(:func:`tests.interop.ours.run_speaker`) and returns plain data for the assertions here.
"""

from __future__ import annotations

import asyncio
import re
import socket
from ipaddress import ip_network
from typing import Any

import pytest

from netlinkbgp import PeerConfig, PeerEvent, Route, Speaker, SpeakerConfig
from netlinkbgp.route import parse_community, parse_large_community
from tests.interop.daemons import Bird, BirdPeer, BirdStatic, Topology, bird_config, topology
from tests.interop.ours import (
    WAIT_SECONDS,
    has,
    hold,
    one,
    poll,
    route_data,
    run_speaker,
    statuses,
    wait_until,
)

pytestmark = [pytest.mark.interop, pytest.mark.usefixtures("bird_available")]

BIRD_AS = 65001
OUR_AS = 4200000002  # a 4-byte AS: every session here carries it (RFC 6793)
#: Attributes of the routes BIRD announces (BIRD_EXPORT_ALL keeps the MED towards eBGP).
BIRD_V4 = BirdStatic("10.10.0.0/24", communities=("65001:100",),
                     large_communities=("65001:1:2",), med=50)
BIRD_V6 = BirdStatic("2001:db8:10::/48", communities=("65001:600",),
                     large_communities=("65001:6:7",), med=60)


def _ours(prefix: str, med: int, community: str, large: str) -> Route:
    return Route(ip_network(prefix), med=med, communities=(parse_community(community),),
                 large_communities=(parse_large_community(large),))


def _since(bird: Bird, name: str) -> str:
    """The "Since" column of ``show protocols NAME`` (when the state last changed)."""
    for line in bird.birdc("show", "protocols", name).splitlines():
        if line.startswith(name + " "):
            return line.split()[4]
    raise AssertionError(f"no protocol {name}")


def _hops(route: dict[str, Any]) -> list[str]:
    hop = route["next_hop"]
    return hop if isinstance(hop, list) else [hop]


# ------------------------------------------------------------------------------------------
# 1-4: sessions both ways, attributes both ways, 4-byte AS, link-local next hops.
# ------------------------------------------------------------------------------------------


async def _exchange(topo: Topology, bird: Bird, role: str) -> dict[str, Any]:
    passive = role == "passive"
    cfg = SpeakerConfig(
        asn=OUR_AS, router_id=topo.ours_v4, listen_address="::" if passive else None,
        peers=(
            PeerConfig(topo.daemon_v4, peer_asn=BIRD_AS, passive=passive,
                       families=("ipv4-unicast",), connect_retry_time=1.0,
                       large_communities=("4200000002:9:9",)),
            PeerConfig(topo.daemon_v6, peer_asn=BIRD_AS, passive=passive,
                       families=("ipv6-unicast",), connect_retry_time=1.0,
                       # one role sends global + link-local (RFC 2545), the other global only
                       next_hop_v6_link_local=None if passive else topo.ours_ll),
        ))
    async with Speaker(cfg) as sp:
        await sp.wait_established(timeout=WAIT_SECONDS)
        sp.announce([_ours("10.1.0.0/24", 10, "65002:7", "4200000002:7:8"),
                     _ours("2001:db8:1::/48", 20, "65002:8", "4200000002:8:9")])
        await sp.drain()
        await sp.wait_route(BIRD_V4.prefix, timeout=WAIT_SECONDS)
        await sp.wait_route(BIRD_V6.prefix, timeout=WAIT_SECONDS)
        bird4 = await poll(lambda: bird.routes("master4", "ours4"), has("10.1.0.0/24"),
                           what="our IPv4 route in BIRD")
        bird6 = await poll(lambda: bird.routes("master6", "ours6"), has("2001:db8:1::/48"),
                           what="our IPv6 route in BIRD")
        return {"ours4": route_data(sp.best(BIRD_V4.prefix)),
                "ours6": route_data(sp.best(BIRD_V6.prefix)),
                "bird4": bird4, "bird6": bird6, "status": statuses(sp),
                "bird_info": bird.protocol_info("ours6"),
                "bird_state": bird.protocol_state("ours4"),
                "ifindex": socket.if_nametoindex(topo.if_ours)}


@pytest.mark.parametrize("role", ["active", "passive"])
def test_sessions_and_attributes_both_ways(role: str) -> None:
    with topology(f"sb-{role[0]}") as topo:
        bird_passive = role == "active"  # BIRD answers when we connect, and the reverse
        peers = [
            BirdPeer("ours4", topo.ours_v4, OUR_AS, local_address=topo.daemon_v4, ipv6=False,
                     passive=bird_passive),
            BirdPeer("ours6", topo.ours_v6, OUR_AS, local_address=topo.daemon_v6, ipv4=False,
                     passive=bird_passive),
        ]
        with Bird(topo.ns_daemon, bird_config(BIRD_AS, topo.daemon_v4, peers,
                                              static4=[BIRD_V4], static6=[BIRD_V6])) as bird:
            got = run_speaker(topo.ns_ours, _exchange, topo, bird, role, daemons=(bird,))

    # Both sessions came up in the direction asked for.
    for address in (topo.daemon_v4, topo.daemon_v6):
        status = got["status"][address]
        assert status["state"] == "Established", status
        assert status["remote_asn"] == BIRD_AS
        assert status["local_asn"] == OUR_AS
    assert got["status"][topo.daemon_v4]["families"] == ["ipv4-unicast"]
    assert got["status"][topo.daemon_v6]["families"] == ["ipv6-unicast"]

    # BIRD's routes as we parsed them.
    ours4, ours6 = got["ours4"], got["ours6"]
    assert ours4["as_path"] == [BIRD_AS]
    assert ours4["next_hops"] == [topo.daemon_v4]
    assert (ours4["med"], ours4["communities"], ours4["large_communities"]) == (
        50, ["65001:100"], ["65001:1:2"])
    assert ours6["as_path"] == [BIRD_AS]
    assert (ours6["med"], ours6["communities"], ours6["large_communities"]) == (
        60, ["65001:600"], ["65001:6:7"])
    # RFC 2545 on a shared link: BIRD sends its global and its link-local address.
    assert topo.daemon_v6 in ours6["next_hops"], ours6
    assert topo.daemon_ll in ours6["next_hops"], ours6
    # ... and the link-local one comes with our interface on that link (the one holding our
    # session address), the global one without
    hops = dict(zip(ours6["next_hops"], ours6["ifindexes"], strict=True))
    assert hops == {topo.daemon_v6: 0, topo.daemon_ll: got["ifindex"]}, ours6

    # Our routes as BIRD parsed them (a 4-byte AS in the path).
    bird4 = one(got["bird4"], "10.1.0.0/24")
    assert bird4["as_path"] == [OUR_AS]
    assert bird4["bgp_next_hop"] == [topo.ours_v4]
    assert bird4["next_hop"] == topo.ours_v4
    assert bird4["med"] == 10
    assert bird4["communities"] == ["65002:7"]
    assert sorted(bird4["large_communities"]) == ["4200000002:7:8", "4200000002:9:9"]
    assert bird4["origin"] == "IGP"
    assert bird4["dest"] == "unicast"
    bird6 = one(got["bird6"], "2001:db8:1::/48")
    assert bird6["as_path"] == [OUR_AS]
    sent_ll = [] if role == "passive" else [topo.ours_ll]
    assert bird6["bgp_next_hop"] == [topo.ours_v6, *sent_ll]
    assert set(_hops(bird6)) <= {topo.ours_v6, topo.ours_ll}
    assert (bird6["med"], bird6["communities"], bird6["large_communities"]) == (
        20, ["65002:8"], ["4200000002:8:9"])
    assert bird6["dest"] == "unicast"
    assert got["bird_info"]["Neighbor AS"] == str(OUR_AS)
    assert got["bird_state"] == "Established"


# ------------------------------------------------------------------------------------------
# 2: LOCAL_PREF on an internal session.
# ------------------------------------------------------------------------------------------


async def _ibgp(topo: Topology, bird: Bird) -> dict[str, Any]:
    cfg = SpeakerConfig(asn=BIRD_AS, router_id=topo.ours_v4, peers=(
        PeerConfig(topo.daemon_v4, peer_asn=BIRD_AS, families=("ipv4-unicast",),
                   local_pref=300, connect_retry_time=1.0),
        PeerConfig(topo.daemon_v6, peer_asn=BIRD_AS, families=("ipv6-unicast",),
                   local_pref=400, connect_retry_time=1.0),
    ))
    async with Speaker(cfg) as sp:
        await sp.wait_established(timeout=WAIT_SECONDS)
        sp.announce([_ours("10.1.0.0/24", 10, "65001:7", "65001:7:8"),
                     _ours("2001:db8:1::/48", 20, "65001:8", "65001:8:9")])
        await sp.drain()
        await sp.wait_route("10.10.0.0/24", timeout=WAIT_SECONDS)
        await sp.wait_route("2001:db8:10::/48", timeout=WAIT_SECONDS)
        bird4 = await poll(lambda: bird.routes("master4", "ours4"), has("10.1.0.0/24"))
        bird6 = await poll(lambda: bird.routes("master6", "ours6"), has("2001:db8:1::/48"))
        return {"ours4": route_data(sp.best("10.10.0.0/24")),
                "ours6": route_data(sp.best("2001:db8:10::/48")),
                "bird4": bird4, "bird6": bird6}


def test_ibgp_local_pref_both_ways() -> None:
    with topology("sb-ibgp") as topo:
        peers = [
            BirdPeer("ours4", topo.ours_v4, BIRD_AS, local_address=topo.daemon_v4, ipv6=False,
                     passive=True, extra="direct;"),
            BirdPeer("ours6", topo.ours_v6, BIRD_AS, local_address=topo.daemon_v6, ipv4=False,
                     passive=True, extra="direct;"),
        ]
        static4 = [BirdStatic("10.10.0.0/24", local_pref=200, med=5, communities=("65001:1",))]
        static6 = [BirdStatic("2001:db8:10::/48", local_pref=250, med=6,
                              large_communities=("65001:2:3",))]
        with Bird(topo.ns_daemon, bird_config(BIRD_AS, topo.daemon_v4, peers, static4=static4,
                                              static6=static6)) as bird:
            got = run_speaker(topo.ns_ours, _ibgp, topo, bird, daemons=(bird,))

    assert got["ours4"]["local_pref"] == 200
    assert got["ours4"]["as_path"] == []
    assert (got["ours4"]["med"], got["ours4"]["communities"]) == (5, ["65001:1"])
    assert got["ours6"]["local_pref"] == 250
    assert (got["ours6"]["med"], got["ours6"]["large_communities"]) == (6, ["65001:2:3"])
    bird4 = one(got["bird4"], "10.1.0.0/24")
    assert (bird4["local_pref"], bird4["as_path"], bird4["med"]) == (300, [], 10)
    assert bird4["communities"] == ["65001:7"]
    assert bird4["large_communities"] == ["65001:7:8"]
    bird6 = one(got["bird6"], "2001:db8:1::/48")
    assert (bird6["local_pref"], bird6["as_path"], bird6["med"]) == (400, [], 20)
    assert bird6["large_communities"] == ["65001:8:9"]


# ------------------------------------------------------------------------------------------
# 3: a 2-byte-only peer (AS_TRANS and AS4_PATH, RFC 6793).
# ------------------------------------------------------------------------------------------

TWO_BYTE_AS = 65002
TWO_BYTE_STATIC = """
protocol static static_path {
  ipv4;
  route 10.30.0.0/24 blackhole { bgp_path.prepend(4200000009); bgp_path.prepend(64999); };
}
"""


async def _two_byte(topo: Topology, bird: Bird) -> dict[str, Any]:
    # BIRD without AS4 takes only a 2-byte neighbour AS: ours is 65002 on this session.
    cfg = SpeakerConfig(asn=OUR_AS, router_id=topo.ours_v4, peers=(
        PeerConfig(topo.daemon_v4, peer_asn=BIRD_AS, local_asn=TWO_BYTE_AS,
                   families=("ipv4-unicast",), connect_retry_time=1.0),))
    async with Speaker(cfg) as sp:
        await sp.wait_established(timeout=WAIT_SECONDS)
        sp.announce(Route(ip_network("10.1.0.0/24"), as_path=(4200000005, 64777)))
        await sp.drain()
        route = await sp.wait_route("10.30.0.0/24", timeout=WAIT_SECONDS)
        bird4 = await poll(lambda: bird.routes("master4", "ours4"), has("10.1.0.0/24"))
        return {"ours": route_data(route), "bird4": bird4, "info": bird.protocol_info("ours4")}


def test_two_byte_peer_as_path() -> None:
    with topology("sb-as2") as topo:
        peers = [BirdPeer("ours4", topo.ours_v4, TWO_BYTE_AS, local_address=topo.daemon_v4,
                          ipv6=False, passive=True, enable_as4=False)]
        with Bird(topo.ns_daemon, bird_config(BIRD_AS, topo.daemon_v4, peers,
                                              extra=TWO_BYTE_STATIC)) as bird:
            got = run_speaker(topo.ns_ours, _two_byte, topo, bird, daemons=(bird,))

    # BIRD sent AS_PATH 65001 64999 23456 with AS4_PATH: we merged them back.
    assert got["ours"]["as_path"] == [BIRD_AS, 64999, 4200000009]
    # We sent AS_PATH 65002 23456 64777 with AS4_PATH: BIRD merged them back.
    assert one(got["bird4"], "10.1.0.0/24")["as_path"] == [TWO_BYTE_AS, 4200000005, 64777]
    assert got["info"]["Neighbor AS"] == str(TWO_BYTE_AS)


# ------------------------------------------------------------------------------------------
# 5: IPv4 routes over an IPv6 session (RFC 8950).
# ------------------------------------------------------------------------------------------


async def _extended_next_hop(topo: Topology, bird: Bird) -> dict[str, Any]:
    cfg = SpeakerConfig(asn=OUR_AS, router_id=topo.ours_v4, peers=(
        PeerConfig(topo.daemon_v6, peer_asn=BIRD_AS, families=("ipv4-unicast",),
                   connect_retry_time=1.0),))
    async with Speaker(cfg) as sp:
        await sp.wait_established(timeout=WAIT_SECONDS)
        sp.announce(_ours("10.1.0.0/24", 10, "65002:7", "4200000002:7:8"))
        await sp.drain()
        route = await sp.wait_route(BIRD_V4.prefix, timeout=WAIT_SECONDS)
        bird4 = await poll(lambda: bird.routes("master4", "ours6"), has("10.1.0.0/24"))
        return {"ours": route_data(route), "bird4": bird4, "status": statuses(sp)}


def test_ipv4_routes_over_ipv6_session() -> None:
    with topology("sb-enh") as topo:
        peers = [BirdPeer("ours6", topo.ours_v6, OUR_AS, local_address=topo.daemon_v6,
                          ipv6=False, passive=True, extended_next_hop=True)]
        with Bird(topo.ns_daemon, bird_config(BIRD_AS, topo.daemon_v4, peers,
                                              static4=[BIRD_V4])) as bird:
            got = run_speaker(topo.ns_ours, _extended_next_hop, topo, bird, daemons=(bird,))

    assert got["status"][topo.daemon_v6]["families"] == ["ipv4-unicast"]
    ours = got["ours"]
    assert topo.daemon_v6 in ours["next_hops"], ours
    assert (ours["as_path"], ours["med"], ours["communities"]) == ([BIRD_AS], 50, ["65001:100"])
    bird4 = one(got["bird4"], "10.1.0.0/24")
    assert bird4["bgp_next_hop"][0] == topo.ours_v6
    assert bird4["dest"] == "unicast"
    assert (bird4["as_path"], bird4["med"], bird4["communities"]) == ([OUR_AS], 10, ["65002:7"])


# ------------------------------------------------------------------------------------------
# 7: TCP MD5.
# ------------------------------------------------------------------------------------------


async def _md5(topo: Topology, bird: Bird) -> dict[str, Any]:
    cfg = SpeakerConfig(asn=OUR_AS, router_id=topo.ours_v4, peers=(
        PeerConfig(topo.daemon_v4, peer_asn=BIRD_AS, families=("ipv4-unicast",),
                   md5_password="s3cret-pw", connect_retry_time=1.0),
        PeerConfig(topo.daemon_v6, peer_asn=BIRD_AS, families=("ipv6-unicast",),
                   md5_password="not-the-pw", connect_retry_time=1.0),
    ))
    async with Speaker(cfg) as sp:
        await sp.wait_established(topo.daemon_v4, timeout=WAIT_SECONDS)
        await wait_until(lambda: sp.status(topo.daemon_v6)[0].last_error)
        await asyncio.sleep(0.5)
        return {"ours": statuses(sp), "bird4": bird.protocol_state("ours4"),
                "bird6": bird.protocol_state("ours6")}


def test_md5_match_and_mismatch() -> None:
    with topology("sb-md5") as topo:
        peers = [
            BirdPeer("ours4", topo.ours_v4, OUR_AS, local_address=topo.daemon_v4, ipv6=False,
                     passive=True, md5_password="s3cret-pw"),
            BirdPeer("ours6", topo.ours_v6, OUR_AS, local_address=topo.daemon_v6, ipv4=False,
                     passive=True, md5_password="s3cret-pw"),
        ]
        with Bird(topo.ns_daemon, bird_config(BIRD_AS, topo.daemon_v4, peers)) as bird:
            got = run_speaker(topo.ns_ours, _md5, topo, bird, daemons=(bird,))

    assert got["bird4"] == "Established"
    assert not got["bird6"].startswith("Established")
    good, bad = got["ours"][topo.daemon_v4], got["ours"][topo.daemon_v6]
    assert good["state"] == "Established"
    assert bad["state"] != "Established"
    assert bad["established"] == 0
    assert f"connection to {topo.daemon_v6} port 179 timed out" in bad["last_error"], bad
    assert "MD5" in bad["last_error"], bad


# ------------------------------------------------------------------------------------------
# 8: graceful restart, we are the restarting speaker and BIRD the helper.
# ------------------------------------------------------------------------------------------


async def _graceful_restart(topo: Topology, bird: Bird) -> dict[str, Any]:
    def config(restarting: bool) -> SpeakerConfig:
        return SpeakerConfig(asn=OUR_AS, router_id=topo.ours_v4, restarting=restarting,
                             peers=(PeerConfig(topo.daemon_v4, peer_asn=BIRD_AS,
                                               families=("ipv4-unicast",), graceful_restart=True,
                                               restart_time=60, connect_retry_time=1.0),))

    def prefixes() -> list[str]:
        return sorted(r["prefix"] for r in bird.routes("master4", "ours4"))

    both = ["10.1.0.0/24", "10.2.0.0/24"]
    seen: dict[str, Any] = {}
    first = Speaker(config(False))
    await first.start()
    try:
        await first.wait_established(timeout=WAIT_SECONDS)
        first.announce([Route(ip_network(p)) for p in both])
        await first.drain()
        await poll(prefixes, lambda got: got == both, what="A and B in BIRD")
        seen["first"] = statuses(first)[topo.daemon_v4]
    finally:
        await first.stop(graceful=True)
    # While we are down BIRD keeps both (stale), its session not Established.
    await poll(lambda: bird.protocol_state("ours4"), lambda s: not s.startswith("Established"),
               what="BIRD noticing we went")
    seen["down"] = await hold(prefixes, lambda got: got == both, 1.0, "A and B kept while down")
    seen["down_state"] = bird.protocol_state("ours4")
    seen["down_info"] = bird.protocol_info("ours4")

    second = Speaker(config(True))
    async with second:
        await second.wait_established(timeout=WAIT_SECONDS)
        second.announce(Route(ip_network("10.1.0.0/24")))
        await second.drain()
        # No End-of-RIB yet: BIRD keeps the stale B.
        seen["before_eor"] = await hold(prefixes, lambda got: got == both, 1.5,
                                        "B kept before End-of-RIB")
        seen["eor_sent_before"] = statuses(second)[topo.daemon_v4]["end_of_rib_sent"]
        second.initial_routes_done()
        seen["after_eor"] = await poll(prefixes, lambda got: got == ["10.1.0.0/24"],
                                       what="B flushed after End-of-RIB")
        seen["second"] = statuses(second)[topo.daemon_v4]
    return seen


def test_graceful_restart_bird_keeps_routes() -> None:
    with topology("sb-gr") as topo:
        peers = [BirdPeer("ours4", topo.ours_v4, OUR_AS, local_address=topo.daemon_v4,
                          ipv6=False, passive=True, graceful_restart=True, gr_time=60)]
        with Bird(topo.ns_daemon, bird_config(BIRD_AS, topo.daemon_v4, peers)) as bird:
            got = run_speaker(topo.ns_ours, _graceful_restart, topo, bird, daemons=(bird,))

    assert got["first"]["graceful_restart"] is True
    # BIRD is the graceful-restart helper: its restart timer runs (RFC 4724 §4.2).
    assert "Restart timer" in got["down_info"], got["down_info"]
    assert got["down"] == ["10.1.0.0/24", "10.2.0.0/24"], got["down_state"]
    assert got["before_eor"] == ["10.1.0.0/24", "10.2.0.0/24"]
    assert got["eor_sent_before"] == []
    assert got["after_eor"] == ["10.1.0.0/24"]
    assert got["second"]["end_of_rib_sent"] == ["ipv4-unicast"]
    assert got["second"]["graceful_restart"] is True


# ------------------------------------------------------------------------------------------
# 9: route refresh both ways.
# ------------------------------------------------------------------------------------------


async def _refresh(topo: Topology, bird: Bird) -> dict[str, Any]:
    cfg = SpeakerConfig(asn=OUR_AS, router_id=topo.ours_v4, peers=(
        PeerConfig(topo.daemon_v4, peer_asn=BIRD_AS, families=("ipv4-unicast",),
                   connect_retry_time=1.0),))
    events: list[PeerEvent] = []
    async with Speaker(cfg) as sp:
        sp.on_event(events.append)
        await sp.wait_established(timeout=WAIT_SECONDS)
        sp.announce(Route(ip_network("10.1.0.0/24"), med=10))
        await sp.drain()
        await sp.wait_route(BIRD_V4.prefix, timeout=WAIT_SECONDS)
        await sp.wait_end_of_rib(timeout=WAIT_SECONDS)
        await poll(lambda: bird.routes("master4", "ours4"), has("10.1.0.0/24"))
        before = statuses(sp)[topo.daemon_v4]
        # We ask BIRD: it sends its routes again.
        sp.refresh(topo.daemon_v4)
        await wait_until(lambda: sp.status(topo.daemon_v4)[0].updates_received
                         > before["updates_received"])
        after_ours = statuses(sp)[topo.daemon_v4]
        # BIRD asks us: we send ours again.
        await asyncio.to_thread(bird.birdc, "reload", "in", "ours4")
        await wait_until(lambda: any(e.kind == "route-refresh" for e in events))
        await sp.drain()
        bird4 = await hold(lambda: bird.routes("master4", "ours4"), has("10.1.0.0/24"), 0.5,
                           "our route in BIRD after its refresh")
        return {"before": before, "after_ours": after_ours, "after_theirs": statuses(sp),
                "route": route_data(sp.best(BIRD_V4.prefix)), "bird4": bird4,
                "kinds": [e.kind for e in events], "state": bird.protocol_state("ours4"),
                "bird_log": bird.log_tail()}


def test_route_refresh_both_ways() -> None:
    with topology("sb-rr") as topo:
        peers = [BirdPeer("ours4", topo.ours_v4, OUR_AS, local_address=topo.daemon_v4,
                          ipv6=False, passive=True)]
        with Bird(topo.ns_daemon, bird_config(BIRD_AS, topo.daemon_v4, peers,
                                              static4=[BIRD_V4])) as bird:
            got = run_speaker(topo.ns_ours, _refresh, topo, bird, daemons=(bird,))

    before, after = got["before"], got["after_ours"]
    assert after["updates_received"] > before["updates_received"]
    assert after["established"] == 1
    assert got["route"]["med"] == 50
    theirs = got["after_theirs"][topo.daemon_v4]
    assert "route-refresh" in got["kinds"], got["bird_log"]
    assert theirs["updates_sent"] > before["updates_sent"]
    assert theirs["established"] == 1
    assert got["state"] == "Established"
    assert one(got["bird4"], "10.1.0.0/24")["med"] == 10


# ------------------------------------------------------------------------------------------
# 10: wrong AS both ways (OPEN Message Error / Bad Peer AS).
# ------------------------------------------------------------------------------------------


async def _wrong_as(topo: Topology) -> dict[str, Any]:
    cfg = SpeakerConfig(asn=OUR_AS, router_id=topo.ours_v4, peers=(
        PeerConfig(topo.daemon_v4, peer_asn=65099, families=("ipv4-unicast",),
                   connect_retry_time=1.0),
        PeerConfig(topo.daemon_v6, peer_asn=BIRD_AS, families=("ipv6-unicast",),
                   connect_retry_time=1.0),
    ))
    async with Speaker(cfg) as sp:
        await wait_until(lambda: all(s.last_error_code for s in sp.status()))
        return statuses(sp)


def test_wrong_as_both_ways() -> None:
    with topology("sb-as") as topo:
        peers = [
            BirdPeer("ours4", topo.ours_v4, OUR_AS, local_address=topo.daemon_v4, ipv6=False,
                     passive=True),
            BirdPeer("ours6", topo.ours_v6, 65098, local_address=topo.daemon_v6, ipv4=False,
                     passive=True),
        ]
        with Bird(topo.ns_daemon, bird_config(BIRD_AS, topo.daemon_v4, peers)) as bird:
            got = run_speaker(topo.ns_ours, _wrong_as, topo)
            bird_v4 = bird.protocol_state("ours4")

    ours_wrong, theirs_wrong = got[topo.daemon_v4], got[topo.daemon_v6]
    # We expected AS 65099: we refused BIRD's OPEN.
    assert (ours_wrong["last_error_code"], ours_wrong["last_error_subcode"]) == (2, 2)
    assert ours_wrong["last_notification_sent"] is True
    assert "NOTIFICATION sent" in ours_wrong["last_error"]
    assert ours_wrong["established"] == 0
    # BIRD expected AS 65098 from us: it refused ours.
    assert (theirs_wrong["last_error_code"], theirs_wrong["last_error_subcode"]) == (2, 2)
    assert theirs_wrong["last_notification_sent"] is False
    assert "NOTIFICATION received" in theirs_wrong["last_error"]
    assert theirs_wrong["established"] == 0
    assert not bird_v4.startswith("Established")


# ------------------------------------------------------------------------------------------
# 11: live change of MED and communities.
# ------------------------------------------------------------------------------------------


async def _update_peer(topo: Topology, bird: Bird) -> dict[str, Any]:
    peer = PeerConfig(topo.daemon_v4, peer_asn=BIRD_AS, families=("ipv4-unicast",),
                      med=5, communities=("65002:1",), connect_retry_time=1.0)
    cfg = SpeakerConfig(asn=OUR_AS, router_id=topo.ours_v4, peers=(peer,))

    def ours() -> list[dict[str, Any]]:
        return bird.routes("master4", "ours4")

    async with Speaker(cfg) as sp:
        await sp.wait_established(timeout=WAIT_SECONDS)
        sp.announce([Route(ip_network("10.1.0.0/24")), Route(ip_network("10.2.0.0/24"))])
        await sp.drain()
        before = await poll(ours, lambda rs: len(rs) == 2 and all(r["med"] == 5 for r in rs))
        since = _since(bird, "ours4")
        await sp.update_peer(PeerConfig(
            topo.daemon_v4, peer_asn=BIRD_AS, families=("ipv4-unicast",), med=20,
            communities=("65002:2", "65002:3"), large_communities=("4200000002:1:1",),
            connect_retry_time=1.0))
        await sp.drain()
        after = await poll(ours, lambda rs: len(rs) == 2 and all(r["med"] == 20 for r in rs),
                           what="the new MED in BIRD")
        return {"before": before, "after": after, "since": since,
                "since_after": _since(bird, "ours4"), "status": statuses(sp)[topo.daemon_v4],
                "state": bird.protocol_state("ours4")}


def test_update_peer_live() -> None:
    with topology("sb-live") as topo:
        peers = [BirdPeer("ours4", topo.ours_v4, OUR_AS, local_address=topo.daemon_v4,
                          ipv6=False, passive=True)]
        with Bird(topo.ns_daemon, bird_config(BIRD_AS, topo.daemon_v4, peers)) as bird:
            got = run_speaker(topo.ns_ours, _update_peer, topo, bird, daemons=(bird,))

    assert all(r["communities"] == ["65002:1"] for r in got["before"])
    for route in got["after"]:
        assert route["med"] == 20
        assert route["communities"] == ["65002:2", "65002:3"]
        assert route["large_communities"] == ["4200000002:1:1"]
    assert got["state"] == "Established"
    assert got["since_after"] == got["since"]  # BIRD's session never went down
    assert got["status"]["established"] == 1
    assert got["status"]["connections"] == 1
    assert re.match(r"\d", got["since"])
