"""Export, end to end: routes BIRD announces (with and without communities, IPv4 and IPv6)
land in the kernel tables the real daemon's rules name: the main table, numbered tables,
a metric, one route in two tables, a large community match, and ONLINK routes when
next-hop validation is off. A route BIRD withdraws leaves every table.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.harness import Netlinkbgpd, dsts, ip_routes, ours_toml, wait_for
from tests.e2e.test_import import OUR_AS, PEER_AS, bird_peers, ip, our_neighbors
from tests.interop.daemons import Bird, BirdStatic, Topology, bird_config, topology

pytestmark = [pytest.mark.e2e]

RULES = """
[netlink.export]
  enabled = true
  dampening-interval = 0

  [[netlink.export.rules]]
    name = "main"
    community-list = ["65001:100"]

  [[netlink.export.rules]]
    name = "numbered"
    community-list = ["65001:200"]
    table-id = 100
    metric = 50

  [[netlink.export.rules]]
    name = "multi-a"
    community-list = ["65001:300"]
    table-id = 101
    validate-nexthop = false

  [[netlink.export.rules]]
    name = "multi-b"
    community-list = ["65001:300", "65001:999"]
    table-id = 102
    validate-nexthop = false

  [[netlink.export.rules]]
    name = "large"
    large-community-list = ["65001:1:2"]
    table-id = 103

  [[netlink.export.rules]]
    name = "onlink"
    community-list = ["65001:400"]
    table-id = 104
    validate-nexthop = false

  [[netlink.export.rules]]
    name = "everything"
    table-id = 200
"""

STATIC4 = [
    BirdStatic("10.100.0.0/24", communities=("65001:100",)),
    BirdStatic("10.101.0.0/24", communities=("65001:200",)),
    BirdStatic("10.102.0.0/24", communities=("65001:300",)),
    BirdStatic("10.103.0.0/24", large_communities=("65001:1:2",)),
    BirdStatic("10.104.0.0/24", communities=("65001:400",)),
    BirdStatic("10.105.0.0/24"),  # no community: only the rule without lists takes it
]
STATIC6 = [
    BirdStatic("2001:db8:100::/48", communities=("65001:100",)),
    BirdStatic("2001:db8:104::/48", communities=("65001:400",)),
    BirdStatic("2001:db8:105::/48"),
]

#: Every (table, prefix) we expect, and the tables where validation needs a route to the
#: next hop (validation is scoped to the rule's table).
EXPECTED4 = {
    "main": {"10.100.0.0/24"},
    "100": {"10.101.0.0/24"},
    "101": {"10.102.0.0/24"},
    "102": {"10.102.0.0/24"},
    "103": {"10.103.0.0/24"},
    "104": {"10.104.0.0/24"},
    "200": {s.prefix for s in STATIC4},
}
EXPECTED6 = {
    "main": {"2001:db8:100::/48"},
    "100": set(), "101": set(), "102": set(), "103": set(),
    "104": {"2001:db8:104::/48"},
    "200": {s.prefix for s in STATIC6},
}


def _static_reach(topo: Topology, tables: tuple[str, ...]) -> None:
    """A route to the peer in each validating numbered table, of another protocol
    (``static``): the exporter must validate against it and never touch it."""
    for table in tables:
        ip(topo.ns_ours, "route", "add", f"10.77.0.0/{topo.prefix_len_v4}", "dev",
           topo.if_ours, "table", table, "proto", "static")
        ip(topo.ns_ours, "-6", "route", "add", f"fd00:77::/{topo.prefix_len_v6}", "dev",
           topo.if_ours, "table", table, "proto", "static")


def ours_tables(ns: str, tables: Any, family: int) -> dict[str, list[dict[str, Any]]]:
    return {t: ip_routes(ns, "table", t, "proto", "186", family=family) for t in tables}


def test_export_rules_tables_metric_multi_large_onlink_v4_v6() -> None:
    with topology("e2e-exp") as topo:
        ns = topo.ns_ours
        _static_reach(topo, ("100", "103", "200"))
        config = ours_toml(OUR_AS, topo.ours_v4, our_neighbors(topo), RULES)
        bird_conf = bird_config(PEER_AS, topo.daemon_v4, bird_peers(topo), static4=STATIC4,
                                static6=STATIC6)
        with Bird(topo.ns_daemon, bird_conf) as bird, Netlinkbgpd(ns, config) as ours:
            ours.wait_established(topo.daemon_v4, topo.daemon_v6)

            def both() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
                return ({t: dsts(rs) for t, rs in ours_tables(ns, EXPECTED4, 4).items()},
                        {t: dsts(rs) for t, rs in ours_tables(ns, EXPECTED6, 6).items()})

            wait_for(both, lambda got: got == (EXPECTED4, EXPECTED6),
                     what="every route in its tables", log=ours.log_tail)
            v4 = ours_tables(ns, EXPECTED4, 4)
            v6 = ours_tables(ns, EXPECTED6, 6)
            exported = ours.ctl("ListNetlinkExport")
            stats = ours.ctl("GetNetlinkExportStats")

            # BIRD withdraws 10.102.0.0/24 (in two tables) and 2001:db8:104::/48.
            bird.configure(bird_config(
                PEER_AS, topo.daemon_v4, bird_peers(topo),
                static4=[s for s in STATIC4 if s.prefix != "10.102.0.0/24"],
                static6=[s for s in STATIC6 if s.prefix != "2001:db8:104::/48"]))
            after4 = {t: set(p) - {"10.102.0.0/24"} for t, p in EXPECTED4.items()}
            after6 = {t: set(p) - {"2001:db8:104::/48"} for t, p in EXPECTED6.items()}
            wait_for(both, lambda got: got == (after4, after6),
                     what="withdrawn routes gone from every table", log=ours.log_tail)
            statics = ip_routes(ns, "table", "200", "proto", "static")

    def one(routes: list[dict[str, Any]], prefix: str) -> dict[str, Any]:
        found = [r for r in routes if r["dst"] == prefix]
        assert len(found) == 1, (prefix, routes)
        return found[0]

    main = one(v4["main"], "10.100.0.0/24")
    assert (main["gateway"], main["dev"], main["metric"]) == (topo.daemon_v4, topo.if_ours, 20)
    assert "onlink" not in main.get("flags", [])
    assert one(v4["100"], "10.101.0.0/24")["metric"] == 50
    for table in ("101", "102", "104"):  # validate-nexthop = false: ONLINK on the device
        route = v4[table][0]
        assert route["flags"] == ["onlink"], route
        assert (route["gateway"], route["dev"]) == (topo.daemon_v4, topo.if_ours)
    assert "onlink" not in one(v4["200"], "10.104.0.0/24").get("flags", [])
    v6_main = one(v6["main"], "2001:db8:100::/48")
    assert v6_main["dev"] == topo.if_ours and v6_main["metric"] == 20
    assert v6_main["gateway"] in (topo.daemon_v6, topo.daemon_ll)
    assert one(v6["104"], "2001:db8:104::/48")["flags"] == ["onlink"]
    # The daemon's view matches the kernel's, and nothing failed.
    listed = {(r["prefix"], r["table"]) for r in exported}
    assert len(listed) == len(exported) == sum(map(len, EXPECTED4.values())) + sum(
        map(len, EXPECTED6.values()))
    assert ("10.102.0.0/24", 101) in listed and ("10.102.0.0/24", 102) in listed
    assert stats["errors"] == 0, stats
    assert stats["installed"] == len(exported)
    # The other protocol's route in a table we export to is still there.
    assert dsts(statics) == {f"10.77.0.0/{topo.prefix_len_v4}"}
