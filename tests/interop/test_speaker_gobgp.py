"""Our Speaker against GoBGP: sessions over IPv4 and IPv6 (eBGP and iBGP), attributes in
both directions, VPNv4/VPNv6 with RD, route targets and labels, TCP MD5, route refresh, OPEN
errors and live changes.

GoBGP runs in ``topo.ns_daemon``; our Speaker runs in a child forked into ``topo.ns_ours``
(:func:`tests.interop.ours.run_speaker`) and returns plain data for the assertions here.
GoBGP is passive except in :func:`test_ours_passive`: its first outgoing connection comes
seconds late, ours at once.
"""

from __future__ import annotations

import asyncio
from ipaddress import ip_network
from typing import Any

import pytest

from netlinkbgp import PeerConfig, PeerEvent, Route, RouteDistinguisher, Speaker, SpeakerConfig
from netlinkbgp.route import parse_community, parse_large_community, parse_route_target
from tests.interop.daemons import Gobgp, GobgpPeer, Topology, gobgp_config, topology
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

pytestmark = [pytest.mark.interop, pytest.mark.usefixtures("gobgp_available")]

GOBGP_AS = 65001
OUR_AS = 4200000002


def _gobgp(topo: Topology, peers: list[GobgpPeer]) -> Gobgp:
    return Gobgp(topo.ns_daemon, gobgp_config(GOBGP_AS, topo.daemon_v4, peers))


def _uptime(neighbor: dict[str, Any]) -> Any:
    """GoBGP's "established since" of a neighbour (the uptime timestamp)."""
    return neighbor.get("timers", {}).get("state", {}).get("uptime")


# ------------------------------------------------------------------------------------------
# 1-3: eBGP over IPv4 with a 4-byte AS, iBGP over IPv6 with LOCAL_PREF; we connect.
# ------------------------------------------------------------------------------------------


async def _exchange(topo: Topology, gobgp: Gobgp, passive: bool) -> dict[str, Any]:
    cfg = SpeakerConfig(
        asn=OUR_AS, router_id=topo.ours_v4, listen_address="::" if passive else None,
        peers=(
            PeerConfig(topo.daemon_v4, peer_asn=GOBGP_AS, families=("ipv4-unicast",),
                       passive=passive, communities=("65002:99",), connect_retry_time=1.0),
            PeerConfig(topo.daemon_v6, peer_asn=GOBGP_AS, local_asn=GOBGP_AS,
                       families=("ipv6-unicast",), passive=passive, local_pref=300,
                       connect_retry_time=1.0),
        ))
    async with Speaker(cfg) as sp:
        await sp.wait_established(timeout=WAIT_SECONDS + (10 if passive else 0))
        sp.announce([
            Route(ip_network("10.1.0.0/24"), med=10, communities=(parse_community("65002:7"),),
                  large_communities=(parse_large_community("4200000002:7:8"),)),
            Route(ip_network("2001:db8:1::/48"), med=20,
                  communities=(parse_community("65001:8"),),
                  large_communities=(parse_large_community("65001:8:9"),)),
        ])
        await sp.drain()
        ours4 = await sp.wait_route("10.20.0.0/24", timeout=WAIT_SECONDS)
        ours6 = await sp.wait_route("2001:db8:20::/48", timeout=WAIT_SECONDS)
        rib4 = await poll(lambda: gobgp.adj_in(topo.ours_v4, "ipv4"), has("10.1.0.0/24"),
                          what="our IPv4 route in GoBGP")
        rib6 = await poll(lambda: gobgp.adj_in(topo.ours_v6, "ipv6"), has("2001:db8:1::/48"),
                          what="our IPv6 route in GoBGP")
        return {"ours4": route_data(ours4), "ours6": route_data(ours6), "rib4": rib4,
                "rib6": rib6, "status": statuses(sp),
                "states": [gobgp.neighbor_state(a) for a in (topo.ours_v4, topo.ours_v6)]}


def _check_exchange(topo: Topology, got: dict[str, Any]) -> None:
    assert got["states"] == ["established", "established"]
    v4, v6 = got["status"][topo.daemon_v4], got["status"][topo.daemon_v6]
    assert (v4["local_asn"], v4["remote_asn"], v4["families"]) == (
        OUR_AS, GOBGP_AS, ["ipv4-unicast"])
    assert (v6["local_asn"], v6["remote_asn"], v6["families"]) == (
        GOBGP_AS, GOBGP_AS, ["ipv6-unicast"])

    ours4, ours6 = got["ours4"], got["ours6"]
    assert ours4["as_path"] == [GOBGP_AS]
    assert ours4["next_hops"] == [topo.daemon_v4]
    assert (ours4["med"], ours4["communities"], ours4["large_communities"]) == (
        30, ["65001:20"], ["65001:2:0"])
    assert ours4["local_pref"] is None  # eBGP
    assert ours6["as_path"] == []  # iBGP
    assert topo.daemon_v6 in ours6["next_hops"]
    assert (ours6["med"], ours6["local_pref"], ours6["communities"],
            ours6["large_communities"]) == (31, 150, ["65001:21"], ["65001:2:1"])

    rib4 = one(got["rib4"], "10.1.0.0/24")
    assert rib4["as_path"] == [OUR_AS]  # GoBGP prints it asdot; the parser turns it back
    assert rib4["next_hop"] == topo.ours_v4
    assert (rib4["med"], rib4["origin"]) == (10, "IGP")
    assert rib4["communities"] == ["65002:7", "65002:99"]
    assert rib4["large_communities"] == ["4200000002:7:8"]
    assert rib4["local_pref"] is None
    rib6 = one(got["rib6"], "2001:db8:1::/48")
    assert rib6["as_path"] == []
    assert rib6["next_hop"] == topo.ours_v6
    assert (rib6["med"], rib6["local_pref"]) == (20, 300)
    assert rib6["communities"] == ["65001:8"]
    assert rib6["large_communities"] == ["65001:8:9"]


def _exchange_peers(topo: Topology, passive: bool) -> list[GobgpPeer]:
    return [
        GobgpPeer(topo.ours_v4, OUR_AS, passive=not passive, families=("ipv4-unicast",)),
        GobgpPeer(topo.ours_v6, GOBGP_AS, passive=not passive, families=("ipv6-unicast",)),
    ]


def _add_exchange_routes(gobgp: Gobgp) -> None:
    gobgp.add_route("10.20.0.0/24", med=30, communities=["65001:20"],
                    large_communities=["65001:2:0"])
    gobgp.add_route("2001:db8:20::/48", family="ipv6", med=31, local_pref=150,
                    communities=["65001:21"], large_communities=["65001:2:1"])


def test_sessions_and_attributes_both_ways() -> None:
    with topology("sg-ex") as topo, _gobgp(topo, _exchange_peers(topo, False)) as gobgp:
        _add_exchange_routes(gobgp)
        got = run_speaker(topo.ns_ours, _exchange, topo, gobgp, False, daemons=(gobgp,))
    _check_exchange(topo, got)


def test_ours_passive() -> None:
    """GoBGP connects to us (its first attempt comes a few seconds after it starts)."""
    with topology("sg-pa") as topo, _gobgp(topo, _exchange_peers(topo, True)) as gobgp:
        _add_exchange_routes(gobgp)
        got = run_speaker(topo.ns_ours, _exchange, topo, gobgp, True, daemons=(gobgp,))
    _check_exchange(topo, got)
    assert all(s["attempts"] == 0 for s in got["status"].values()), got["status"]


# ------------------------------------------------------------------------------------------
# 6: VPNv4 / VPNv6.
# ------------------------------------------------------------------------------------------


async def _vpn(topo: Topology, gobgp: Gobgp) -> dict[str, Any]:
    cfg = SpeakerConfig(asn=OUR_AS, router_id=topo.ours_v4, peers=(
        PeerConfig(topo.daemon_v4, peer_asn=GOBGP_AS, families=("l3vpn-ipv4-unicast",),
                   connect_retry_time=1.0),
        PeerConfig(topo.daemon_v6, peer_asn=GOBGP_AS, families=("l3vpn-ipv6-unicast",),
                   connect_retry_time=1.0),
    ))
    async with Speaker(cfg) as sp:
        await sp.wait_established(timeout=WAIT_SECONDS)
        sp.announce([
            Route(ip_network("10.60.0.0/24"), rd=RouteDistinguisher.parse("65002:60"),
                  labels=(300,), ext_communities=(parse_route_target("65002:60"),), med=7),
            Route(ip_network("2001:db8:60::/48"), rd=RouteDistinguisher.parse("65002:66"),
                  labels=(301,), ext_communities=(parse_route_target("65002:66"),)),
        ])
        await sp.drain()
        ours4 = await sp.wait_route("10.50.0.0/24", rd=RouteDistinguisher.parse("65001:50"),
                                    timeout=WAIT_SECONDS)
        ours6 = await sp.wait_route("2001:db8:50::/48", rd=RouteDistinguisher.parse("65001:56"),
                                    timeout=WAIT_SECONDS)
        rib4 = await poll(lambda: gobgp.rib("vpnv4"),
                          lambda rs: any(r["prefix"] == "10.60.0.0/24" for r in rs),
                          what="our VPNv4 route in GoBGP")
        rib6 = await poll(lambda: gobgp.rib("vpnv6"),
                          lambda rs: any(r["prefix"] == "2001:db8:60::/48" for r in rs),
                          what="our VPNv6 route in GoBGP")
        return {"ours4": route_data(ours4), "ours6": route_data(ours6),
                "wrong_rd": route_data(sp.best("10.50.0.0/24",
                                               rd=RouteDistinguisher.parse("65001:51"))),
                "unicast": route_data(sp.best("10.50.0.0/24")),
                "rib4": rib4, "rib6": rib6, "status": statuses(sp)}


def test_vpn_both_ways() -> None:
    peers = [
        GobgpPeer("10.77.0.2", OUR_AS, passive=True, families=("l3vpn-ipv4-unicast",)),
        GobgpPeer("fd00:77::2", OUR_AS, passive=True, families=("l3vpn-ipv6-unicast",)),
    ]
    with topology("sg-vpn") as topo, _gobgp(topo, peers) as gobgp:
        gobgp.add_route("10.50.0.0/24", family="vpnv4", rd="65001:50", rt=["65001:50"],
                        label=200, med=5)
        gobgp.add_route("2001:db8:50::/48", family="vpnv6", rd="65001:56", rt=["65001:56"],
                        label=201)
        got = run_speaker(topo.ns_ours, _vpn, topo, gobgp, daemons=(gobgp,))

    assert got["status"][topo.daemon_v4]["families"] == ["l3vpn-ipv4-unicast"]
    assert got["status"][topo.daemon_v6]["families"] == ["l3vpn-ipv6-unicast"]
    ours4, ours6 = got["ours4"], got["ours6"]
    assert (ours4["rd"], ours4["labels"], ours4["ext_communities"]) == (
        "65001:50", [200], ["rt:65001:50"])
    assert (ours4["as_path"], ours4["med"], ours4["next_hops"]) == (
        [GOBGP_AS], 5, [topo.daemon_v4])
    assert (ours6["rd"], ours6["labels"], ours6["ext_communities"]) == (
        "65001:56", [201], ["rt:65001:56"])
    assert topo.daemon_v6 in ours6["next_hops"]
    assert got["wrong_rd"] is None and got["unicast"] is None

    rib4 = one(got["rib4"], "10.60.0.0/24")
    assert (rib4["rd"], rib4["labels"], rib4["ext_communities"]) == (
        "65002:60", [300], ["(rt, 65002, 60)"])
    assert (rib4["as_path"], rib4["med"], rib4["next_hop"]) == ([OUR_AS], 7, topo.ours_v4)
    rib6 = one(got["rib6"], "2001:db8:60::/48")
    assert (rib6["rd"], rib6["labels"], rib6["ext_communities"]) == (
        "65002:66", [301], ["(rt, 65002, 66)"])
    assert (rib6["as_path"], rib6["next_hop"]) == ([OUR_AS], topo.ours_v6)


# ------------------------------------------------------------------------------------------
# 7: TCP MD5.
# ------------------------------------------------------------------------------------------


async def _md5(topo: Topology, gobgp: Gobgp) -> dict[str, Any]:
    cfg = SpeakerConfig(asn=OUR_AS, router_id=topo.ours_v4, peers=(
        PeerConfig(topo.daemon_v4, peer_asn=GOBGP_AS, families=("ipv4-unicast",),
                   md5_password="s3cret-pw", connect_retry_time=1.0),
        PeerConfig(topo.daemon_v6, peer_asn=GOBGP_AS, families=("ipv6-unicast",),
                   md5_password="not-the-pw", connect_retry_time=1.0),
    ))
    async with Speaker(cfg) as sp:
        await sp.wait_established(topo.daemon_v4, timeout=WAIT_SECONDS)
        await wait_until(lambda: sp.status(topo.daemon_v6)[0].last_error)
        return {"ours": statuses(sp), "v4": gobgp.neighbor_state(topo.ours_v4),
                "v6": gobgp.neighbor_state(topo.ours_v6)}


def test_md5_match_and_mismatch() -> None:
    peers = [
        GobgpPeer("10.77.0.2", OUR_AS, passive=True, md5_password="s3cret-pw",
                  families=("ipv4-unicast",)),
        GobgpPeer("fd00:77::2", OUR_AS, passive=True, md5_password="s3cret-pw",
                  families=("ipv6-unicast",)),
    ]
    with topology("sg-md5") as topo, _gobgp(topo, peers) as gobgp:
        got = run_speaker(topo.ns_ours, _md5, topo, gobgp, daemons=(gobgp,))

    assert got["v4"] == "established"
    assert got["v6"] != "established"
    good, bad = got["ours"][topo.daemon_v4], got["ours"][topo.daemon_v6]
    assert good["state"] == "Established"
    assert bad["state"] != "Established" and bad["established"] == 0
    assert f"connection to {topo.daemon_v6} port 179 timed out" in bad["last_error"], bad
    assert "MD5" in bad["last_error"], bad


# ------------------------------------------------------------------------------------------
# 9 and 11: route refresh both ways, then a live change of MED and communities.
# ------------------------------------------------------------------------------------------


async def _refresh_and_live(topo: Topology, gobgp: Gobgp) -> dict[str, Any]:
    peer = PeerConfig(topo.daemon_v4, peer_asn=GOBGP_AS, families=("ipv4-unicast",), med=5,
                      communities=("65002:1",), connect_retry_time=1.0)
    cfg = SpeakerConfig(asn=OUR_AS, router_id=topo.ours_v4, peers=(peer,))
    events: list[PeerEvent] = []

    def adj_in() -> list[dict[str, Any]]:
        return gobgp.adj_in(topo.ours_v4, "ipv4")

    seen: dict[str, Any] = {}
    async with Speaker(cfg) as sp:
        sp.on_event(events.append)
        await sp.wait_established(timeout=WAIT_SECONDS)
        sp.announce([Route(ip_network("10.1.0.0/24")), Route(ip_network("10.2.0.0/24"))])
        await sp.drain()
        # (GoBGP sends End-of-RIB only with graceful restart: nothing to wait for here.)
        await sp.wait_route("10.20.0.0/24", timeout=WAIT_SECONDS)
        await poll(adj_in, lambda rs: len(rs) == 2)
        seen["neighbor_before"] = await asyncio.to_thread(gobgp.neighbor, topo.ours_v4)
        seen["before"] = before = statuses(sp)[topo.daemon_v4]

        # We ask GoBGP: it sends its routes again.
        sp.refresh(topo.daemon_v4)
        await wait_until(lambda: sp.status(topo.daemon_v4)[0].updates_received
                           > before["updates_received"])
        seen["after_ours"] = statuses(sp)[topo.daemon_v4]
        seen["route"] = route_data(sp.best("10.20.0.0/24"))

        # `gobgp neighbor ADDR softresetin`: GoBGP 3.10 keeps its Adj-RIB-In and only runs its
        # import policy over it again; it sends no ROUTE-REFRESH (its log says "Neighbor soft
        # reset in" and nothing reaches us), so what can be checked is that our routes and
        # the session stay. (BIRD's `reload in` does send one: test_speaker_bird.py.)
        await asyncio.to_thread(gobgp.cli, "neighbor", topo.ours_v4, "softresetin")
        await sp.drain()
        seen["after_theirs"] = statuses(sp)[topo.daemon_v4]
        seen["adj_in_refreshed"] = await hold(adj_in, lambda rs: len(rs) == 2, 0.3,
                                              "our routes in GoBGP after its refresh")

        # A live change: new MED and communities, the same session.
        await sp.update_peer(PeerConfig(
            topo.daemon_v4, peer_asn=GOBGP_AS, families=("ipv4-unicast",), med=20,
            communities=("65002:2", "65002:3"), large_communities=("4200000002:1:1",),
            connect_retry_time=1.0))
        await sp.drain()
        seen["adj_in_live"] = await poll(
            adj_in, lambda rs: len(rs) == 2 and all(r["med"] == 20 for r in rs),
            what="the new MED in GoBGP")
        seen["neighbor_after"] = await asyncio.to_thread(gobgp.neighbor, topo.ours_v4)
        seen["after_live"] = statuses(sp)[topo.daemon_v4]
        seen["kinds"] = [e.kind for e in events]
    return seen


def test_route_refresh_and_live_change() -> None:
    peers = [GobgpPeer("10.77.0.2", OUR_AS, passive=True, families=("ipv4-unicast",))]
    with topology("sg-rr") as topo, _gobgp(topo, peers) as gobgp:
        gobgp.add_route("10.20.0.0/24", med=30)
        got = run_speaker(topo.ns_ours, _refresh_and_live, topo, gobgp, daemons=(gobgp,))

    before = got["before"]
    assert got["after_ours"]["updates_received"] > before["updates_received"]
    assert got["route"]["med"] == 30
    assert got["after_theirs"]["state"] == "Established"
    assert all(r["med"] == 5 and r["communities"] == ["65002:1"]
               for r in got["adj_in_refreshed"])
    for route in got["adj_in_live"]:
        assert route["communities"] == ["65002:2", "65002:3"]
        assert route["large_communities"] == ["4200000002:1:1"]
    after = got["after_live"]
    assert (after["established"], after["connections"], after["state"]) == (1, 1, "Established")
    # GoBGP's session never went down: same "up since", no new flap.
    nb_before, nb_after = got["neighbor_before"], got["neighbor_after"]
    assert _uptime(nb_before) is not None, nb_before
    assert _uptime(nb_after) == _uptime(nb_before)
    assert nb_after["state"].get("flops", 0) == nb_before["state"].get("flops", 0)


# ------------------------------------------------------------------------------------------
# 10: wrong AS both ways.
# ------------------------------------------------------------------------------------------


async def _wrong_as(topo: Topology) -> dict[str, Any]:
    cfg = SpeakerConfig(asn=OUR_AS, router_id=topo.ours_v4, peers=(
        PeerConfig(topo.daemon_v4, peer_asn=65099, families=("ipv4-unicast",),
                   connect_retry_time=1.0),
        PeerConfig(topo.daemon_v6, peer_asn=GOBGP_AS, families=("ipv6-unicast",),
                   connect_retry_time=1.0),
    ))
    async with Speaker(cfg) as sp:
        await wait_until(lambda: all(s.last_error_code for s in sp.status()))
        return statuses(sp)


def test_wrong_as_both_ways() -> None:
    peers = [
        GobgpPeer("10.77.0.2", OUR_AS, passive=True, families=("ipv4-unicast",)),
        GobgpPeer("fd00:77::2", 65098, passive=True, families=("ipv6-unicast",)),
    ]
    with topology("sg-as") as topo, _gobgp(topo, peers):
        got = run_speaker(topo.ns_ours, _wrong_as, topo)

    ours_wrong, theirs_wrong = got[topo.daemon_v4], got[topo.daemon_v6]
    assert (ours_wrong["last_error_code"], ours_wrong["last_error_subcode"]) == (2, 2)
    assert ours_wrong["last_notification_sent"] is True
    assert ours_wrong["established"] == 0
    assert (theirs_wrong["last_error_code"], theirs_wrong["last_error_subcode"]) == (2, 2)
    assert theirs_wrong["last_notification_sent"] is False
    assert "NOTIFICATION received" in theirs_wrong["last_error"]
    assert theirs_wrong["established"] == 0
