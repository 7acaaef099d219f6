"""The Exporter: unit tests with a fake command socket, then the real kernel in namespaces.

Kernel test bodies are module-level functions run by ``testing.run_in_netns`` in a forked
child (a fresh network namespace with veth interfaces; numbered tables stand in for VRFs);
they return plain data that the test asserts on.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import socket
import struct
import tempfile
from collections.abc import Callable, Sequence
from ipaddress import ip_address, ip_network
from typing import Any

import pytest

from netlinkbgp import testing
from netlinkbgp.codec.attrs import Unknown
from netlinkbgp.codec.constants import Ifla, IflaInfo, IflaVrf, RtmType, Rtnlgrp
from netlinkbgp.codec.messages import LinkMessage, RouteMessage
from netlinkbgp.codec.route_requests import RouteSpec
from netlinkbgp.errors import InvalidValueError, NetlinkError
from netlinkbgp.export_config import ExportConfig, ExportRule, ExportVrf
from netlinkbgp.exporter import Exporter
from netlinkbgp.netlink_io import EventSocket
from netlinkbgp.route import (
    NextHop,
    Route,
    RouteDistinguisher,
    RouteEvent,
    parse_community,
    parse_large_community,
    parse_route_target,
)

PROTO = 186
#: Kernel tests need a network namespace (skipped without one, failed under CI=true).
kernel = pytest.mark.usefixtures("netns")


def _route(prefix: str, gateway: str, *, communities: Sequence[str] = (),
           large: Sequence[str] = (), ifindex: int = 0, rd: str | None = None,
           rts: Sequence[str] = (), vrf: str = "") -> Route:
    return Route(
        ip_network(prefix), (NextHop(ip_address(gateway), ifindex),),
        communities=tuple(parse_community(c) for c in communities),
        large_communities=tuple(parse_large_community(c) for c in large),
        ext_communities=tuple(parse_route_target(t) for t in rts),
        rd=RouteDistinguisher.parse(rd) if rd else None, vrf=vrf)


def _announce(*routes: Route) -> list[RouteEvent]:
    return [RouteEvent("announce", r) for r in routes]


def _withdraw(*prefixes: str) -> list[RouteEvent]:
    return [RouteEvent("withdraw", Route(ip_network(p))) for p in prefixes]


# -- without a kernel ------------------------------------------------------------------------


class FakeNetlink:
    """Records route requests; every request succeeds unless listed in ``fail``."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int, list[RouteSpec]]] = []
        self.fail: set[bytes] = set()

    async def routes(self, msg_type: int, specs: Sequence[RouteSpec],
                     flags: int = 0) -> list[NetlinkError | None]:
        self.calls.append((msg_type, flags, list(specs)))
        return [NetlinkError(17) if s.dst in self.fail else None for s in specs]

    async def dump_routes(self, family: int = 0, table: int = 0) -> list[RouteMessage]:
        return []

    async def dump_links(self) -> list[LinkMessage]:
        return []

    def close(self) -> None:
        pass


def _offline(config: ExportConfig) -> tuple[Exporter, FakeNetlink]:
    fake = FakeNetlink()
    return Exporter(config, netlink=fake, events=False), fake




def _rule(name: str, **kw: Any) -> ExportRule:
    kw.setdefault("validate_nexthop", False)
    return ExportRule(name, **kw)


def test_matching_semantics_any_listed_community_and_several_tables() -> None:
    rules = [
        _rule("all", table_id=10),
        _rule("c", community_list=["65000:100"], table_id=11),
        _rule("dec", community_list=["4259905636"], table_id=12),  # = 65001:100
        _rule("large", large_community_list=["65000:1:100", "65000:1:200"], table_id=13),
        _rule("either", community_list=["65000:999"], large_community_list=["1:2:3"],
              table_id=14),
    ]
    exporter, _fake = _offline(ExportConfig(dampening_interval=0, rules=rules))
    exporter.apply(_announce(
        _route("192.0.2.0/24", "10.0.0.2", ifindex=3),
        _route("192.0.2.1/32", "10.0.0.2", ifindex=3, communities=["65000:100", "1:1"]),
        _route("192.0.2.2/32", "10.0.0.2", ifindex=3, communities=["65001:100"]),
        _route("192.0.2.3/32", "10.0.0.2", ifindex=3, large=["65000:1:200"]),
        _route("192.0.2.4/32", "10.0.0.2", ifindex=3, large=["1:2:3"]),
    ))
    asyncio.run(exporter.drain())
    got = sorted((str(r.prefix), r.table) for r in exporter.routes())
    assert got == sorted([
        ("192.0.2.0/24", 10), ("192.0.2.1/32", 10), ("192.0.2.1/32", 11),
        ("192.0.2.2/32", 10), ("192.0.2.2/32", 12), ("192.0.2.3/32", 10),
        ("192.0.2.3/32", 13), ("192.0.2.4/32", 10), ("192.0.2.4/32", 14)])
    assert all(r.onlink and r.oif == 3 for r in exporter.routes())


def test_prefix_keys_of_both_families_and_of_subclasses() -> None:
    """apply() packs prefixes itself for the stdlib classes; a subclass goes the public way;
    all give the same routes, and changes to a pending key count as dampened."""
    from ipaddress import IPv4Network, IPv6Network

    class Net4(IPv4Network):
        pass

    class Net6(IPv6Network):
        pass

    nets = ["192.0.2.0/24", "10.0.0.0/8", "0.0.0.0/0", "2001:db8::/64", "::/0",
            "2001:db8::1/128"]
    got = []
    for make4, make6 in ((IPv4Network, IPv6Network), (Net4, Net6)):
        exporter, fake = _offline(ExportConfig(dampening_interval=60_000, rules=[_rule("a")]))
        routes = [dataclasses.replace(
            _route(n, "10.0.0.2" if ":" not in n else "2001:db8::2", ifindex=3),
            prefix=(make6 if ":" in n else make4)(n)) for n in nets]
        exporter.apply(_announce(*routes))
        exporter.apply(_announce(*routes[:2]))
        asyncio.run(exporter.drain())
        assert exporter.stats().dampened == 2
        got.append(([(str(r.prefix), r.table) for r in exporter.routes()],
                     [(s.family, s.dst, s.dst_len) for _t, _f, specs in fake.calls
                      for s in specs]))
    assert got[0] == got[1]
    assert sorted(got[0][0]) == sorted((n, 254) for n in nets)


def test_idempotent_no_kernel_call_when_nothing_changed() -> None:
    exporter, fake = _offline(ExportConfig(dampening_interval=0, rules=[_rule("a")]))
    route = _route("192.0.2.0/24", "10.0.0.2", ifindex=3)
    exporter.apply(_announce(route))
    asyncio.run(exporter.drain())
    assert len(fake.calls) == 1
    # The same route again, and one equal but not identical: nothing for the kernel.
    exporter.apply(_announce(route, _route("192.0.2.0/24", "10.0.0.2", ifindex=3)))
    asyncio.run(exporter.drain())
    assert len(fake.calls) == 1
    # A withdraw of something never announced: nothing either.
    exporter.apply(_withdraw("198.51.100.0/24"))
    asyncio.run(exporter.drain())
    assert len(fake.calls) == 1
    assert exporter.stats().exported == 1


def test_failed_install_is_counted_and_not_tracked_as_installed() -> None:
    exporter, fake = _offline(ExportConfig(dampening_interval=0, rules=[_rule("a")]))
    fake.fail.add(bytes((192, 0, 2, 0)))
    exporter.apply(_announce(_route("192.0.2.0/24", "10.0.0.2", ifindex=3),
                             _route("192.0.2.128/25", "10.0.0.2", ifindex=3)))
    asyncio.run(exporter.drain())
    stats = exporter.stats()
    assert stats.errors == 1 and "192.0.2.0/24" in stats.last_error
    assert [str(r.prefix) for r in exporter.routes()] == ["192.0.2.128/25"]
    assert stats.tracked == 2 and stats.installed == 1


def test_stats_are_frozen_and_json_serialisable() -> None:
    exporter, _fake = _offline(ExportConfig(dampening_interval=0, rules=[_rule("a")]))
    exporter.apply(_announce(_route("192.0.2.0/24", "10.0.0.2", ifindex=3)))
    asyncio.run(exporter.drain())
    stats = exporter.stats()
    data = json.loads(json.dumps(dataclasses.asdict(stats)))
    for name in ("exported", "withdrawn", "errors", "nexthop_validation_attempts",
                 "nexthop_validation_failures", "dampened", "last_export_time",
                 "last_withdraw_time", "last_error"):
        assert name in data
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.exported = 5  # type: ignore[misc]


def test_bad_communities_in_rules_are_rejected() -> None:
    with pytest.raises(InvalidValueError):
        ExportRule("x", community_list=["65000:70000"])
    with pytest.raises(InvalidValueError):
        ExportRule("x", large_community_list=["1:2"])
    with pytest.raises(InvalidValueError):
        ExportVrf("red", import_route_targets=["nonsense"])


def _vrf_link(name: str, ifindex: int, table: int) -> LinkMessage:
    raw = struct.pack("=I", table)
    info = ((IflaInfo.IFLA_INFO_KIND, "vrf"),
            (IflaInfo.IFLA_INFO_DATA, ((IflaVrf.IFLA_VRF_TABLE, Unknown(raw)),)))
    return LinkMessage(RtmType.RTM_NEWLINK, ifindex=ifindex, ifi_flags=1,
                       attrs=((Ifla.IFLA_IFNAME, name), (Ifla.IFLA_LINKINFO, info)))


def test_vrf_tables_from_config_and_from_kernel_vrf_devices() -> None:
    config = ExportConfig(
        dampening_interval=0,
        vrfs=[ExportVrf("red", 100, ["65000:1"]), ExportVrf("blue", 0, ["65000:2"])],
        rules=[_rule("red", vrf="red"), _rule("blue", vrf="blue")])
    exporter, _fake = _offline(config)
    assert exporter.vrf_table("red") == 100
    assert exporter.vrf_table("blue") is None
    assert exporter.tables() == [100]
    # The kernel's VRF device wins over the configuration, and gives the ONLINK device.
    exporter.handle_link(_vrf_link("blue", 42, 300))
    exporter.handle_link(_vrf_link("red", 43, 200))
    assert exporter.vrf_table("blue") == 300 and exporter.vrf_table("red") == 200
    assert exporter.tables() == [200, 300]
    exporter.apply(_announce(
        _route("192.0.2.0/24", "10.0.0.2", rd="65000:7", rts=["65000:2"]),
        _route("192.0.2.0/24", "10.0.0.2", rd="65000:8", rts=["65000:9"])))
    asyncio.run(exporter.drain())
    assert [(r.table, r.oif, r.onlink, r.rd) for r in exporter.routes()] == [
        (300, 42, True, "65000:7")]
    exporter.handle_link(_vrf_link("blue", 42, 300)._replace(msg_type=RtmType.RTM_DELLINK))
    assert exporter.vrf_table("blue") is None


def test_nexthop_cache_longest_prefix_match_scoped_to_the_table() -> None:
    from netlinkbgp.codec.constants import Rta
    from netlinkbgp.nexthop_cache import NextHopCache

    def msg(prefix: str, table: int, oif: int, gateway: str | None = None,
            rtype: int = 1) -> RouteMessage:
        net = ip_network(prefix)
        attrs: list[Any] = [(Rta.RTA_TABLE, table), (Rta.RTA_DST, net.network_address.packed),
                            (Rta.RTA_OIF, oif)]
        if gateway:
            attrs.append((Rta.RTA_GATEWAY, ip_address(gateway).packed))
        return RouteMessage(family=socket.AF_INET if net.version == 4 else socket.AF_INET6,
                            dst_len=net.prefixlen, table=table if table < 256 else 252,
                            type=rtype, attrs=tuple(attrs))

    cache = NextHopCache([100])
    cache.load(100, [msg("10.0.0.0/8", 100, 5), msg("10.1.0.0/16", 100, 0, "10.0.0.1"),
                     msg("10.2.0.0/16", 100, 6, rtype=6)], PROTO)
    cache.load(254, [msg("10.9.0.0/16", 254, 7)], PROTO)
    gw = ip_address("10.3.0.1").packed
    assert cache.resolve(100, gw, 0, True) == (5, False)
    # Through a gateway (recursive) or a blackhole: not valid.
    assert cache.resolve(100, ip_address("10.1.0.1").packed, 0, True) is None
    assert cache.resolve(100, ip_address("10.2.0.1").packed, 0, True) is None
    # Only table 100 counts for validation; main gives the ONLINK device when unvalidated.
    assert cache.resolve(100, ip_address("172.16.0.1").packed, 0, True) is None
    assert cache.resolve(100, ip_address("10.9.0.1").packed, 0, False) == (5, True)
    assert cache.resolve(254, ip_address("10.9.0.1").packed, 0, True) == (7, False)
    # A route event invalidates the table's cache.
    cache.route_event(msg("10.3.0.0/16", 100, 9), True)
    assert cache.resolve(100, gw, 0, True) == (9, False)
    cache.route_event(msg("10.3.0.0/16", 100, 9), False)
    assert cache.resolve(100, gw, 0, True) == (5, False)
    # Link down: not valid; link-local needs its interface up.
    cache.link_event(5, False)
    assert cache.resolve(100, gw, 0, True) is None
    ll = ip_address("fe80::1").packed
    assert cache.resolve(100, ll, 5, True) is None
    cache.link_event(5, True)
    assert cache.resolve(100, ll, 5, True) == (5, False)


# -- against the kernel ----------------------------------------------------------------------


def _setup() -> tuple[int, int]:
    a, b = testing.veth_pair("t0", "t1")
    testing.ip("addr", "add", "10.0.0.1/24", "dev", "t0")
    testing.ip("-6", "addr", "add", "2001:db8::1/64", "dev", "t0", "nodad")
    return a, b


def _ours() -> list[tuple[Any, ...]]:
    """Our routes as `ip -j` sees them: (table, dst, gateway, dev, metric, onlink)."""
    out = []
    for family in ("-4", "-6"):
        text = testing.ip("-j", family, "route", "show", "table", "all", "proto", str(PROTO))
        for r in json.loads(text or "[]"):
            gateway = r.get("gateway") or (r.get("via") or {}).get("host")
            out.append((str(r.get("table", "main")), r["dst"], gateway, r.get("dev"),
                        r.get("metric", 0), "onlink" in r.get("flags", [])))
    return sorted(out, key=str)


def _monitor() -> EventSocket:
    return EventSocket((Rtnlgrp.RTNLGRP_IPV4_ROUTE, Rtnlgrp.RTNLGRP_IPV6_ROUTE))


def _seen(monitor: EventSocket) -> list[tuple[str, str, int, int | None, str | None]]:
    """Our route changes the monitor saw: (add|del, prefix, table, metric, gateway)."""
    batch = monitor.drain()
    assert isinstance(batch, list), "monitor overrun"
    return [("add" if m.msg_type == RtmType.RTM_NEWROUTE else "del", str(m.dst), m.table_id,
             m.priority, str(m.gateway) if m.gateway else None)
            for m in batch if isinstance(m, RouteMessage) and m.protocol == PROTO]


async def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.005)


def _tables_body() -> dict[str, Any]:
    _setup()
    testing.ip("route", "add", "10.0.0.0/24", "dev", "t0", "table", "200")
    config = ExportConfig(dampening_interval=0, rules=[
        ExportRule("main"),
        ExportRule("vip", community_list=["65000:100"], table_id=100, validate_nexthop=False),
        ExportRule("large", large_community_list=["65000:1:100"], table_id=200, metric=50),
        ExportRule("dec", community_list=["4259905636"], table_id=1000,
                   validate_nexthop=False),
    ])

    async def main() -> dict[str, Any]:
        async with Exporter(config) as exporter:
            exporter.apply(_announce(
                _route("192.0.2.0/24", "10.0.0.2"),
                _route("192.0.2.10/32", "10.0.0.2", communities=["65000:100"]),
                _route("192.0.2.20/32", "10.0.0.3", large=["65000:1:100"]),
                _route("192.0.2.30/32", "10.0.0.4", communities=["65001:100"]),
                _route("2001:db8:50::/48", "2001:db8::2", communities=["65000:100"]),
            ))
            await exporter.drain()
            return {"ours": _ours(), "stats": exporter.stats()}
    return asyncio.run(main())


@kernel
def test_export_to_main_and_numbered_tables_by_community() -> None:
    out = testing.run_in_netns(_tables_body)
    assert out["ours"] == sorted([
        ("100", "192.0.2.10", "10.0.0.2", "t0", 20, True),
        ("1000", "192.0.2.30", "10.0.0.4", "t0", 20, True),
        ("100", "2001:db8:50::/48", "2001:db8::2", "t0", 20, True),
        ("200", "192.0.2.20", "10.0.0.3", "t0", 50, False),
        ("main", "192.0.2.0/24", "10.0.0.2", "t0", 20, False),
        ("main", "192.0.2.10", "10.0.0.2", "t0", 20, False),
        ("main", "192.0.2.20", "10.0.0.3", "t0", 20, False),
        ("main", "192.0.2.30", "10.0.0.4", "t0", 20, False),
        ("main", "2001:db8:50::/48", "2001:db8::2", "t0", 20, False),
    ], key=str)
    assert out["stats"].exported == 9 and out["stats"].errors == 0


def _validation_body() -> dict[str, Any]:
    _setup()
    config = ExportConfig(dampening_interval=0, rules=[
        ExportRule("main"), ExportRule("loose", table_id=100, validate_nexthop=False)])

    async def main() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with Exporter(config) as exporter:
            # 10.1.0.2 is reachable nowhere yet: main refuses it; table 100 (no validation)
            # has no device for it either.
            exporter.apply(_announce(_route("192.0.2.0/24", "10.1.0.2")))
            await exporter.drain()
            out["before"] = _ours()
            out["stats_before"] = exporter.stats()
            # The gateway becomes connected: the route event re-validates, and it goes in.
            testing.ip("addr", "add", "10.1.0.1/24", "dev", "t1")
            await _until(lambda: len(exporter.routes()) == 2)
            out["after"] = _ours()
            out["stats_after"] = exporter.stats()
            # When it stops being connected, ours goes away again (and from table 100: no
            # device reaches the next hop any more).
            testing.ip("addr", "del", "10.1.0.1/24", "dev", "t1")
            await _until(lambda: not exporter.routes())
            out["gone"] = _ours()
        return out
    return asyncio.run(main())


@kernel
def test_validate_nexthop_on_and_off() -> None:
    out = testing.run_in_netns(_validation_body)
    assert out["before"] == []
    assert out["stats_before"].nexthop_validation_failures >= 1
    assert out["stats_before"].nexthop_validation_attempts >= 1
    assert out["after"] == [("100", "192.0.2.0/24", "10.1.0.2", "t1", 20, True),
                            ("main", "192.0.2.0/24", "10.1.0.2", "t1", 20, False)]
    assert out["gone"] == []


def _changes_body() -> dict[str, Any]:
    _setup()
    config = ExportConfig(dampening_interval=0, rules=[ExportRule("main")])

    async def main() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with _monitor() as monitor, Exporter(config) as exporter:
            exporter.apply(_announce(_route("192.0.2.0/24", "10.0.0.2")))
            await exporter.drain()
            out["add"] = _seen(monitor)
            exporter.apply(_announce(_route("192.0.2.0/24", "10.0.0.3")))
            await exporter.drain()
            out["replace"] = _seen(monitor)
            out["replaced"] = _ours()
            await exporter.reload(ExportConfig(dampening_interval=0,
                                               rules=[ExportRule("main", metric=30)]))
            out["metric"] = _seen(monitor)
            out["metric_ours"] = _ours()
            exporter.apply(_withdraw("192.0.2.0/24"))
            await exporter.drain()
            out["withdraw"] = _seen(monitor)
            out["left"] = _ours()
            out["stats"] = exporter.stats()
        return out
    return asyncio.run(main())


@kernel
def test_withdraw_replace_and_make_before_break_metric_change() -> None:
    out = testing.run_in_netns(_changes_body)
    assert out["add"] == [("add", "192.0.2.0/24", 254, 20, "10.0.0.2")]
    # A next-hop change is one atomic replace: no delete, the prefix is never without a route.
    assert out["replace"] == [("add", "192.0.2.0/24", 254, 20, "10.0.0.3")]
    assert out["replaced"] == [("main", "192.0.2.0/24", "10.0.0.3", "t0", 20, False)]
    # A metric change adds the new route before deleting the old one.
    assert out["metric"] == [("add", "192.0.2.0/24", 254, 30, "10.0.0.3"),
                             ("del", "192.0.2.0/24", 254, 20, "10.0.0.3")]
    assert out["metric_ours"] == [("main", "192.0.2.0/24", "10.0.0.3", "t0", 30, False)]
    assert out["withdraw"] == [("del", "192.0.2.0/24", 254, 30, "10.0.0.3")]
    assert out["left"] == []
    assert out["stats"].withdrawn == 2 and out["stats"].exported == 3


def _flaps(prefix: str) -> list[list[RouteEvent]]:
    """Ten separate batches: announce / withdraw five times, then a last announce."""
    out: list[list[RouteEvent]] = []
    for i in range(5):
        out.append(_announce(_route(prefix, f"10.0.0.{2 + i}")))
        out.append(_withdraw(prefix))
    out.append(_announce(_route(prefix, "10.0.0.9")))
    return out


def _dampening_body(interval: int) -> dict[str, Any]:
    _setup()
    config = ExportConfig(dampening_interval=interval, rules=[ExportRule("main")])

    async def main() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with _monitor() as monitor, Exporter(config) as exporter:
            for batch in _flaps("192.0.2.0/24"):
                exporter.apply(batch)
                await asyncio.sleep(0)  # let the exporter's task run between batches
            out["early"] = _seen(monitor)
            await exporter.drain()
            out["changes"] = _seen(monitor)
            out["ours"] = _ours()
            out["stats"] = exporter.stats()
        return out
    return asyncio.run(main())


@kernel
def test_dampening_coalesces_a_flap_burst_into_one_kernel_change() -> None:
    # A long interval: nothing reaches the kernel until drain() ends the window.
    out = testing.run_in_netns(_dampening_body, 60_000)
    assert out["early"] == []
    assert out["changes"] == [("add", "192.0.2.0/24", 254, 20, "10.0.0.9")]
    assert out["ours"] == [("main", "192.0.2.0/24", "10.0.0.9", "t0", 20, False)]
    assert out["stats"].dampened == 10


@kernel
def test_dampening_off_applies_every_change() -> None:
    out = testing.run_in_netns(_dampening_body, 0)
    changes = out["early"] + out["changes"]
    assert [c[0] for c in changes] == ["add", "del"] * 5 + ["add"]
    assert [c[4] for c in changes if c[0] == "add"] == [
        "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6", "10.0.0.9"]
    assert out["stats"].dampened == 0


def _short_interval_body() -> dict[str, Any]:
    _setup()
    config = ExportConfig(dampening_interval=30, rules=[ExportRule("main")])

    async def main() -> dict[str, Any]:
        async with _monitor() as monitor, Exporter(config) as exporter:
            for batch in _flaps("192.0.2.0/24"):
                exporter.apply(batch)
            seen: list[Any] = []
            # No drain(): the interval elapses by itself.
            await _until(lambda: bool(seen.extend(_seen(monitor)) or seen))
            return {"seen": seen, "stats": exporter.stats()}
    return asyncio.run(main())


@kernel
def test_dampening_interval_elapses_by_itself() -> None:
    out = testing.run_in_netns(_short_interval_body)
    assert out["seen"] == [("add", "192.0.2.0/24", 254, 20, "10.0.0.9")]


def _reload_body() -> dict[str, Any]:
    _setup()
    first = ExportConfig(dampening_interval=0, rules=[ExportRule("main")])
    second = ExportConfig(dampening_interval=0, rules=[
        ExportRule("main"),
        ExportRule("vip", community_list=["65000:100"], table_id=100, validate_nexthop=False)])

    async def main() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with _monitor() as monitor, Exporter(first) as exporter:
            exporter.apply(_announce(
                _route("192.0.2.0/24", "10.0.0.2"),
                _route("192.0.2.10/32", "10.0.0.2", communities=["65000:100"]),
                _route("192.0.2.11/32", "10.0.0.2", communities=["65000:100"])))
            await exporter.drain()
            _seen(monitor)
            await exporter.reload(second)
            out["grow"] = sorted(_seen(monitor))
            await exporter.reload(second)
            out["same"] = _seen(monitor)
            await exporter.reload(first)
            out["shrink"] = sorted(_seen(monitor))
            out["ours"] = _ours()
        return out
    return asyncio.run(main())


@kernel
def test_reload_applies_only_the_difference() -> None:
    out = testing.run_in_netns(_reload_body)
    assert out["grow"] == [("add", "192.0.2.10/32", 100, 20, "10.0.0.2"),
                           ("add", "192.0.2.11/32", 100, 20, "10.0.0.2")]
    assert out["same"] == []
    assert out["shrink"] == [("del", "192.0.2.10/32", 100, 20, "10.0.0.2"),
                             ("del", "192.0.2.11/32", 100, 20, "10.0.0.2")]
    assert [r[0] for r in out["ours"]] == ["main"] * 3


def _cleanup_body(state: bool) -> dict[str, Any]:
    _setup()
    # Stale routes of our protocol (a previous run), another protocol's, and ours in a
    # table we do not own.
    testing.ip("route", "add", "192.0.2.0/24", "via", "10.0.0.2", "proto", "186", "metric", "20")
    testing.ip("route", "add", "198.51.100.0/24", "via", "10.0.0.2", "proto", "186",
               "metric", "20")
    testing.ip("route", "add", "203.0.113.0/24", "via", "10.0.0.2", "proto", "static")
    testing.ip("route", "add", "203.0.113.0/24", "via", "10.0.0.2", "proto", "186",
               "table", "999")
    directory = tempfile.mkdtemp()
    path = os.path.join(directory, "export-state.json")
    if state:
        # We recorded only 192.0.2.0/24: 198.51.100.0/24 is another daemon's (same protocol).
        with open(path, "w") as handle:
            json.dump({"protocol": 186, "routes": [[254, "192.0.2.0/24", 20]]}, handle)
    config = ExportConfig(dampening_interval=0, rules=[ExportRule("main")],
                          state_file=path if state else None)

    async def main() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with Exporter(config) as exporter:
            out["after_start"] = sorted(
                testing.ip("route", "show", "table", "all", "203.0.113.0/24").splitlines()
                + testing.ip("route", "show", "proto", "186").splitlines())
            exporter.apply(_announce(_route("192.0.2.128/25", "10.0.0.2")))
            await exporter.drain()
        if state:
            with open(path) as handle:
                out["state"] = json.load(handle)
            out["leftovers"] = sorted(os.listdir(directory))
        return out
    return asyncio.run(main())


@kernel
def test_startup_cleanup_removes_only_our_stale_routes() -> None:
    out = testing.run_in_netns(_cleanup_body, False)
    assert [line.strip() for line in out["after_start"]] == [
        "203.0.113.0/24 via 10.0.0.2 dev t0 proto static",
        "203.0.113.0/24 via 10.0.0.2 dev t0 table 999 proto bgp",
    ]


@kernel
def test_startup_cleanup_with_a_state_file_spares_a_same_protocol_foreign_route() -> None:
    out = testing.run_in_netns(_cleanup_body, True)
    assert [line.strip() for line in out["after_start"]] == [
        "198.51.100.0/24 via 10.0.0.2 dev t0 metric 20",
        "203.0.113.0/24 via 10.0.0.2 dev t0 proto static",
        "203.0.113.0/24 via 10.0.0.2 dev t0 table 999 proto bgp",
    ]
    assert out["state"] == {"protocol": 186, "routes": [[254, "192.0.2.128/25", 20]]}
    assert out["leftovers"] == ["export-state.json"]  # written atomically, no temp file left


def _graceful_restart_body() -> dict[str, Any]:
    _setup()
    # Three of our routes survive a graceful stop: one comes back as it was, one with
    # another next hop, one not at all.
    for prefix, gateway in (("192.0.2.0/24", "10.0.0.2"), ("198.51.100.0/24", "10.0.0.2"),
                            ("203.0.113.0/24", "10.0.0.2")):
        testing.ip("route", "add", prefix, "via", gateway, "proto", "186", "metric", "20")
    config = ExportConfig(dampening_interval=0, rules=[ExportRule("main")])

    async def main() -> dict[str, Any]:
        out: dict[str, Any] = {}
        monitor = _monitor()
        exporter = Exporter(config)
        await exporter.start(keep_stale=True)
        out["held"] = exporter.holding_stale
        out["after_start"] = _ours()
        exporter.apply(_announce(_route("192.0.2.0/24", "10.0.0.2"),
                                 _route("198.51.100.0/24", "10.0.0.3")))
        await exporter.drain()
        out["after_table"] = _ours()
        out["changes"] = _seen(monitor)
        out["still_held"] = exporter.holding_stale
        out["purged"] = await exporter.purge_stale()
        out["after_purge"] = _ours()
        out["stats"] = exporter.stats()
        await exporter.stop()
        monitor.close()
        return out
    return asyncio.run(main())


@kernel
def test_graceful_restart_keeps_routes_adopts_unchanged_replaces_changed_purges_rest() -> None:
    out = testing.run_in_netns(_graceful_restart_body)
    assert out["held"] == 3
    assert [r[1] for r in out["after_start"]] == ["192.0.2.0/24", "198.51.100.0/24",
                                                 "203.0.113.0/24"]
    # The unchanged route: no kernel call at all; the changed one: one atomic replace.
    assert out["changes"] == [("add", "198.51.100.0/24", 254, 20, "10.0.0.3")]
    assert [(r[1], r[2]) for r in out["after_table"]] == [
        ("192.0.2.0/24", "10.0.0.2"), ("198.51.100.0/24", "10.0.0.3"),
        ("203.0.113.0/24", "10.0.0.2")]
    assert out["still_held"] == 1 and out["purged"] == 1
    assert [r[1] for r in out["after_purge"]] == ["192.0.2.0/24", "198.51.100.0/24"]
    assert out["stats"].installed == 2


def _overrun_body() -> dict[str, Any]:
    _setup()
    testing.ip("link", "set", "t1", "up")
    config = ExportConfig(dampening_interval=0, rules=[ExportRule("main")], event_rcvbuf=4096)
    churn = [f"route add 20.{i >> 8}.{i & 255}.0/24 via 10.0.0.2 proto static"
             for i in range(3000)]
    directory = tempfile.mkdtemp()
    batch_file = os.path.join(directory, "churn")
    with open(batch_file, "w") as handle:
        handle.write("\n".join(churn) + "\n")

    async def main() -> dict[str, Any]:
        async with Exporter(config) as exporter:
            exporter.apply(_announce(_route("192.0.2.0/24", "10.0.0.2"),
                                     _route("198.51.100.0/24", "10.1.0.2")))
            await exporter.drain()
            before = _ours()
            # While the exporter's loop is blocked here, events pile up and overflow its tiny
            # buffer: thousands of routes, the gateway of the second route becoming
            # connected, and our first route deleted behind our back.
            testing.ip("-batch", batch_file)
            testing.ip("addr", "add", "10.1.0.1/24", "dev", "t1")
            testing.ip("route", "del", "192.0.2.0/24", "proto", "186")
            await _until(lambda: exporter.stats().resyncs >= 2 and len(_ours()) == 2)
            await exporter.drain()
            return {"before": before, "after": _ours(), "stats": exporter.stats()}
    return asyncio.run(main())


@kernel
def test_overrun_resyncs_to_the_right_final_state() -> None:
    out = testing.run_in_netns(_overrun_body)
    assert out["before"] == [("main", "192.0.2.0/24", "10.0.0.2", "t0", 20, False)]
    assert out["after"] == [("main", "192.0.2.0/24", "10.0.0.2", "t0", 20, False),
                            ("main", "198.51.100.0/24", "10.1.0.2", "t1", 20, False)]
    assert out["stats"].resyncs >= 2


def _many_chunks_body(count: int) -> dict[str, Any]:
    """``count`` routes, several planning chunks and many datagrams, some refused by the
    kernel (a foreign route of the same key is there), then a mixed change, then a withdraw."""
    from netlinkbgp.exporter import CHUNK
    from netlinkbgp.netlink_io import NetlinkSocket

    _setup()
    testing.ip("route", "add", "10.0.0.0/24", "dev", "t0", "table", "100")
    prefixes = [f"20.{i >> 8}.{i & 255}.0/24" for i in range(count)]
    foreign = prefixes[7::1000]
    for prefix in foreign:
        testing.ip("route", "add", prefix, "via", "10.0.0.2", "table", "100", "metric", "20",
                   "proto", "static")
    config = ExportConfig(dampening_interval=0, rules=[ExportRule("t", table_id=100)])

    async def kernel_routes() -> dict[str, tuple[str, int]]:
        async with NetlinkSocket() as nl:
            found = await nl.dump_routes(socket.AF_INET, 100)
        return {f"{r.dst}": (str(r.gateway), r.protocol) for r in found
                if f"{r.dst}".startswith("20.")}

    async def main() -> dict[str, Any]:
        out: dict[str, Any] = {"chunks": count / CHUNK, "foreign": foreign}
        async with Exporter(config) as exporter:
            exporter.apply(_announce(*(_route(p, "10.0.0.2") for p in prefixes)))
            await exporter.drain()
            out["stats"] = exporter.stats()
            out["kernel"] = await kernel_routes()
            # One change set: withdraw a quarter, move the next quarter to another gateway.
            quarter = count // 4
            exporter.apply(_withdraw(*prefixes[:quarter])
                           + _announce(*(_route(p, "10.0.0.3")
                                         for p in prefixes[quarter : 2 * quarter])))
            await exporter.drain()
            out["mixed_stats"] = exporter.stats()
            out["mixed"] = await kernel_routes()
            exporter.apply(_withdraw(*prefixes))
            await exporter.drain()
            out["end_stats"] = exporter.stats()
            out["end"] = await kernel_routes()
        return out
    return asyncio.run(main())


@kernel
def test_many_chunks_with_kernel_failures_end_exact() -> None:
    """Chunks are planned while the kernel works through the previous one, and datagrams
    are sent from a thread: every route still gets its own outcome, and every step ends with
    exactly the expected table."""
    count = 20_000
    out = testing.run_in_netns(_many_chunks_body, count)
    assert out["chunks"] > 2
    foreign = set(out["foreign"])
    prefixes = [f"20.{i >> 8}.{i & 255}.0/24" for i in range(count)]
    assert len(foreign) == 20
    stats = out["stats"]
    assert (stats.installed, stats.exported, stats.errors) == (count - 20, count - 20, 20)
    assert "File exists" in stats.last_error
    assert out["kernel"] == {p: ("10.0.0.2", 4 if p in foreign else PROTO) for p in prefixes}
    quarter = count // 4
    expected = {p: ("10.0.0.2", 4) for p in foreign}
    expected.update({p: ("10.0.0.3", PROTO) for p in prefixes[quarter : 2 * quarter]
                     if p not in foreign})
    expected.update({p: ("10.0.0.2", PROTO) for p in prefixes[2 * quarter :]
                     if p not in foreign})
    assert out["mixed"] == expected
    # Foreign keys are never ours: 15 of them lie beyond the withdrawn quarter, and the 5 in
    # the moved quarter are tried again with their new gateway (and refused again).
    assert out["mixed_stats"].installed == count - quarter - 15
    assert out["mixed_stats"].errors == 25
    assert out["end"] == {p: ("10.0.0.2", 4) for p in foreign}
    assert out["end_stats"].installed == 0 and out["end_stats"].tracked == 0


def _nexthop_families_body() -> dict[str, Any]:
    a, _b = _setup()
    config = ExportConfig(dampening_interval=0, rules=[ExportRule("main")])

    async def main() -> dict[str, Any]:
        async with Exporter(config) as exporter:
            exporter.apply(_announce(
                _route("2001:db8:50::/48", "fe80::2", ifindex=a),
                _route("2001:db8:51::/48", "fe80::3"),  # link-local without interface: no
                _route("192.0.2.0/24", "2001:db8::2"),  # IPv4 over IPv6 (RTA_VIA)
            ))
            await exporter.drain()
            via = json.loads(testing.ip("-j", "route", "show", "192.0.2.0/24"))
            return {"ours": _ours(), "via": via, "stats": exporter.stats(), "a": a}
    return asyncio.run(main())


@kernel
def test_ipv6_link_local_and_ipv4_over_ipv6_next_hops() -> None:
    out = testing.run_in_netns(_nexthop_families_body)
    assert out["ours"] == [("main", "192.0.2.0/24", "2001:db8::2", "t0", 20, False),
                           ("main", "2001:db8:50::/48", "fe80::2", "t0", 20, False)]
    assert out["via"][0]["via"] == {"family": "inet6", "host": "2001:db8::2"}
    assert out["stats"].nexthop_validation_failures == 1


def _vpn_body() -> dict[str, Any]:
    _setup()
    # Table 100 stands in for VRF red: its "connected" route makes 10.0.0.0/24 reachable.
    testing.ip("route", "add", "10.0.0.0/24", "dev", "t0", "table", "100")
    config = ExportConfig(
        dampening_interval=0,
        vrfs=[ExportVrf("red", 100, ["65000:1"]), ExportVrf("blue", 200, ["65000:2"])],
        rules=[ExportRule("red", vrf="red"), ExportRule("blue", vrf="blue"),
               ExportRule("global")])

    async def main() -> dict[str, Any]:
        async with Exporter(config) as exporter:
            exporter.apply(_announce(
                _route("192.0.2.0/24", "10.0.0.2", rd="65000:7", rts=["65000:1"]),
                _route("198.51.100.0/24", "10.0.0.2", rd="65000:7", rts=["65000:3"]),
            ))
            await exporter.drain()
            return {"ours": _ours(), "routes": exporter.routes(), "stats": exporter.stats()}
    return asyncio.run(main())


@kernel
def test_vpn_route_goes_to_the_vrf_table_whose_import_rt_matches() -> None:
    out = testing.run_in_netns(_vpn_body)
    assert out["ours"] == [("100", "192.0.2.0/24", "10.0.0.2", "t0", 20, False)]
    assert [(str(r.prefix), r.table, r.rd) for r in out["routes"]] == [
        ("192.0.2.0/24", 100, "65000:7")]


def _flush_body() -> dict[str, Any]:
    _setup()
    config = ExportConfig(dampening_interval=0, rules=[
        ExportRule("main"), ExportRule("t", table_id=100, validate_nexthop=False)])

    async def main() -> dict[str, Any]:
        async with Exporter(config) as exporter:
            exporter.apply(_announce(*(_route(f"192.0.2.{i}/32", "10.0.0.2")
                                       for i in range(50))))
            await exporter.drain()
            installed = len(_ours())
            await exporter.flush()
            return {"installed": installed, "left": _ours(), "stats": exporter.stats()}
    return asyncio.run(main())


@kernel
def test_flush_removes_all_of_ours() -> None:
    out = testing.run_in_netns(_flush_body)
    assert out["installed"] == 100
    assert out["left"] == []
    assert out["stats"].installed == 0 and out["stats"].withdrawn == 100

