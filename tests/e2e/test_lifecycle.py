"""The real process's life: kill -9 and restart (stale routes of ours reconciled, another
protocol's route untouched), SIGHUP reload by difference (a peer added, a rule changed,
nothing else touched; a broken file rejected with key and line, the old config kept),
SIGTERM (Cease, routes withdrawn, kernel routes removed) and graceful restart with BIRD
(SIGTERM leaves routes everywhere; ``--graceful-restart`` brings the session back and BIRD
keeps our routes throughout).
"""

from __future__ import annotations

import threading
import time

import pytest

from tests.e2e.harness import (
    GOBGP_PORT,
    GOBGP_V4,
    Neighbor,
    Netlinkbgpd,
    RouteMonitor,
    dsts,
    gobgp_beside,
    ip_routes,
    ours_toml,
    wait_for,
)
from tests.e2e.test_import import OUR_AS, PEER_AS, bird_peers, dummy, ip, our_neighbors
from tests.interop.daemons import (
    Bird,
    BirdStatic,
    Topology,
    bird_config,
    topology,
)

pytestmark = [pytest.mark.e2e]

EXPORT_ALL = """
[netlink.export]
  enabled = true
  dampening-interval = 0
  [[netlink.export.rules]]
    name = "all"
    table-id = 100
    validate-nexthop = false
"""

STATIC4 = [BirdStatic(f"10.{100 + n}.0.0/24") for n in range(5)]


def table(ns: str, number: str, proto: str = "186", family: int = 4) -> set[str]:
    return dsts(ip_routes(ns, "table", number, "proto", proto, family=family))


# ------------------------------------------------------------------------------------------
# 4. Stale cleanup on restart.
# ------------------------------------------------------------------------------------------


def test_kill9_then_restart_reconciles_stale_routes() -> None:
    with topology("e2e-stale") as topo:
        ns = topo.ns_ours
        ip(ns, "route", "add", "10.200.0.0/24", "dev", topo.if_ours, "table", "100",
           "proto", "static")
        config = ours_toml(OUR_AS, topo.ours_v4, our_neighbors(topo)[:1], EXPORT_ALL)
        all_prefixes = {s.prefix for s in STATIC4}
        with Bird(topo.ns_daemon, bird_config(PEER_AS, topo.daemon_v4, bird_peers(topo)[:1],
                                              static4=STATIC4)) as bird, \
                Netlinkbgpd(ns, config) as ours:
            wait_for(lambda: table(ns, "100"), lambda got: got == all_prefixes,
                     what="BIRD's routes in table 100", log=ours.log_tail)
            ours.kill9()
            # Nothing cleaned up: our routes stay in the kernel. Meanwhile BIRD drops one
            # route and someone (a previous run, say) left one more of our protocol.
            assert table(ns, "100") == all_prefixes
            bird.configure(bird_config(PEER_AS, topo.daemon_v4, bird_peers(topo)[:1],
                                       static4=STATIC4[1:]))
            ip(ns, "route", "add", "10.250.0.0/24", "via", topo.daemon_v4, "table", "100",
               "proto", "186")
            assert table(ns, "100") == all_prefixes | {"10.250.0.0/24"}
            ours.start()
            ours.wait_established(topo.daemon_v4)
            want = all_prefixes - {STATIC4[0].prefix}
            wait_for(lambda: table(ns, "100"), lambda got: got == want,
                     what="table 100 reconciled with BIRD", log=ours.log_tail)
            exported = ours.ctl("ListNetlinkExport")
            statics = table(ns, "100", "static")
    assert {r["prefix"] for r in exported} == want
    assert statics == {"10.200.0.0/24"}  # another protocol's route: untouched


# ------------------------------------------------------------------------------------------
# 7. SIGHUP reload.
# ------------------------------------------------------------------------------------------

RELOAD_RULES = """
[netlink.export]
  enabled = true
  dampening-interval = 0
  [[netlink.export.rules]]
    name = "kept"
    community-list = ["65001:100"]
    table-id = 100
    validate-nexthop = false
  [[netlink.export.rules]]
    name = "moved"
    community-list = ["65001:200"]
    table-id = {moved}
    validate-nexthop = false
"""


def _reload_config(topo: Topology, moved: int, with_gobgp: bool) -> str:
    neighbors = our_neighbors(topo)[:1]
    if with_gobgp:
        neighbors.append(Neighbor(GOBGP_V4, 65003, ("ipv4-unicast",), remote_port=GOBGP_PORT))
    return ours_toml(OUR_AS, topo.ours_v4, neighbors,
                     RELOAD_RULES.replace("{moved}", str(moved)))


def _since(bird: Bird, name: str) -> str:
    """The "Since" column of ``show protocols NAME`` (when its state last changed)."""
    for line in bird.birdc("show", "protocols", name).splitlines():
        if line.startswith(name + " "):
            return line.split()[4]
    raise AssertionError(f"no protocol {name}")


def _line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_sighup_applies_only_the_difference_and_rejects_a_broken_file() -> None:
    kept = [BirdStatic(f"10.100.{n}.0/24", communities=("65001:100",)) for n in range(3)]
    moved = [BirdStatic(f"10.101.{n}.0/24", communities=("65001:200",)) for n in range(2)]
    with topology("e2e-hup") as topo:
        ns = topo.ns_ours
        gobgp = gobgp_beside(topo, 65003, OUR_AS, ("ipv4-unicast",))
        with Bird(topo.ns_daemon, bird_config(PEER_AS, topo.daemon_v4, bird_peers(topo)[:1],
                                              static4=kept + moved)) as bird, \
                gobgp, \
                Netlinkbgpd(ns, _reload_config(topo, 101, False)) as ours:
            ours.wait_established(topo.daemon_v4)
            wait_for(lambda: (table(ns, "100"), table(ns, "101")),
                     lambda got: got == ({s.prefix for s in kept}, {s.prefix for s in moved}),
                     what="routes in tables 100 and 101", log=ours.log_tail)
            before_peer = ours.peers()[topo.daemon_v4]
            before_stats = ours.ctl("GetNetlinkExportStats")
            bird_since = _since(bird, "ours4")

            # Reload: a peer added, one rule moved to another table.
            with RouteMonitor(ns) as monitor:
                ours.reconfigure(_reload_config(topo, 102, True))
                wait_for(lambda: table(ns, "102"), lambda got: got == {s.prefix for s in moved},
                         what="the moved rule's routes in table 102", log=ours.log_tail)
                wait_for(lambda: table(ns, "101"), lambda got: not got,
                         what="table 101 emptied", log=ours.log_tail)
                # Every change the kernel announced reached the monitor before the dump
                # above saw its result; wait for the last one to be printed.
                wait_for(lambda: sum("table 101" in line for line in monitor.lines),
                         lambda n: n >= len(moved), what="deletes from table 101 monitored")
            lines = monitor.lines
            ours.wait_established(topo.daemon_v4, GOBGP_V4)
            gobgp.wait_state(topo.ours_v4)
            after_peer = ours.peers()[topo.daemon_v4]
            bird_since_after = _since(bird, "ours4")
            after_stats = ours.ctl("GetNetlinkExportStats")
            rules = ours.ctl("ListNetlinkExportRules")

            # A broken file: the daemon says which key on which line and keeps running.
            errors = {}
            for name, broken_line, key in (
                    ("bad peer-as", '    peer-as = "x"', "neighbors[0].config.peer-as"),
                    ("unknown key", "    bogus-key = 1", "bogus-key")):
                text = _reload_config(topo, 103, True)
                text = text.replace("    peer-as = 65001", broken_line, 1) \
                    if "peer-as" in broken_line else text.replace(
                        "  [neighbors.timers.config]",
                        "  [neighbors.timers.config]\n" + broken_line, 1)
                line = _line_of(text, broken_line.strip())
                before = len(ours.log_text())
                ours.reconfigure(text)
                logged = wait_for(lambda b=before: ours.log_text()[b:],  # type: ignore[misc]
                                  lambda t: "reload rejected" in t, what=f"{name} rejected",
                                  log=ours.log_tail)
                errors[name] = (logged, key, line)
            still = ours.ctl("ListNetlinkExportRules")
            peers_after_broken = ours.peers()
            tables_after_broken = (table(ns, "100"), table(ns, "102"), table(ns, "103"))
            assert ours.proc is not None and ours.proc.poll() is None

    # Only the difference: the BIRD session was not touched, table 100 not rewritten.
    assert after_peer["established"] == before_peer["established"] == 1
    assert after_peer["connections"] == before_peer["connections"]
    assert bird_since_after == bird_since
    assert not [line for line in lines if "table 100" in line], lines
    assert after_stats["exported"] - before_stats["exported"] == len(moved)
    assert after_stats["withdrawn"] - before_stats["withdrawn"] == len(moved)
    assert [r["table_id"] for r in rules] == [100, 102]
    for name, (logged, key, line) in errors.items():
        assert key in logged and f"line {line}" in logged, (name, logged)
    assert still == rules
    assert set(peers_after_broken) == {topo.daemon_v4, GOBGP_V4}
    assert tables_after_broken == ({s.prefix for s in kept}, {s.prefix for s in moved}, set())


# ------------------------------------------------------------------------------------------
# 8. SIGTERM, with and without graceful restart.
# ------------------------------------------------------------------------------------------

IMPORT_AND_EXPORT = """
[netlink.import]
  enabled = true
  interface-list = ["lb0"]
""" + EXPORT_ALL


def test_sigterm_sends_cease_withdraws_and_removes_kernel_routes() -> None:
    with topology("e2e-term") as topo:
        ns = topo.ns_ours
        dummy(ns, "lb0", "192.0.2.1/28")
        config = ours_toml(OUR_AS, topo.ours_v4, our_neighbors(topo)[:1], IMPORT_AND_EXPORT)
        with Bird(topo.ns_daemon, bird_config(PEER_AS, topo.daemon_v4, bird_peers(topo)[:1],
                                              static4=STATIC4)) as bird, \
                Netlinkbgpd(ns, config) as ours:
            wait_for(lambda: table(ns, "100"), lambda got: len(got) == len(STATIC4),
                     what="BIRD's routes in table 100", log=ours.log_tail)
            bird.wait_routes(lambda rs: [r["prefix"] for r in rs] == ["192.0.2.0/28"],
                             protocol="ours4")
            code = ours.terminate()
            info = bird.protocol_info("ours4")
            left_in_bird = bird.routes("master4", "ours4")
            left_in_kernel = table(ns, "100")
            log = ours.log_text()
    assert code == 0, log
    assert "stopped" in log
    assert "Cease" in info.get("Last error", "") or "shutdown" in info.get(
        "Last error", "").lower(), info
    assert left_in_bird == []
    assert left_in_kernel == set()


GR = """
[netlink.import]
  enabled = true
  interface-list = ["lb0"]
""" + EXPORT_ALL


def _watch(stop: threading.Event, bird: Bird, ns: str, seen: list[tuple[bool, int]]) -> None:
    """Until ``stop``: whether BIRD has our route, and how many kernel routes of ours are in
    table 100, every poll."""
    while not stop.is_set():
        ours = any(r["prefix"] == "192.0.2.0/28" for r in bird.routes("master4", "ours4"))
        seen.append((ours, len(table(ns, "100"))))
        time.sleep(0.05)


def test_graceful_restart_keeps_routes_in_bird_and_kernel() -> None:
    with topology("e2e-gr") as topo:
        ns = topo.ns_ours
        dummy(ns, "lb0", "192.0.2.1/28")
        config = ours_toml(OUR_AS, topo.ours_v4, our_neighbors(topo)[:1], GR,
                           graceful_restart=True, restart_time=60)
        bird_conf = bird_config(PEER_AS, topo.daemon_v4,
                                bird_peers(topo, graceful_restart=True, gr_time=60)[:1],
                                static4=STATIC4)
        with Bird(topo.ns_daemon, bird_conf) as bird, Netlinkbgpd(ns, config) as ours:
            peer = ours.wait_established(topo.daemon_v4)[topo.daemon_v4]
            assert peer["graceful_restart"] is True, peer
            wait_for(lambda: table(ns, "100"), lambda got: len(got) == len(STATIC4),
                     what="BIRD's routes in table 100", log=ours.log_tail)
            bird.wait_routes(lambda rs: [r["prefix"] for r in rs] == ["192.0.2.0/28"],
                             protocol="ours4")
            code = ours.terminate()
            # Gone, but BIRD keeps our route (stale) and the kernel keeps BIRD's.
            held = bird.routes("master4", "ours4")
            state_while_down = bird.protocol_state("ours4")
            kernel_while_down = table(ns, "100")

            seen: list[tuple[bool, int]] = []
            stop = threading.Event()
            watcher = threading.Thread(target=_watch, args=(stop, bird, ns, seen))
            watcher.start()
            monitor = RouteMonitor(ns).start()
            try:
                ours.start(restarting=True)
                peers = wait_for(ours.peers, lambda ps: ps[topo.daemon_v4]["state"] ==
                                 "Established" and ps[topo.daemon_v4]["end_of_rib_sent"],
                                 what="session back and our End-of-RIB sent",
                                 log=ours.log_tail)
                wait_for(lambda: table(ns, "100"), lambda got: len(got) == len(STATIC4),
                         what="BIRD's routes in table 100 again", log=ours.log_tail)
                # BIRD ends its stale period at our End-of-RIB; our route must still be there.
                after = bird.wait_routes(
                    lambda rs: [r["prefix"] for r in rs] == ["192.0.2.0/28"], protocol="ours4")
            finally:
                stop.set()
                watcher.join(10)
                changes = monitor.stop()
            log = ours.log_text()
    assert code == 0, log
    assert [r["prefix"] for r in held] == ["192.0.2.0/28"], (held, state_while_down)
    assert not state_while_down.startswith("Established")
    assert kernel_while_down == {s.prefix for s in STATIC4}
    assert peers[topo.daemon_v4]["end_of_rib_sent"] == ["ipv4-unicast"]
    assert [r["prefix"] for r in after] == ["192.0.2.0/28"]
    assert seen and all(ours for ours, _ in seen), seen
    # RFC 4724 §4.1: forwarding state is retained across the restart; the routes BIRD sends
    # again are adopted as they are, so the kernel sees no change at all in table 100.
    flapped = [c.strip() for c in changes if "table 100" in c]
    assert not flapped, f"kernel routes flapped during the graceful restart: {flapped}"
