"""The rtnetlink layer against the real kernel, each test in a fresh network namespace.

Every test body is a module-level function run by ``testing.run_in_netns`` in a forked child;
it returns plain data that the test then asserts on.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import json
import os
import socket
import time
from ipaddress import ip_address, ip_network
from typing import Any

import pytest

from netlinkbgp import testing
from netlinkbgp.cli_route import Names, route_json
from netlinkbgp.codec.constants import NlmFlag, Rta, Rtax, RtmType, Rtnlgrp
from netlinkbgp.codec.messages import RouteMessage, build_route
from netlinkbgp.codec.route_requests import RouteSpec
from netlinkbgp.netlink_io import EventSocket, NetlinkSocket, Overrun

pytestmark = pytest.mark.usefixtures("netns")

CREATE = NlmFlag.NLM_F_CREATE | NlmFlag.NLM_F_EXCL
REPLACE = NlmFlag.NLM_F_CREATE | NlmFlag.NLM_F_REPLACE
ADD = NlmFlag.NLM_F_REQUEST | CREATE
PROTO = 186
PAIRS = (("192.0.2.0/24", "10.0.0.2"), ("2001:db8:77::/48", "2001:db8::2"))


def _setup() -> tuple[int, int]:
    a, b = testing.veth_pair("t0", "t1")
    testing.ip("addr", "add", "10.0.0.1/24", "dev", "t0")
    testing.ip("addr", "add", "10.0.1.1/24", "dev", "t1")
    testing.ip("-6", "addr", "add", "2001:db8::1/64", "dev", "t0", "nodad")
    testing.ip("-6", "addr", "add", "2001:db8:1::1/64", "dev", "t1", "nodad")
    return a, b


def _ip_json(*args: str) -> list[dict[str, Any]]:
    return json.loads(testing.ip("-j", *args) or "[]")  # type: ignore[no-any-return]


def _key(info: dict[str, Any]) -> tuple[Any, ...]:
    """The fields on which our view of a route must agree with `ip -j`."""
    return tuple(str(info.get(k, "")) for k in
                 ("type", "dst", "gateway", "dev", "table", "protocol", "metric", "scope"))


def _tables_body() -> dict[str, Any]:
    _, b = _setup()
    out: dict[str, Any] = {}

    async def main() -> None:
        async with NetlinkSocket() as nl:
            for table in (254, 100, 1000, 70000):
                for prefix, gw in PAIRS:
                    await nl.request(build_route(
                        RtmType.RTM_NEWROUTE, ip_network(prefix), gateway=ip_address(gw),
                        table=table, metric=30, protocol=PROTO, flags=ADD))
            routes = [r for r in await nl.dump_routes() if r.protocol == PROTO]
            out["added"] = sorted((r.table_id, str(r.dst), str(r.gateway), r.priority)
                                  for r in routes)
            out["table_filter"] = sorted(str(r.dst) for r in await nl.dump_routes(table=70000))
            # Replace: same prefix/table/metric, new gateway and an oif.
            await nl.request(build_route(
                RtmType.RTM_NEWROUTE, ip_network("192.0.2.0/24"), gateway=ip_address("10.0.1.2"),
                oif=b, table=70000, metric=30, protocol=PROTO,
                flags=NlmFlag.NLM_F_REQUEST | REPLACE))
            got = [r for r in await nl.dump_routes(socket.AF_INET, 70000) if r.protocol == PROTO]
            out["replaced"] = [(str(r.gateway), r.oif) for r in got]
            for table in (254, 100, 1000, 70000):
                for prefix in ("192.0.2.0/24", "2001:db8:77::/48"):
                    await nl.request(build_route(RtmType.RTM_DELROUTE, ip_network(prefix),
                                                 table=table, metric=30, protocol=PROTO))
            out["left"] = [r for r in await nl.dump_routes() if r.protocol == PROTO]
    asyncio.run(main())
    out["ip_70000"] = _ip_json("route", "show", "table", "70000")
    out["b"] = b
    return out


def test_add_replace_delete_in_main_and_numbered_tables() -> None:
    out = testing.run_in_netns(_tables_body)
    expected = sorted((t, p, g, 30) for t in (254, 100, 1000, 70000) for p, g in PAIRS)
    assert out["added"] == expected
    assert out["table_filter"] == ["192.0.2.0/24", "2001:db8:77::/48"]
    assert out["replaced"] == [("10.0.1.2", out["b"])]
    assert out["left"] == []


def _multipath_body() -> dict[str, Any]:
    a, b = _setup()

    async def main() -> list[RouteMessage]:
        async with NetlinkSocket() as nl:
            await nl.request(build_route(
                RtmType.RTM_NEWROUTE, ip_network("198.51.100.0/24"), metric=5, protocol=PROTO,
                nexthops=[(ip_address("10.0.0.2"), a, 1), (ip_address("10.0.1.2"), b, 3)],
                flags=ADD))
            await nl.request(build_route(
                RtmType.RTM_NEWROUTE, ip_network("2001:db8:99::/48"), metric=5, protocol=PROTO,
                nexthops=[(ip_address("2001:db8::2"), a, 1), (ip_address("2001:db8:1::2"), b, 1)],
                flags=ADD))
            # On-link: the gateway is in no connected prefix.
            await nl.routes(RtmType.RTM_NEWROUTE, [RouteSpec.of(
                ip_network("203.0.113.0/24"), ip_address("172.16.9.9"), oif=a, onlink=True,
                protocol=PROTO, metric=7)], CREATE)
            return [r for r in await nl.dump_routes() if r.protocol == PROTO]
    routes = asyncio.run(main())
    return {"routes": routes, "ip4": _ip_json("route", "show", "proto", "186"),
            "ip6": _ip_json("-6", "route", "show", "proto", "186"), "a": a, "b": b}


def test_multipath_onlink_and_metrics() -> None:
    out = testing.run_in_netns(_multipath_body)
    by_dst = {str(r.dst): r for r in out["routes"]}
    v4 = by_dst["198.51.100.0/24"]
    assert [(h.ifindex, h.hops + 1) for h in v4.multipath] == [(out["a"], 1), (out["b"], 3)]
    assert v4.priority == 5
    # The kernel may list IPv6 ECMP as one multipath route; either way both hops are there.
    v6 = by_dst["2001:db8:99::/48"]
    assert len(v6.multipath) == 2
    onlink = by_dst["203.0.113.0/24"]
    assert onlink.onlink and str(onlink.gateway) == "172.16.9.9" and onlink.priority == 7
    ip4 = {r["dst"]: r for r in out["ip4"]}
    assert [h["weight"] for h in ip4["198.51.100.0/24"]["nexthops"]] == [1, 3]
    assert "onlink" in ip4["203.0.113.0/24"]["flags"]


def _batch_body(count: int, bad: list[int]) -> dict[str, Any]:
    _setup()
    specs = []
    for i in range(count):
        dst = ((20 << 24) | (i << 8)).to_bytes(4, "big")
        gateway = ip_address("10.0.0.2").packed
        if i in bad:
            gateway = ip_address("10.99.0.1").packed  # reachable through nothing
        specs.append(RouteSpec(socket.AF_INET, dst, 24, 1000, PROTO, 20, gateway))
    # One more kind of bad request: host bits set on the prefix (the kernel's own check).
    specs[bad[-1]] = specs[bad[-1]]._replace(gateway=ip_address("10.0.0.2").packed,
                                             dst=bytes((20, 0, 0, 1)))

    async def main() -> dict[str, Any]:
        async with NetlinkSocket() as nl:
            results = await nl.routes(RtmType.RTM_NEWROUTE, specs, CREATE)
            installed = await nl.dump_routes(socket.AF_INET, 1000)
            return {"failed": {i: (e.errno, e.extack) for i, e in enumerate(results) if e},
                    "installed": len(installed)}
    return asyncio.run(main())


def test_batch_of_10000_reports_exactly_the_bad_ones() -> None:
    bad = [17, 4242, 9999, 5000]
    out = testing.run_in_netns(_batch_body, 10_000, bad)
    assert sorted(out["failed"]) == sorted(bad)
    for index in bad[:-1]:
        assert out["failed"][index][0] == errno.ENETUNREACH
        assert "gateway" in out["failed"][index][1].lower()
    assert out["failed"][bad[-1]][0] == errno.EINVAL
    assert "prefix" in out["failed"][bad[-1]][1].lower()
    assert out["installed"] == 10_000 - len(bad)


def _cancelled_batch_body() -> dict[str, Any]:
    _setup()
    specs = [RouteSpec.of(ip_network(f"20.{i >> 8}.{i & 255}.0/24"), gateway=ip_address("10.0.0.2"),
                          table=100, protocol=PROTO) for i in range(20_000)]

    async def main() -> dict[str, Any]:
        async with NetlinkSocket() as nl:
            task = asyncio.ensure_future(nl.routes(RtmType.RTM_NEWROUTE, specs))
            while nl._channel.pending == 0:  # until the first datagram is out
                await asyncio.sleep(0)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            # The socket goes on: a datagram in flight is settled by its late replies, one
            # encoded and never sent is forgotten.
            again = await nl.routes(RtmType.RTM_NEWROUTE, specs, NlmFlag.NLM_F_CREATE
                                    | NlmFlag.NLM_F_REPLACE)
            dumped = await nl.dump_routes(socket.AF_INET, 100)
            return {"again": [e for e in again if e is not None], "pending": nl._channel.pending,
                    "installed": sum(1 for r in dumped if r.protocol == PROTO)}
    return asyncio.run(main())


def test_a_cancelled_batch_leaves_the_socket_usable() -> None:
    out = testing.run_in_netns(_cancelled_batch_body)
    assert out == {"again": [], "pending": 0, "installed": 20_000}


def _ownership_body() -> dict[str, Any]:
    _setup()
    testing.ip("route", "add", "192.0.2.0/24", "via", "10.0.0.2", "proto", "static")
    testing.ip("route", "add", "192.0.2.0/24", "via", "10.0.0.2", "proto", "static",
               "table", "100")

    async def main() -> dict[str, Any]:
        async with NetlinkSocket() as nl:
            specs = [RouteSpec.of(ip_network("192.0.2.0/24"), table=t, protocol=PROTO)
                     for t in (254, 100)]
            results = await nl.routes(RtmType.RTM_DELROUTE, specs)
            still = [r for r in await nl.dump_routes(socket.AF_INET)
                     if str(r.dst) == "192.0.2.0/24"]
            return {"errors": [e.errno if e else None for e in results],
                    "still": sorted((r.table_id, r.protocol) for r in still)}
    return asyncio.run(main())


def test_delete_with_our_protocol_never_removes_another_protocols_route() -> None:
    out = testing.run_in_netns(_ownership_body)
    assert out["errors"] == [errno.ESRCH, errno.ESRCH]
    assert out["still"] == [(100, 4), (254, 4)]


def _dump_vs_ip_body() -> dict[str, Any]:
    _setup()
    testing.ip("route", "add", "192.0.2.0/24", "via", "10.0.0.2", "metric", "10")
    testing.ip("route", "add", "198.51.100.0/24", "dev", "t1", "table", "300", "proto", "bgp")
    testing.ip("route", "add", "blackhole", "203.0.113.0/24", "table", "2000")
    testing.ip("route", "add", "unreachable", "203.0.113.128/25")
    testing.ip("-6", "route", "add", "2001:db8:50::/48", "via", "2001:db8::2", "table", "300")
    testing.ip("route", "add", "203.0.113.7", "via", "10.0.1.2", "src", "10.0.1.1")
    testing.ip("route", "add", "203.0.113.8", "via", "10.0.1.2", "mtu", "1400", "table", "300")

    async def main() -> list[dict[str, Any]]:
        async with NetlinkSocket() as nl:
            names = Names(await nl.dump_links())
            routes = await nl.dump_routes()
            mtu = [r.get(Rta.RTA_METRICS) for r in routes if str(r.dst) == "203.0.113.8/32"]
            assert mtu == [((Rtax.RTAX_MTU, 1400),)], mtu
            return [route_json(r, names) for r in routes]

    def theirs() -> list[dict[str, Any]]:
        return _ip_json("-4", "route", "show", "table", "all") + _ip_json(
            "-6", "route", "show", "table", "all")

    # IPv6 adds link-local and multicast routes when the veth carrier comes up, a moment
    # after the commands above: compare only a state that `ip` saw before and after our dump.
    for _attempt in range(50):
        before = theirs()
        ours = asyncio.run(main())
        if theirs() == before:
            return {"ours": ours, "theirs": before}
        time.sleep(0.05)
    raise AssertionError("the routing table never settled")


def test_dump_matches_ip_route_show_table_all() -> None:
    out = testing.run_in_netns(_dump_vs_ip_body)
    ours = sorted(_key(r) for r in out["ours"])
    theirs = sorted(_key(r) for r in out["theirs"])
    assert ours == theirs
    assert len(ours) > 10  # connected, local, broadcast, IPv6 multicast, and ours


def _events_body(routes: int, rcvbuf: int, chunk: int) -> dict[str, Any]:
    _setup()
    groups = (Rtnlgrp.RTNLGRP_IPV4_ROUTE,)
    specs = [RouteSpec(socket.AF_INET, ((20 << 24) | (i << 8)).to_bytes(4, "big"), 24, 500,
                       PROTO, None, ip_address("10.0.0.2").packed) for i in range(routes)]

    async def main() -> dict[str, Any]:
        async with NetlinkSocket() as nl, EventSocket(groups, rcvbuf=rcvbuf) as events:
            seen = 0
            overruns = 0

            def count(batch: list[Any] | Overrun) -> None:
                nonlocal seen, overruns
                if isinstance(batch, Overrun):
                    overruns += 1
                else:
                    seen += sum(1 for m in batch if isinstance(m, RouteMessage)
                                and m.table_id == 500 and m.msg_type == RtmType.RTM_NEWROUTE)
            for start in range(0, routes, chunk):
                results = await nl.routes(RtmType.RTM_NEWROUTE, specs[start:start + chunk],
                                          CREATE)
                assert not any(results)
                count(events.drain())
            count(events.drain())
            return {"seen": seen, "overruns": overruns, "rcvbuf": events.rcvbuf}
    return asyncio.run(main())


def test_event_socket_sees_100000_changes_without_loss() -> None:
    out = testing.run_in_netns(_events_body, 100_000, 8 * 1024 * 1024, 200)
    assert out["overruns"] == 0
    assert out["seen"] == 100_000


def test_event_socket_reports_an_overrun_when_its_buffer_is_too_small() -> None:
    out = testing.run_in_netns(_events_body, 5_000, 4096, 5_000)
    assert out["overruns"] >= 1
    assert out["seen"] < 5_000


def _lookup_body() -> dict[str, Any]:
    _setup()
    testing.ip("route", "add", "192.0.2.0/24", "via", "10.0.0.2")

    async def main() -> dict[str, Any]:
        async with NetlinkSocket() as nl:
            hit = await nl.get_route(ip_address("192.0.2.77"))
            miss = await nl.get_route(ip_address("2001:db8:ffff::1"))
            return {"hit": (str(hit.dst), str(hit.gateway)) if hit else None,
                    "miss": miss}
    return asyncio.run(main())


def test_single_route_lookup_fibmatch() -> None:
    out = testing.run_in_netns(_lookup_body)
    assert out["hit"] == ("192.0.2.0/24", "10.0.0.2")
    assert out["miss"] is None


def _rootless_child() -> dict[str, Any]:
    """Drop to nobody, then create a user + network namespace and use it."""
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
    ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE: /proc/self/*_map writable again
    return testing.run_in_netns(_tables_body)


@pytest.mark.skipif(os.geteuid() != 0, reason="already unprivileged: every test here is rootless")
def test_everything_works_unprivileged() -> None:
    # Fork once more so that dropping privileges does not affect this test process.
    out = testing.run_forked(_rootless_child)
    assert out["left"] == [] and len(out["added"]) == 8
