"""Exporter throughput and memory: ``Exporter.apply`` against `ip -batch` on the same routes.

In a fresh network namespace, warmed up by adding and deleting the routes once with
``ip -batch`` (untimed), in one run:

* export: N IPv4 /24 routes announced through ``Exporter.apply`` (next-hop validation on,
  table 100 whose connected route makes the gateway reachable), until the kernel has them all
  (``drain``); then `ip -batch` adding the same routes;
* withdraw: the same N routes withdrawn through ``apply``; then `ip -batch` deleting them;
* nexthop: next-hop validations with the cache (1,000 distinct gateways, table views of the
  namespace);
* memory: bytes per tracked route at 1,000,000 routes, in a fresh process, measured with
  tracemalloc around the Exporter's tracking state (a fake command socket: no kernel needed).

Prints one JSON object per line (DESIGN §8), then one ``"impl": "ratio"`` line per comparison
with the acceptance target of the Exporter issue.

With ``--python-only``: only the Exporter's own work on the export and withdraw runs, with a
command socket that encodes the requests and sends nothing (no kernel, no namespace; best of
5), as rows ``export-python`` and ``withdraw-python``.

Usage: ``python benchmarks/bench_export.py [--routes N] [--memory-routes N] [--json]
[--python-only]``
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, ip_address, ip_network
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_netlink import _peak_rss_self, _row, _timed_process, ratio_line, warm_up
from netlinkbgp import testing
from netlinkbgp.codec.constants import RtmType, Rtprot
from netlinkbgp.codec.messages import LinkMessage, RouteMessage, build_route
from netlinkbgp.codec.route_requests import RouteSpec, encode_route_requests
from netlinkbgp.errors import NetlinkError
from netlinkbgp.export_config import ExportConfig, ExportRule
from netlinkbgp.exporter import Exporter
from netlinkbgp.netlink_io import MAX_BATCH_REQUESTS, NetlinkSocket
from netlinkbgp.nexthop_cache import NextHopCache
from netlinkbgp.route import NextHop, Route, RouteEvent, parse_community

TABLE = 100
PROTO = 186
GATEWAY = "10.0.0.2"
#: Targets from the Exporter issue (per_second, ratio against ip -batch, bytes per route).
TARGETS = {"export": (150_000, 2.0), "withdraw": (None, 1.3), "nexthop": (150_000, None)}
MEMORY_TARGET = 150


def _prefixes(count: int) -> list[IPv4Network]:
    return [IPv4Network(((20 << 24) + (i << 8), 24)) for i in range(count)]


def _events(prefixes: Sequence[IPv4Network], kind: str, ifindex: int = 0) -> list[RouteEvent]:
    hops = (NextHop(IPv4Address(GATEWAY), ifindex),)
    communities = (parse_community("65000:100"),)
    if kind == "withdraw":
        return [RouteEvent("withdraw", Route(p)) for p in prefixes]
    return [RouteEvent("announce", Route(p, hops, communities=communities)) for p in prefixes]


def _kernel_run(count: int) -> list[dict[str, Any]]:
    """Everything that needs the kernel, inside a fresh namespace."""
    testing.veth_pair("b0", "b1")
    testing.ip("addr", "add", "10.0.0.1/24", "dev", "b0")
    # Table 100's own connected route: validation is scoped to the target table.
    testing.ip("route", "add", "10.0.0.0/24", "dev", "b0", "table", str(TABLE))
    prefixes = _prefixes(count)
    with tempfile.TemporaryDirectory() as tmp:
        add_file = Path(tmp) / "add.txt"
        del_file = Path(tmp) / "del.txt"
        add_file.write_text("".join(
            f"route add {p} via {GATEWAY} table {TABLE} proto {PROTO} metric 20\n"
            for p in prefixes))
        del_file.write_text("".join(
            f"route del {p} table {TABLE} proto {PROTO} metric 20\n" for p in prefixes))
        warm_up(add_file, del_file)
        rows = _measure(count, prefixes, add_file, del_file)
    rows.extend(asyncio.run(_raw(prefixes)))
    rows.append(asyncio.run(_nexthop_checks()))
    return rows


def _measure(count: int, prefixes: list[IPv4Network], add_file: Path,
             del_file: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    config = ExportConfig(dampening_interval=100, rules=[
        ExportRule("bench", community_list=["65000:100"], table_id=TABLE, metric=20)])

    async def ours() -> None:
        async with Exporter(config) as exporter:
            events = _events(prefixes, "announce")
            started = time.perf_counter()
            exporter.apply(events)
            await exporter.drain()
            took = time.perf_counter() - started
            stats = exporter.stats()
            assert stats.installed == count and stats.errors == 0, stats
            assert stats.nexthop_validation_attempts >= count, stats
            rows.append(_row("export", "netlinkbgp", count, took, _peak_rss_self()))
            async with NetlinkSocket() as nl:
                installed = await nl.dump_routes(socket.AF_INET, TABLE)
            assert sum(1 for r in installed if r.protocol == PROTO) == count
            events = _events(prefixes, "withdraw")
            started = time.perf_counter()
            exporter.apply(events)
            await exporter.drain()
            took = time.perf_counter() - started
            stats = exporter.stats()
            assert stats.installed == 0 and stats.errors == 0, stats
            rows.append(_row("withdraw", "netlinkbgp", count, took, _peak_rss_self()))

    asyncio.run(ours())
    seconds, rss = _timed_process(["ip", "-batch", str(add_file)])
    rows.append(_row("export", "ip-batch", count, seconds, rss))
    seconds, rss = _timed_process(["ip", "-batch", str(del_file)])
    rows.append(_row("withdraw", "ip-batch", count, seconds, rss))
    return rows


async def _raw(prefixes: Sequence[IPv4Network]) -> list[dict[str, Any]]:
    """The same routes through NetlinkSocket.routes alone: the ceiling the Exporter works
    under (codec + kernel), for context."""
    gateway = ip_address(GATEWAY).packed
    specs = [RouteSpec(socket.AF_INET, p.network_address.packed, 24, TABLE, PROTO, 20, gateway)
             for p in prefixes]
    rows = []
    async with NetlinkSocket() as nl:
        for bench, msg_type, flags in (("export", 24, 0x600), ("withdraw", 25, 0)):
            started = time.perf_counter()
            results = await nl.routes(msg_type, specs, flags)
            took = time.perf_counter() - started
            assert not any(results), [r for r in results if r][:3]
            rows.append(_row(bench, "netlinkbgp-routes", len(specs), took, _peak_rss_self()))
    return rows


async def _nexthop_checks(checks: int = 1_000_000, gateways: int = 1_000) -> dict[str, Any]:
    """Validations through the cache, with views of the namespace's tables."""
    cache = NextHopCache([TABLE])
    async with NetlinkSocket() as nl:
        for table in list(cache.views):
            cache.load(table, await nl.dump_routes(socket.AF_UNSPEC, table), PROTO)
        for link in await nl.dump_links():
            cache.link_event(link.ifindex, link.up)
    base = int(ip_address("10.0.0.0"))
    packed = [(base + 2 + i % 250).to_bytes(4, "big") for i in range(gateways)]
    resolve = cache.resolve
    started = time.perf_counter()
    valid = 0
    for i in range(checks):
        if resolve(TABLE, packed[i % gateways], 0, True) is not None:
            valid += 1
    took = time.perf_counter() - started
    assert valid == checks
    return _row("nexthop", "netlinkbgp", checks, took, _peak_rss_self())


class _NullNetlink:
    """A command socket where every request succeeds (the memory run needs no kernel)."""

    async def routes(self, msg_type: int, specs: Sequence[RouteSpec],
                     flags: int = 0) -> list[NetlinkError | None]:
        return [None] * len(specs)

    async def dump_routes(self, family: int = 0, table: int = 0) -> list[RouteMessage]:
        return []

    async def dump_links(self) -> list[LinkMessage]:
        return []

    def close(self) -> None:
        pass


def memory_child(count: int) -> dict[str, Any]:
    """Bytes per tracked (and installed) route, measured by tracemalloc in this process."""
    config = ExportConfig(dampening_interval=0, rules=[
        ExportRule("bench", table_id=TABLE, validate_nexthop=False)])
    exporter = Exporter(config, netlink=_NullNetlink(), events=False)
    step = 100_000

    async def fill() -> None:
        for start in range(0, count, step):
            prefixes = [IPv4Network(((16 << 24) + (i << 8), 24))
                        for i in range(start, min(count, start + step))]
            exporter.apply(_events(prefixes, "announce", ifindex=2))
            del prefixes
            await exporter.drain()

    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    asyncio.run(fill())
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    stats = exporter.stats()
    assert stats.tracked == count and stats.installed == count, stats
    per_route = (after - before) / count
    return {"bench": "memory", "impl": "netlinkbgp", "items": count,
            "bytes_per_route": round(per_route, 1), "tracked_bytes": after - before,
            "target_bytes_per_route": MEMORY_TARGET, "met": per_route <= MEMORY_TARGET,
            "peak_rss_bytes": _peak_rss_self()}


class _EncodingNetlink(_NullNetlink):
    """A command socket that encodes every request as NetlinkSocket does (datagrams of at
    most MAX_BATCH_REQUESTS), sends nothing and reports success; its table 100 has the
    connected route that validates the benchmark's gateway."""

    def __init__(self) -> None:
        self.seq = 1

    async def routes(self, msg_type: int, specs: Sequence[RouteSpec],
                     flags: int = 0) -> list[NetlinkError | None]:
        for start in range(0, len(specs), MAX_BATCH_REQUESTS):
            chunk = specs[start : start + MAX_BATCH_REQUESTS]
            encode_route_requests(chunk, msg_type, flags, self.seq)
            self.seq += len(chunk)
        return [None] * len(specs)

    async def dump_routes(self, family: int = 0, table: int = 0) -> list[RouteMessage]:
        if table != TABLE:
            return []
        return [build_route(RtmType.RTM_NEWROUTE, ip_network("10.0.0.0/24"), oif=2,
                            table=TABLE, protocol=Rtprot.RTPROT_KERNEL)]


def python_only(count: int, repeats: int = 5) -> list[dict[str, Any]]:
    """The Exporter's own work on the export and withdraw runs (planning, validation through
    the cache, bookkeeping, request encoding) without the kernel: best of ``repeats``."""
    prefixes = _prefixes(count)
    announce, withdraw = _events(prefixes, "announce"), _events(prefixes, "withdraw")
    config = ExportConfig(dampening_interval=100, rules=[
        ExportRule("bench", community_list=["65000:100"], table_id=TABLE, metric=20)])
    best = {"export-python": float("inf"), "withdraw-python": float("inf")}

    async def once() -> None:
        async with Exporter(config, netlink=_EncodingNetlink(), events=False) as exporter:
            for bench, events in (("export-python", announce), ("withdraw-python", withdraw)):
                started = time.perf_counter()
                exporter.apply(events)
                await exporter.drain()
                best[bench] = min(best[bench], time.perf_counter() - started)
            stats = exporter.stats()
            assert stats.exported == count and stats.withdrawn == count, stats

    for _ in range(repeats):
        asyncio.run(once())
    return [_row(bench, "netlinkbgp", count, seconds, _peak_rss_self())
            for bench, seconds in best.items()]


def ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Our rate over ip -batch's, with the issue's targets."""
    rate = {(r["bench"], r["impl"]): r.get("per_second") for r in rows}
    out = []
    for bench, (absolute, ratio) in TARGETS.items():
        ours = rate.get((bench, "netlinkbgp"))
        if ours is None:
            continue
        out.append(ratio_line(bench, ours, rate.get((bench, "ip-batch")), ratio, absolute))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routes", type=int, default=100_000)
    parser.add_argument("--memory-routes", type=int, default=1_000_000)
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="JSON lines only")
    parser.add_argument("--python-only", action="store_true",
                        help="only the Exporter's own work, without the kernel (best of 5)")
    args = parser.parse_args(argv)
    if args.memory_child:
        print(json.dumps(memory_child(args.memory_child)))
        return 0
    if args.python_only:
        for row in python_only(args.routes):
            print(json.dumps(row))
        return 0
    rows = testing.run_in_netns(_kernel_run, args.routes)
    # A fresh interpreter, so that nothing of the kernel run is counted.
    child = subprocess.run(
        [sys.executable, __file__, "--memory-child", str(args.memory_routes)],
        capture_output=True, text=True, check=True)
    rows.append(json.loads(child.stdout.strip().splitlines()[-1]))
    rows.extend(ratios(rows))
    for row in rows:
        print(json.dumps(row))
    if not args.json:
        print()
        for row in rows:
            if row["impl"] == "ratio":
                print(f"{row['bench']:<10} {row['per_second']:>9}/s  "
                      f"x{row.get('vs_ip_batch', '-')} vs ip -batch")
            elif row["bench"] == "memory":
                print(f"memory     {row['bytes_per_route']:>9} bytes per tracked route")
    return 0


if __name__ == "__main__":
    sys.exit(main())
