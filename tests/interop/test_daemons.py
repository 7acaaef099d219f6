"""Self-check of the interop harness: BIRD 2 and GoBGP peer with each other and each side's
parser reads the other's routes with their attributes intact.

For this check GoBGP runs in the "ours" namespace (no netlinkbgp code is involved).
"""

from __future__ import annotations

import os

import pytest

from tests.interop.daemons import (
    Bird,
    BirdPeer,
    BirdStatic,
    Gobgp,
    GobgpPeer,
    bird_config,
    gobgp_config,
    parse_bird_routes,
    run_in,
    topology,
)

pytestmark = pytest.mark.interop

BIRD_AS = 65001
GOBGP_AS = 65002


def _one(routes: list[dict[str, object]], prefix: str) -> dict[str, object]:
    found = [r for r in routes if r["prefix"] == prefix]
    assert len(found) == 1, f"{prefix} in {routes}"
    return found[0]


def _netns_inode() -> int:
    return os.stat("/proc/self/ns/net").st_ino


@pytest.mark.usefixtures("daemons")
def test_bird_and_gobgp_exchange_routes() -> None:
    with topology("self") as topo:
        # BIRD connects actively (1 s connect delay), GoBGP listens: the quick direction.
        bird_peers = [
            BirdPeer("gobgp4", topo.ours_v4, GOBGP_AS, local_address=topo.daemon_v4,
                     ipv6=False),
            BirdPeer("gobgp6", topo.ours_v6, GOBGP_AS, local_address=topo.daemon_v6,
                     ipv4=False),
        ]
        static4 = [BirdStatic("10.10.0.0/24", communities=((65001, 100), "65001:101"),
                              large_communities=((4200000001, 1, 2),), med=50)]
        gobgp_peers = [
            GobgpPeer(topo.daemon_v4, BIRD_AS, passive=True, families=("ipv4-unicast",)),
            GobgpPeer(topo.daemon_v6, BIRD_AS, passive=True, families=("ipv6-unicast",)),
        ]
        with Gobgp(topo.ns_ours, gobgp_config(GOBGP_AS, topo.ours_v4, gobgp_peers)) as gobgp, \
                Bird(topo.ns_daemon, bird_config(BIRD_AS, topo.daemon_v4, bird_peers,
                                                 static4=static4)) as bird:
            gobgp.add_route("2001:db8:5::/48", family="ipv6", communities=["65002:7"],
                            large_communities=["65002:3:4"], med=9)
            assert bird.wait_state("gobgp4") == "Established"
            assert bird.wait_state("gobgp6") == "Established"
            assert gobgp.wait_state(topo.daemon_v4) == "established"
            assert gobgp.neighbor_state(topo.daemon_v6) == "established"

            got4 = gobgp.wait_rib(lambda rs: any(r["prefix"] == "10.10.0.0/24" for r in rs))
            route = _one(got4, "10.10.0.0/24")
            assert route["next_hop"] == topo.daemon_v4
            assert route["as_path"] == [BIRD_AS]
            assert route["origin"] == "IGP"
            assert route["med"] == 50
            assert route["local_pref"] is None  # eBGP: not sent
            assert route["communities"] == ["65001:100", "65001:101"]
            assert route["large_communities"] == ["4200000001:1:2"]
            assert route["from_neighbor"] == topo.daemon_v4
            assert [r["prefix"] for r in gobgp.adj_in(topo.daemon_v4, "ipv4")] == \
                ["10.10.0.0/24"]

            got6 = bird.wait_routes(lambda rs: bool(rs), table="master6", protocol="gobgp6")
            route = _one(got6, "2001:db8:5::/48")
            assert route["from_protocol"] == "gobgp6"
            assert route["next_hop"] == topo.ours_v6
            assert route["bgp_next_hop"] == [topo.ours_v6]
            assert route["as_path"] == [GOBGP_AS]
            assert route["origin"] == "Incomplete"  # `gobgp global rib add` default
            assert route["med"] == 9
            assert route["local_pref"] == 100  # BIRD's default for routes it learns
            assert route["communities"] == ["65002:7"]
            assert route["large_communities"] == ["65002:3:4"]
            assert route["primary"] is True

            # Our side runs in a forked child inside ns_ours.
            assert run_in(topo.ns_ours, _netns_inode) != _netns_inode()


@pytest.mark.usefixtures("daemons")
def test_md5_password_match_establishes() -> None:
    with topology("md5") as topo:
        bird_peers = [BirdPeer("gobgp", topo.ours_v4, GOBGP_AS, local_address=topo.daemon_v4,
                               ipv6=False, md5_password="s3cret-pw")]
        gobgp_peers = [GobgpPeer(topo.daemon_v4, BIRD_AS, passive=True,
                                 md5_password="s3cret-pw", families=("ipv4-unicast",))]
        with Gobgp(topo.ns_ours, gobgp_config(GOBGP_AS, topo.ours_v4, gobgp_peers)) as gobgp, \
                Bird(topo.ns_daemon, bird_config(BIRD_AS, topo.daemon_v4, bird_peers)) as bird:
            assert bird.wait_state("gobgp") == "Established"
            assert gobgp.wait_state(topo.daemon_v4) == "established"
            assert bird.protocol_info("gobgp")["Neighbor AS"] == str(GOBGP_AS)


#: ``birdc show route all`` from BIRD 2.0.12 (static routes: multipath, extended communities,
#: AS path and local pref set in the route block, a blackhole with MED and communities).
BIRD_SHOW_ROUTE = """\
Table master4:
10.20.0.0/24         unicast [st 21:20:49.882] * (200)
\tvia 10.77.0.2 on nlbi-d0 weight 1
\tvia 10.77.0.3 on nlbi-d0 weight 1
\tType: static univ
\tBGP.as_path: 65003 4200000000
\tBGP.local_pref: 300
\tBGP.ext_community: (rt, 65000, 100) (ro, 10.0.0.1, 5)
10.10.0.0/24         blackhole [static_4 21:20:49.882] * (200)
\tType: static univ
\tBGP.med: 50
\tBGP.community: (65001,100)
\tBGP.large_community: (65001, 1, 2)
"""


def test_parse_bird_routes_multipath_and_ext_communities() -> None:
    multi, hole = parse_bird_routes(BIRD_SHOW_ROUTE)
    assert multi["prefix"] == "10.20.0.0/24"
    assert multi["next_hop"] == ["10.77.0.2", "10.77.0.3"]
    assert multi["as_path"] == [65003, 4200000000]
    assert multi["local_pref"] == 300
    assert multi["ext_communities"] == ["(rt, 65000, 100)", "(ro, 10.0.0.1, 5)"]
    assert multi["from_protocol"] == "st"
    assert hole["dest"] == "blackhole"
    assert hole["next_hop"] is None
    assert (hole["med"], hole["communities"], hole["large_communities"]) == (
        50, ["65001:100"], ["65001:1:2"])
