"""Import latency: from `ip addr add` to the Importer's announce event (DESIGN §8 format).

In a fresh network namespace an Importer follows ``lb*`` interfaces; the benchmark adds an
address with ``ip addr add`` and times until the announce reaches a sink, then removes it and
times the withdraw, ``--count`` times. The time includes starting the ``ip`` process (a few
milliseconds), as an operator's change would. Prints JSON lines with the median and p99.
With ``--vip`` the addresses are /32 host addresses (service VIPs, imported from the address
rather than from a connected route) and the rows are named ``import-vip-latency-*``.

Usage: ``python benchmarks/bench_import.py [--count 200] [--vip] [--json]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from netlinkbgp import testing
from netlinkbgp.importer import ImportConfig, Importer
from netlinkbgp.route import RouteEvent

#: Target of the Importer/Exporter issue: median and p99 at most 50 ms.
TARGET_SECONDS = 0.050


class _Waiter:
    def __init__(self) -> None:
        self.seen: asyncio.Queue[RouteEvent] = asyncio.Queue()

    def apply(self, events: Sequence[RouteEvent]) -> None:
        for event in events:
            self.seen.put_nowait(event)


async def _next(waiter: _Waiter, kind: str, prefix: str) -> None:
    while True:
        event = await asyncio.wait_for(waiter.seen.get(), 5)
        if event.kind == kind and event.route and str(event.route.prefix) == prefix:
            return


def _run(count: int, vip: bool = False) -> list[dict[str, Any]]:
    testing.veth_pair("lb0", "peer0")

    async def main() -> tuple[list[float], list[float]]:
        waiter = _Waiter()
        adds: list[float] = []
        dels: list[float] = []
        async with Importer(ImportConfig(interfaces=("lb*",), resync_interval=0)) as importer:
            importer.subscribe(waiter)
            for i in range(count):
                net = f"10.{i // 250}.{i % 250}"
                address, prefix = ((f"{net}.1/32", f"{net}.1/32") if vip
                                   else (f"{net}.1/24", f"{net}.0/24"))
                started = time.perf_counter()
                await asyncio.to_thread(testing.ip, "addr", "add", address, "dev", "lb0")
                await _next(waiter, "announce", prefix)
                adds.append(time.perf_counter() - started)
                started = time.perf_counter()
                await asyncio.to_thread(testing.ip, "addr", "del", address, "dev", "lb0")
                await _next(waiter, "withdraw", prefix)
                dels.append(time.perf_counter() - started)
        return adds, dels

    adds, dels = asyncio.run(main())
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    rows = []
    name = "import-vip-latency" if vip else "import-latency"
    for bench, samples in ((f"{name}-add", adds), (f"{name}-del", dels)):
        ordered = sorted(samples)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        median = statistics.median(ordered)
        rows.append({"bench": bench, "impl": "netlinkbgp", "items": len(samples),
                     "seconds": round(sum(samples), 4),
                     "per_second": round(len(samples) / sum(samples)),
                     "peak_rss_bytes": rss, "median_ms": round(median * 1000, 2),
                     "p99_ms": round(p99 * 1000, 2), "target_ms": TARGET_SECONDS * 1000,
                     "met": median <= TARGET_SECONDS and p99 <= TARGET_SECONDS})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--vip", action="store_true",
                        help="/32 host addresses (service VIPs) instead of /24 subnets")
    parser.add_argument("--json", action="store_true", help="JSON lines only (the default)")
    args = parser.parse_args(argv)
    for row in testing.run_in_netns(_run, args.count, args.vip):
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
