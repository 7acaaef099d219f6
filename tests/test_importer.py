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
from netlinkbgp.codec.constants import IfaFlag, RtmType
from netlinkbgp.codec.messages import AddressMessage
from netlinkbgp.errors import LocalProtocolError
from netlinkbgp.importer import (
    ImportConfig,
    Importer,
    VrfImport,
    address_usable,
    host_prefix,
    is_connected,
)
from netlinkbgp.netlink_io import EventSocket, Overrun
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
    from netlinkbgp.codec.messages import build_route

    def route(prefix: str, **kw: Any) -> Any:
        return build_route(RtmType.RTM_NEWROUTE, ip_network(prefix), oif=2, protocol=2, **kw)

    assert is_connected(route("10.0.0.0/24"))
    assert not is_connected(route("fe80::/64"))
    assert not is_connected(route("ff00::/8"))
    assert not is_connected(route("10.0.0.0/24", table=255))
    assert not is_connected(route("10.0.0.0/24")._replace(protocol=186))
    assert not is_connected(route("::1/128"))  # older kernels put it in main, on lo


# -- host addresses (service VIPs) -----------------------------------------------------------


def _kinds(events: Sequence[RouteEvent], prefix: str) -> list[str]:
    """The kinds of the events about ``prefix``, in order."""
    return [e.kind for e in events if e.route is not None and str(e.route.prefix) == prefix]


def _hosts_body() -> dict[str, Any]:
    lb0, _ = testing.veth_pair("lb0", "peer0")
    testing.veth_pair("eth9", "peer1")
    testing.ip("addr", "add", "192.0.2.1/24", "dev", "lb0")
    testing.ip("addr", "add", "10.1.2.3/32", "dev", "lb0")
    testing.ip("addr", "add", "10.1.2.4/32", "dev", "eth9")  # not a matching interface
    testing.ip("-6", "addr", "add", "2001:db8::10/128", "dev", "lb0", "nodad")
    testing.ip("-6", "addr", "add", "fe80::99/128", "dev", "lb0", "nodad")  # link-local

    async def main() -> dict[str, Any]:
        out: dict[str, Any] = {"lb0": lb0}
        sink = Recorder()
        importer = Importer(ImportConfig(interfaces=("lb*",), resync_interval=0))
        importer.subscribe(sink)
        async with importer:
            out["initial"] = sorted(sink.current())
            state = sink.current()
            vip, vip6 = state[("", "10.1.2.3/32")], state[("", "2001:db8::10/128")]
            out["vip"] = (vip.next_hops, vip.origin, vip.source, vip.vrf)
            out["vip6"] = (vip6.next_hops, vip6.source)
            # Added and removed: events, not a poll.
            testing.ip("addr", "add", "10.1.2.5/32", "dev", "lb0")
            out["add_latency"] = await sink.until(lambda s: ("", "10.1.2.5/32") in s)
            testing.ip("addr", "del", "10.1.2.5/32", "dev", "lb0")
            out["del_latency"] = await sink.until(lambda s: ("", "10.1.2.5/32") not in s)
            # Down withdraws the VIP (the IPv4 address stays on the interface); up re-imports.
            testing.ip("link", "set", "lb0", "down")
            await sink.until(lambda s: ("", "10.1.2.3/32") not in s)
            out["down"] = sorted(sink.current())
            testing.ip("link", "set", "lb0", "up")
            await sink.until(lambda s: ("", "10.1.2.3/32") in s and ("", "192.0.2.0/24") in s)
            out["up"] = sorted(sink.current())
            stats = dataclasses.asdict(importer.stats())
            # Deleted interface: all of it withdrawn.
            testing.ip("link", "del", "lb0")
            await sink.until(lambda s: not s)
            out["stats"] = (stats, dataclasses.asdict(importer.stats()))
            out["events"] = [(e.kind, str(e.route.prefix) if e.route else "")
                             for e in sink.events]
            out["kinds_vip"] = _kinds(sink.events, "10.1.2.3/32")
            out["kinds_vip6"] = _kinds(sink.events, "2001:db8::10/128")
        return out
    return asyncio.run(main())


def test_host_addresses_are_imported_and_withdrawn() -> None:
    out = testing.run_in_netns(_hosts_body)
    # The /24 gives its connected route only; the /32 and /128 give host routes; eth9 and the
    # link-local /128 give nothing.
    assert out["initial"] == [("", "10.1.2.3/32"), ("", "192.0.2.0/24"),
                              ("", "2001:db8::10/128")]
    hops, origin, source, vrf = out["vip"]
    assert [(str(h.address), h.ifindex) for h in hops] == [("0.0.0.0", out["lb0"])]
    assert (int(origin), source, vrf) == (0, "netlink:lb0", "")
    # The kernel's connected /128 and the address are one route with one next hop.
    hops6, source6 = out["vip6"]
    assert [(str(h.address), h.ifindex) for h in hops6] == [("::", out["lb0"])]
    assert source6 == "netlink:lb0"
    assert out["kinds_vip6"] == ["announce", "withdraw"]  # withdrawn when the link went down
    assert out["add_latency"] < 0.5 and out["del_latency"] < 0.5
    # Down: IPv4 routes withdrawn, the IPv6 address flushed by the kernel; up: IPv4 back.
    assert out["down"] == []
    assert out["up"] == [("", "10.1.2.3/32"), ("", "192.0.2.0/24")]
    assert ("announce", "192.0.2.1/32") not in out["events"]  # no /32 twin of the /24
    announces = sum(kind == "announce" for kind, _ in out["events"])
    withdraws = sum(kind == "withdraw" for kind, _ in out["events"])
    stats_up, stats_end = out["stats"]
    assert (stats_end["imported"], stats_end["withdrawn"]) == (announces, withdraws)
    assert (stats_up["routes"], stats_end["routes"], stats_end["errors"]) == (2, 0, 0)
    assert out["kinds_vip"] == ["announce", "withdraw", "announce", "withdraw"]


def _lo_body() -> dict[str, Any]:
    testing.ip("addr", "add", "10.1.2.3/32", "dev", "lo")
    testing.ip("addr", "add", "127.0.0.2/32", "dev", "lo")  # loopback: never
    testing.ip("-6", "addr", "add", "2001:db8::11/128", "dev", "lo")

    async def main() -> dict[str, Any]:
        out: dict[str, Any] = {}
        sink = Recorder()
        async with Importer(ImportConfig(interfaces=("lo",), resync_interval=0)) as importer:
            importer.subscribe(sink)
            out["initial"] = sorted(sink.current())
            testing.ip("addr", "add", "10.9.9.9/32", "dev", "lo")
            await sink.until(lambda s: ("", "10.9.9.9/32") in s)
            before = len(sink.events)
            await importer.resync()  # the view was right: nothing to publish
            out["resync_events"] = len(sink.events) - before
            out["final"] = sorted(sink.current())
            out["prefixes"] = {str(e.route.prefix) for e in sink.events if e.route}
        return out
    return asyncio.run(main())


def test_vip_on_lo_but_never_loopback() -> None:
    out = testing.run_in_netns(_lo_body)
    assert out["initial"] == [("", "10.1.2.3/32"), ("", "2001:db8::11/128")]
    assert out["final"] == [("", "10.1.2.3/32"), ("", "10.9.9.9/32"), ("", "2001:db8::11/128")]
    assert out["resync_events"] == 0
    assert not out["prefixes"] & {"127.0.0.1/32", "127.0.0.2/32", "127.0.0.0/8", "::1/128"}


def _sysctl(path: str, value: int) -> None:
    Path("/proc/sys/net/ipv6", path).write_text(f"{value}\n")


async def _dad_failed(events: EventSocket, address: str, timeout: float) -> None:
    """Wait for the RTM_NEWADDR that says DAD failed for ``address``."""
    async def wait() -> None:
        while True:
            batch = await events.receive()
            if isinstance(batch, Overrun):
                continue
            for msg in batch:
                if (isinstance(msg, AddressMessage) and msg.msg_type == RtmType.RTM_NEWADDR
                        and str(msg.address) == address
                        and msg.all_flags & IfaFlag.IFA_F_DADFAILED):
                    return
    await asyncio.wait_for(wait(), timeout)


def _dad_body() -> dict[str, Any]:
    testing.veth_pair("lb0", "peer0")
    # One DAD probe, 100 ms apart, no random initial delay: DAD ends in about 0.1 s.
    for name in ("lb0", "peer0"):
        _sysctl(f"conf/{name}/dad_transmits", 1)
        _sysctl(f"conf/{name}/router_solicitation_delay", 0)
        _sysctl(f"neigh/{name}/retrans_time_ms", 100)
    testing.ip("-6", "addr", "add", "2001:db8::10/128", "dev", "lb0", "nodad")

    async def main() -> dict[str, Any]:
        out: dict[str, Any] = {}
        sink = Recorder()
        async with Importer(ImportConfig(interfaces=("lb*",), resync_interval=0)) as importer:
            importer.subscribe(sink)
            out["nodad"] = sorted(sink.current())
            # Added while the link is down: it stays tentative, and is not imported, even
            # after a full resync.
            testing.ip("link", "set", "lb0", "down")
            await sink.until(lambda s: not s)  # the kernel flushed ::10 on down
            testing.ip("-6", "addr", "add", "2001:db8::20/128", "dev", "lb0")
            out["tentative_flag"] = "tentative" in testing.ip("-6", "addr", "show", "dev", "lb0")
            await importer.resync()
            out["tentative"] = sorted(sink.current())
            # Up (the peer is up): DAD runs, then the address is imported.
            testing.ip("link", "set", "lb0", "up")
            out["dad_latency"] = await sink.until(
                lambda s: ("", "2001:db8::20/128") in s, timeout=3)
            out["after_dad_flags"] = testing.ip("-6", "addr", "show", "dev", "lb0")
            # A duplicate: peer0 owns ::30, so lb0's DAD fails. Added on a link that is up, so
            # the kernel's connected /128 comes first; neither it nor the address is imported.
            testing.ip("-6", "addr", "add", "2001:db8::30/128", "dev", "peer0", "nodad")
            async with EventSocket() as events:
                testing.ip("-6", "addr", "add", "2001:db8::30/128", "dev", "lb0")
                await _dad_failed(events, "2001:db8::30", timeout=3)
            # Events are ordered: once the marker is in, the DAD failure has been handled.
            testing.ip("-6", "addr", "add", "2001:db8::40/128", "dev", "lb0", "nodad")
            await sink.until(lambda s: ("", "2001:db8::40/128") in s)
            await importer.resync()
            out["final"] = sorted(sink.current())
            out["events_20"] = _kinds(sink.events, "2001:db8::20/128")
            out["events_30"] = _kinds(sink.events, "2001:db8::30/128")
        return out
    return asyncio.run(main())


def test_ipv6_host_addresses_wait_for_dad() -> None:
    out = testing.run_in_netns(_dad_body)
    assert out["nodad"] == [("", "2001:db8::10/128")]
    assert out["tentative_flag"] and out["tentative"] == []
    assert out["dad_latency"] < 3
    assert "2001:db8::20/128 scope global \n" in out["after_dad_flags"]  # no longer tentative
    assert out["events_20"] == ["announce"]
    assert out["events_30"] == []  # not even announced and withdrawn
    assert out["final"] == [("", "2001:db8::20/128"), ("", "2001:db8::40/128")]


def _missed_body() -> dict[str, Any]:
    testing.veth_pair("lb0", "peer0")

    async def main() -> dict[str, Any]:
        out: dict[str, Any] = {}
        sink = Recorder()
        async with Importer(ImportConfig(interfaces=("lb*",), resync_interval=0)) as importer:
            importer.subscribe(sink)
            events = importer._events  # simulate lost events: read and drop them
            assert events is not None
            # The loop does not run during these calls, so their events are still queued.
            testing.ip("addr", "add", "10.1.2.3/32", "dev", "lb0")
            testing.ip("addr", "add", "10.1.2.4/32", "dev", "lb0")
            events.drain()
            await asyncio.sleep(0)
            out["missed"] = sorted(sink.current())
            await importer.resync()
            out["repaired"] = sorted(sink.current())
            testing.ip("addr", "del", "10.1.2.3/32", "dev", "lb0")
            events.drain()
            await importer.resync()
            out["repaired_del"] = sorted(sink.current())
            testing.ip("link", "set", "lb0", "down")
            events.drain()
            await importer.resync()
            out["repaired_down"] = sorted(sink.current())
            out["resyncs"] = importer.stats().resyncs
        return out
    return asyncio.run(main())


def test_resync_repairs_missed_address_events() -> None:
    out = testing.run_in_netns(_missed_body)
    assert out["missed"] == []
    assert out["repaired"] == [("", "10.1.2.3/32"), ("", "10.1.2.4/32")]
    assert out["repaired_del"] == [("", "10.1.2.4/32")]
    assert out["repaired_down"] == []
    assert out["resyncs"] == 3


def _address(family: int, address: str, prefixlen: int, flags: int = 0) -> AddressMessage:
    from ipaddress import ip_address
    return AddressMessage(RtmType.RTM_NEWADDR, 0, 0, 0, family, prefixlen, flags, 0, 2,
                          ((1, ip_address(address).packed),))


def test_host_prefix_and_usable_filters() -> None:
    import socket
    v4, v6 = socket.AF_INET, socket.AF_INET6
    assert host_prefix(_address(v4, "10.1.2.3", 32)) == ip_network("10.1.2.3/32")
    assert host_prefix(_address(v6, "2001:db8::1", 128)) == ip_network("2001:db8::1/128")
    assert host_prefix(_address(v4, "10.1.2.3", 24)) is None  # its connected route instead
    assert host_prefix(_address(v6, "2001:db8::1", 64)) is None
    for family, address in ((v4, "127.0.0.1"), (v4, "0.0.0.0"), (v6, "::1"), (v6, "::"),
                            (v6, "fe80::1"), (v6, "ff02::1"), (v4, "224.0.0.1")):
        full = 32 if family == v4 else 128
        assert host_prefix(_address(family, address, full)) is None, address
    assert address_usable(_address(v6, "2001:db8::1", 128, IfaFlag.IFA_F_NODAD))
    assert not address_usable(_address(v6, "2001:db8::1", 128, IfaFlag.IFA_F_TENTATIVE))
    dadfailed = IfaFlag.IFA_F_TENTATIVE | IfaFlag.IFA_F_DADFAILED
    assert not address_usable(_address(v6, "2001:db8::1", 128, dadfailed))
    # IFA_FLAGS (u32) supersedes the 8-bit ifa_flags.
    flagged = _address(v6, "2001:db8::1", 128)._replace(
        attrs=((1, ip_network("2001:db8::1/128").network_address.packed),
               (8, int(IfaFlag.IFA_F_TENTATIVE))))
    assert not address_usable(flagged)
