"""The Importer against the real kernel, in private namespaces (veth interfaces)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Sequence
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import pytest

from netlinkbgp import testing
from netlinkbgp.errors import LocalProtocolError
from netlinkbgp.importer import ImportConfig, Importer, VrfImport, is_connected
from netlinkbgp.route import Route, RouteDistinguisher, RouteEvent, parse_route_target

pytestmark = pytest.mark.usefixtures("netns")

RD = RouteDistinguisher.parse("64512:7")
RT = parse_route_target("64512:100")


class Recorder:
    """A sink that remembers every event and wakes waiters."""

    def __init__(self) -> None:
        self.events: list[RouteEvent] = []
        self.changed = asyncio.Event()

    def apply(self, events: Sequence[RouteEvent]) -> None:
        self.events.extend(events)
        self.changed.set()

    def current(self) -> dict[tuple[str, str], Route]:
        state: dict[tuple[str, str], Route] = {}
        for event in self.events:
            if event.route is None:
                continue
            key = (event.route.vrf, str(event.route.prefix))
            if event.kind == "announce":
                state[key] = event.route
            else:
                state.pop(key, None)
        return state

    async def until(self, check: Callable[[dict[tuple[str, str], Route]], bool],
                    timeout: float = 5.0) -> float:
        """Wait until ``check(current())``; returns how long it took."""
        started = time.perf_counter()
        while not check(self.current()):
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), timeout)
        return time.perf_counter() - started


def _links(*names: str) -> None:
    for index, name in enumerate(names):
        testing.veth_pair(name, f"peer{index}")


def _keys(state: dict[tuple[str, str], Route]) -> set[tuple[str, str]]:
    return set(state)


def _globs_body() -> dict[str, Any]:
    _links("lb0", "lb1", "eth9")
    testing.ip("addr", "add", "192.0.2.1/24", "dev", "lb0")
    testing.ip("-6", "addr", "add", "2001:db8:1::1/64", "dev", "lb1", "nodad")
    testing.ip("addr", "add", "198.51.100.1/24", "dev", "eth9")

    async def main() -> dict[str, Any]:
        out: dict[str, Any] = {}
        sink = Recorder()
        importer = Importer(ImportConfig(interfaces=("lb*",), resync_interval=0))
        importer.subscribe(sink)
        async with importer:
            out["initial"] = sorted(_keys(sink.current()))
            out["eor"] = sink.events[-1].kind
            route = sink.current()[("", "192.0.2.0/24")]
            out["route"] = (str(route.next_hops[0].address), route.next_hops[0].ifindex,
                            route.source, int(route.origin))
            # Add and remove an address: an event, not a poll.
            testing.ip("addr", "add", "203.0.113.1/24", "dev", "lb1")
            out["add_latency"] = await sink.until(lambda s: ("", "203.0.113.0/24") in s)
            testing.ip("addr", "del", "203.0.113.1/24", "dev", "lb1")
            await sink.until(lambda s: ("", "203.0.113.0/24") not in s)
            # Interface down: its routes are withdrawn; up again: back.
            testing.ip("link", "set", "lb0", "down")
            await sink.until(lambda s: ("", "192.0.2.0/24") not in s)
            testing.ip("link", "set", "lb0", "up")
            await sink.until(lambda s: ("", "192.0.2.0/24") in s)
            # Renamed out of the pattern (a rename needs the link down), then back.
            testing.ip("link", "set", "lb1", "down")
            testing.ip("link", "set", "lb1", "name", "xx1")
            testing.ip("link", "set", "xx1", "up")
            testing.ip("addr", "add", "203.0.113.1/24", "dev", "xx1")
            await asyncio.sleep(0.2)  # give a wrong announce the chance to show up
            out["renamed_away"] = sorted(_keys(sink.current()))
            testing.ip("link", "set", "xx1", "down")
            testing.ip("link", "set", "xx1", "name", "lb7")
            testing.ip("link", "set", "lb7", "up")
            # IPv4 addresses survive the down/up; the kernel re-adds the connected route.
            await sink.until(lambda s: ("", "203.0.113.0/24") in s)
            out["final"] = sorted(_keys(sink.current()))
            out["stats"] = dataclasses.asdict(importer.stats())
            out["routes"] = sorted(str(r.prefix) for r in importer.routes())
        return out
    return asyncio.run(main())


def test_globs_events_down_up_and_rename() -> None:
    out = testing.run_in_netns(_globs_body)
    # eth9 is not imported; IPv6 link-local routes never are.
    assert out["initial"] == [("", "192.0.2.0/24"), ("", "2001:db8:1::/64")]
    assert out["eor"] == "end-of-rib"
    assert out["route"][0] == "0.0.0.0" and out["route"][2] == "netlink:lb0"
    assert out["route"][3] == 0  # origin IGP
    assert out["add_latency"] < 0.5
    # Down removed lb1's IPv6 address (the kernel flushes IPv6 addresses on down).
    assert out["renamed_away"] == [("", "192.0.2.0/24")]
    assert set(out["final"]) == {("", "192.0.2.0/24"), ("", "203.0.113.0/24")}
    assert out["routes"] == sorted(p for _, p in out["final"])
    stats = out["stats"]
    assert (stats["imported"], stats["withdrawn"], stats["errors"]) == (5, 3, 0)
    assert stats["routes"] == 2 and stats["last_import_time"] and stats["last_withdraw_time"]


def _vrf_body() -> dict[str, Any]:
    _links("lb0", "red0", "red1")
    testing.ip("addr", "add", "192.0.2.1/24", "dev", "lb0")
    testing.ip("addr", "add", "10.1.0.1/24", "dev", "red0")
    testing.ip("addr", "add", "10.2.0.1/24", "dev", "red1")

    async def main() -> dict[str, Any]:
        red = VrfImport("red", RD, (RT,), ("red*",))
        blue = VrfImport("blue", RouteDistinguisher.parse("192.0.2.1:9"), (), ("red1", "lb0"))
        config = ImportConfig(interfaces=("lb*",), vrfs=(red, blue), resync_interval=0)
        sink = Recorder()
        async with Importer(config) as importer:
            importer.subscribe(sink)  # after start: gets the state, then end-of-rib
            state = sink.current()
            out = {"keys": sorted(state), "eor": sink.events[-1].kind,
                   "red": (str(state[("red", "10.1.0.0/24")].rd),
                           state[("red", "10.1.0.0/24")].ext_communities),
                   "blue_rd": str(state[("blue", "10.2.0.0/24")].rd)}
            # Reload: red stops importing red1; only that difference is published.
            before = len(sink.events)
            importer.reload(dataclasses.replace(
                config, vrfs=(VrfImport("red", RD, (RT,), ("red0",)), blue)))
            out["reload_events"] = [(e.kind, e.route.vrf if e.route else "",
                                     str(e.route.prefix) if e.route else "")
                                    for e in sink.events[before:]]
        return out
    return asyncio.run(main())


def test_per_vrf_import_with_rd_and_route_targets_and_reload() -> None:
    out = testing.run_in_netns(_vrf_body)
    assert out["keys"] == [("", "192.0.2.0/24"), ("blue", "10.2.0.0/24"),
                           ("blue", "192.0.2.0/24"), ("red", "10.1.0.0/24"),
                           ("red", "10.2.0.0/24")]
    assert out["eor"] == "end-of-rib"
    assert out["red"] == ("64512:7", (RT,))
    assert out["blue_rd"] == "192.0.2.1:9"
    assert out["reload_events"] == [("withdraw", "red", "10.2.0.0/24")]


def _global_into_vrf_body() -> list[tuple[str, str, str]]:
    _links("lb0")
    testing.ip("addr", "add", "192.0.2.1/24", "dev", "lb0")

    async def main() -> list[tuple[str, str, str]]:
        config = ImportConfig(interfaces=("lb0",), vrf="red",
                              vrfs=(VrfImport("red", RD, (RT,)),), resync_interval=0)
        async with Importer(config) as importer:
            return [(r.vrf, str(r.prefix), str(r.rd)) for r in importer.routes()]
    return asyncio.run(main())


def test_import_into_a_vrf() -> None:
    assert testing.run_in_netns(_global_into_vrf_body) == [("red", "192.0.2.0/24", "64512:7")]


def _overrun_body(batch: Path) -> dict[str, Any]:
    _links("lb0")

    async def main() -> dict[str, Any]:
        sink = Recorder()
        config = ImportConfig(interfaces=("lb0",), resync_interval=0, rcvbuf=4096)
        async with Importer(config) as importer:
            importer.subscribe(sink)
            # Churn: 600 addresses added in one go overflow a 4 KiB event buffer.
            testing.ip("-batch", str(batch))
            await sink.until(lambda s: len(s) == 600, timeout=20)
            stats = importer.stats()
            return {"routes": len(importer.routes()), "overruns": stats.overruns,
                    "resyncs": stats.resyncs, "state": len(sink.current())}
    return asyncio.run(main())


def test_overrun_triggers_a_resync_with_the_right_final_state(tmp_path: Path) -> None:
    batch = tmp_path / "addrs.txt"
    batch.write_text("".join(f"addr add 10.{i // 250}.{i % 250}.1/24 dev lb0\n"
                             for i in range(600)))
    out = testing.run_in_netns(_overrun_body, batch)
    assert out["overruns"] >= 1 and out["resyncs"] >= 1
    assert out["routes"] == out["state"] == 600


def test_config_is_checked() -> None:
    with pytest.raises(LocalProtocolError, match="not among the configured vrfs"):
        ImportConfig(interfaces=("a",), vrf="nope")
    with pytest.raises(LocalProtocolError, match="not a str"):
        ImportConfig(interfaces="lb*")  # type: ignore[arg-type]


def test_is_connected_filters() -> None:
    from netlinkbgp.codec.constants import RtmType
    from netlinkbgp.codec.messages import build_route

    def route(prefix: str, **kw: Any) -> Any:
        return build_route(RtmType.RTM_NEWROUTE, ip_network(prefix), oif=2, protocol=2, **kw)

    assert is_connected(route("10.0.0.0/24"))
    assert not is_connected(route("fe80::/64"))
    assert not is_connected(route("ff00::/8"))
    assert not is_connected(route("10.0.0.0/24", table=255))
    assert not is_connected(route("10.0.0.0/24")._replace(protocol=186))
