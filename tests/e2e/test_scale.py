"""Scale and churn with the real process: over a thousand routes each way with exact final
counts, then a CI-sized soak (flapping on both sides) that must end with exactly the
expected kernel tables and BGP routes, and without file descriptors or memory growing.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.e2e.harness import Netlinkbgpd, dsts, ip_routes, ours_toml, wait_for
from tests.e2e.test_import import OUR_AS, PEER_AS, bird_peers, dummy, ip, our_neighbors
from tests.interop.daemons import Bird, BirdStatic, _run, bird_config, topology

pytestmark = [pytest.mark.e2e]

CONFIG = """
[netlink.import]
  enabled = true
  interface-list = ["lb*"]

[netlink.export]
  enabled = true
  [[netlink.export.rules]]
    name = "all"
    table-id = 100
    validate-nexthop = false
"""

#: Routes each way in the scale test.
SCALE_ROUTES = 1200


def _static(count: int, second: int = 0, community: str | None = None) -> list[BirdStatic]:
    """``count`` /24s from 10.128.0.0 up (third octet first)."""
    comms = (community,) if community else ()
    return [BirdStatic(f"10.{128 + n // 256}.{n % 256}.0/24", communities=comms)
            for n in range(second, second + count)]


def _addresses(count: int, start: int = 0) -> list[str]:
    """``count`` addresses, each its own /24 (so its own connected route), from 172.20.0.1."""
    return [f"172.{20 + n // 256}.{n % 256}.1/24" for n in range(start, start + count)]


def _batch(ns: str, lines: list[str]) -> None:
    _run(["ip", "-n", ns, "-batch", "-"], input_="\n".join(lines) + "\n", timeout=60)


def _bird_count(bird: Bird, protocol: str, table: str = "master4") -> int:
    out = bird.birdc("show", "route", "count", "table", table, "protocol", protocol)
    match = re.search(r"(\d+) of \d+ routes", out)
    return int(match.group(1)) if match else 0


def _kernel_count(ns: str) -> int:
    return len(ip_routes(ns, "table", "100", "proto", "186"))


def test_thousand_plus_routes_each_way_exact_counts() -> None:
    with topology("e2e-scale") as topo:
        ns = topo.ns_ours
        dummy(ns, "lb0")
        config = ours_toml(OUR_AS, topo.ours_v4, our_neighbors(topo)[:1], CONFIG)
        bird_conf = bird_config(PEER_AS, topo.daemon_v4, bird_peers(topo)[:1],
                                static4=_static(SCALE_ROUTES))
        with Bird(topo.ns_daemon, bird_conf) as bird, Netlinkbgpd(ns, config) as ours:
            # BIRD -> our kernel table.
            wait_for(lambda: _kernel_count(ns), lambda n: n == SCALE_ROUTES,
                     what=f"{SCALE_ROUTES} routes in table 100", log=ours.log_tail)
            # Our interfaces -> BIRD: 1,200 connected routes, then 400 of them removed.
            _batch(ns, [f"addr add {a} dev lb0" for a in _addresses(SCALE_ROUTES)])
            wait_for(lambda: _bird_count(bird, "ours4"), lambda n: n == SCALE_ROUTES,
                     what=f"{SCALE_ROUTES} of our routes in BIRD", log=ours.log_tail)
            _batch(ns, [f"addr del {a} dev lb0" for a in _addresses(400)])
            wait_for(lambda: _bird_count(bird, "ours4"), lambda n: n == SCALE_ROUTES - 400,
                     what="800 of our routes left in BIRD", log=ours.log_tail)
            # BIRD drops half of its routes: exactly those leave the kernel.
            bird.configure(bird_config(PEER_AS, topo.daemon_v4, bird_peers(topo)[:1],
                                       static4=_static(SCALE_ROUTES // 2)))
            wait_for(lambda: _kernel_count(ns), lambda n: n == SCALE_ROUTES // 2,
                     what="half of BIRD's routes left in table 100", log=ours.log_tail)
            kernel = dsts(ip_routes(ns, "table", "100", "proto", "186"))
            in_bird = {r["prefix"] for r in bird.routes("master4", "ours4")}
            stats = ours.ctl("GetStats")
    assert kernel == {s.prefix for s in _static(SCALE_ROUTES // 2)}
    assert in_bird == {a.replace(".1/24", ".0/24") for a in _addresses(800, 400)}
    assert stats["export"]["installed"] == SCALE_ROUTES // 2
    assert stats["export"]["errors"] == 0 and stats["import"]["errors"] == 0
    assert stats["import"]["routes"] == SCALE_ROUTES - 400


# ------------------------------------------------------------------------------------------
# 6. Churn soak.
# ------------------------------------------------------------------------------------------

#: How long the soak flaps, seconds (CI-sized).
SOAK_SECONDS = 24.0
#: Open file descriptors the daemon may gain between the middle and the end of the soak
#: (a connection or an event socket being replaced at the moment of sampling).
FD_SLACK = 4
#: Resident memory the daemon may gain between the middle and the end of the soak, KiB:
#: the allocator keeps freed arenas; a leak of per-route state over ~100 flaps of ~300
#: routes grows far more than this.
RSS_SLACK_KIB = 16 * 1024


def test_churn_soak_leaves_exact_tables_and_no_growth() -> None:
    stable = _static(150)
    flapping = _static(150, 150, community="65001:7")
    ours_stable = _addresses(50)
    ours_flapping = _addresses(100, 50)
    with topology("e2e-soak") as topo:
        ns = topo.ns_ours
        dummy(ns, "lb0", *ours_stable)
        dummy(ns, "lb1")
        config = ours_toml(OUR_AS, topo.ours_v4, our_neighbors(topo)[:1], CONFIG)

        def bird_text(with_flapping: bool) -> str:
            return bird_config(PEER_AS, topo.daemon_v4, bird_peers(topo)[:1],
                               static4=stable + (flapping if with_flapping else []))

        with Bird(topo.ns_daemon, bird_text(True)) as bird, Netlinkbgpd(ns, config) as ours:
            wait_for(lambda: _kernel_count(ns), lambda n: n == 300,
                     what="BIRD's 300 routes in table 100", log=ours.log_tail)
            start = time.monotonic()
            mid: tuple[int, int] | None = None
            rounds = 0
            while time.monotonic() - start < SOAK_SECONDS:
                rounds += 1
                up = rounds % 2 == 1
                # BIRD side: its flapping routes withdrawn / announced again.
                bird.configure(bird_text(not up))
                # Our side: addresses on lb1 added / removed, lb0 down and up.
                verb = "add" if up else "del"
                _batch(ns, [f"addr {verb} {a} dev lb1" for a in ours_flapping])
                ip(ns, "link", "set", "lb0", "down" if up else "up")
                time.sleep(0.2)
                if mid is None and time.monotonic() - start > SOAK_SECONDS / 3:
                    mid = (ours.fd_count(), ours.rss_kib())
            # Settle: BIRD announces everything, lb0 up with its addresses, lb1 empty.
            if rounds % 2 == 1:  # the last round left BIRD without its flapping routes ...
                bird.configure(bird_text(True))
                _batch(ns, [f"addr del {a} dev lb1" for a in ours_flapping])
                ip(ns, "link", "set", "lb0", "up")
            want_kernel = {s.prefix for s in stable + flapping}
            want_bird = {a.replace(".1/24", ".0/24") for a in ours_stable}
            wait_for(lambda: dsts(ip_routes(ns, "table", "100", "proto", "186")),
                     lambda got: got == want_kernel, what="table 100 exactly BIRD's routes",
                     log=ours.log_tail)
            wait_for(lambda: {r["prefix"] for r in bird.routes("master4", "ours4")},
                     lambda got: got == want_bird, what="BIRD exactly our stable routes",
                     log=ours.log_tail)
            end = (ours.fd_count(), ours.rss_kib())
            stats = ours.ctl("GetStats")
            peer = ours.peers()[topo.daemon_v4]
    assert mid is not None and rounds >= 10, rounds
    print(f"soak: {rounds} rounds; fds {mid[0]} -> {end[0]}; RSS KiB {mid[1]} -> {end[1]}")
    assert end[0] - mid[0] <= FD_SLACK, f"open fds: {mid[0]} mid-run, {end[0]} at the end"
    assert end[1] - mid[1] <= RSS_SLACK_KIB, f"RSS KiB: {mid[1]} mid-run, {end[1]} at the end"
    assert peer["established"] == 1, peer  # the session never dropped
    assert stats["export"]["installed"] == 300
    assert stats["import"]["routes"] == len(ours_stable)
    assert stats["export"]["errors"] == 0, stats["export"]
