"""rtnetlink throughput: netlinkbgp against `ip -batch` (and pyroute2 when installed).

Each family runs in a fresh network namespace, warmed up by adding and deleting the routes once
with ``ip -batch`` (untimed). Every implementation does the same work on the same routes in the
same run, so the ratios mean something on a noisy machine:

* install: N routes (IPv4 /24 or IPv6 /64, via a gateway, table 100, protocol 186);
* dump: dump and decode the table (netlinkbgp only; `ip -j route show` for reference);
  ``dump-mixed``: the same routes through four gateways picked at random, so the dump comes
  in short runs of like messages;
* delete: the same N routes;
* cli: ``netlinkbgp route -b FILE`` against ``ip -batch FILE`` as whole processes.

Prints one JSON object per line (DESIGN §8), then one ``"impl": "ratio"`` line per
comparison with the acceptance target of the rtnetlink issue.

Usage: ``python benchmarks/bench_netlink.py [--routes N] [--family 4|6|both] [--json]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import socket
import subprocess
import sys
import tempfile
import time
from ipaddress import ip_address
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from netlinkbgp import testing
from netlinkbgp.codec.constants import NlmFlag, RtmType
from netlinkbgp.codec.route_requests import RouteSpec
from netlinkbgp.netlink_io import NetlinkSocket

TABLE = 100
PROTO = 186
#: Routes given to pyroute2 (one request and ACK per route: 100k would take minutes).
PYROUTE2_ROUTES = 5_000
#: Targets from the rtnetlink issue (per_second, or ratio against ip -batch).
TARGETS = {
    ("install", "abs"): 150_000, ("install", "ratio"): 2.5, ("delete-ipv4", "ratio"): 1.3,
    ("delete-ipv6", "ratio"): 2.0, ("dump", "abs"): 300_000, ("cli", "ratio"): 1.2,
}


def _routes(family: int, count: int) -> tuple[list[RouteSpec], list[str]]:
    """The same routes as specs (for us) and as `ip -batch` lines."""
    specs: list[RouteSpec] = []
    lines: list[str] = []
    if family == 4:
        gateway = ip_address("10.0.0.2")
        for i in range(count):
            value = (20 << 24) + (i << 8)
            packed = value.to_bytes(4, "big")
            specs.append(RouteSpec(socket.AF_INET, packed, 24, TABLE, PROTO, None, gateway.packed))
            lines.append(f"route add {socket.inet_ntop(socket.AF_INET, packed)}/24 via "
                         f"{gateway} table {TABLE} proto {PROTO}")
    else:
        gateway = ip_address("2001:db8::2")
        for i in range(count):
            value = (0x20010DB8 << 96) | (0x8000 << 80) | (i << 64)
            packed = value.to_bytes(16, "big")
            specs.append(RouteSpec(socket.AF_INET6, packed, 64, TABLE, PROTO, None,
                                   gateway.packed))
            lines.append(f"route add {socket.inet_ntop(socket.AF_INET6, packed)}/64 via "
                         f"{gateway} table {TABLE} proto {PROTO}")
    return specs, lines


def _mixed(specs: list[RouteSpec]) -> list[RouteSpec]:
    """``specs`` through four gateways of the same subnet, picked at random (seeded)."""
    pick = random.Random(4).randrange
    gateways = [(int.from_bytes(specs[0].gateway or b"", "big") + i).to_bytes(
        len(specs[0].dst), "big") for i in range(4)]
    return [spec._replace(gateway=gateways[pick(4)]) for spec in specs]


def _peak_rss_self() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _timed_process(argv: list[str]) -> tuple[float, int]:
    """Run a command; return (seconds, its peak RSS in bytes).

    The peak is the child's own VmHWM, sampled every 5 ms until it exits: the kernel's
    ru_maxrss of a child forked from this (large) Python process would report our size.
    """
    started = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    peak = 0
    status_file = f"/proc/{process.pid}/status"
    name = Path(argv[0]).name[:15]  # the kernel's comm is 15 characters at most
    while process.poll() is None:
        try:
            with open(status_file) as handle:
                fields = dict(line.split(":", 1) for line in handle if ":" in line)
        except OSError:
            fields = {}
        # Until exec the child is still a copy of us (same name, our memory): skip that.
        if fields.get("Name", "").strip() == name and "VmHWM" in fields:
            peak = max(peak, int(fields["VmHWM"].split()[0]) * 1024)
        time.sleep(0.005)
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed with status {process.returncode}")
    return seconds, peak


def _row(bench: str, impl: str, items: int, seconds: float, rss: int) -> dict[str, Any]:
    return {"bench": bench, "impl": impl, "items": items, "seconds": round(seconds, 4),
            "per_second": round(items / seconds), "peak_rss_bytes": rss}


def _setup_namespace() -> None:
    testing.veth_pair("b0", "b1")
    testing.ip("addr", "add", "10.0.0.1/24", "dev", "b0")
    testing.ip("-6", "addr", "add", "2001:db8::1/64", "dev", "b0", "nodad")


def _family_run(family: int, count: int) -> list[dict[str, Any]]:
    """Everything for one family, inside a fresh namespace."""
    _setup_namespace()
    name = f"ipv{family}"
    specs, lines = _routes(family, count)
    rows: list[dict[str, Any]] = []
    create = NlmFlag.NLM_F_CREATE | NlmFlag.NLM_F_EXCL
    with tempfile.TemporaryDirectory() as tmp:
        add_file = Path(tmp) / "add.txt"
        del_file = Path(tmp) / "del.txt"
        add_file.write_text("\n".join(lines) + "\n")
        del_file.write_text("\n".join(line.replace(" add ", " del ", 1) for line in lines) + "\n")
        warm_up(add_file, del_file)
        rows += _measure(family, count, specs, name, create, add_file, del_file)
    rows.extend(_pyroute2(family, specs[:PYROUTE2_ROUTES], name))
    return rows


def warm_up(add_file: Path, del_file: Path) -> None:
    """Add and delete the routes once with ``ip -batch``, untimed: the first routes into a
    fresh namespace pay for growing the kernel's caches (FIB nodes, slabs), and whichever
    implementation ran first paid for it (ours)."""
    _timed_process(["ip", "-batch", str(add_file)])
    _timed_process(["ip", "-batch", str(del_file)])


def _measure(family: int, count: int, specs: list[RouteSpec], name: str, create: int,
             add_file: Path, del_file: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    async def ours() -> None:
        async with NetlinkSocket() as nl:
            started = time.perf_counter()
            results = await nl.routes(RtmType.RTM_NEWROUTE, specs, create)
            took = time.perf_counter() - started
            assert not any(results), [r for r in results if r][:3]
            rows.append(_row(f"install-{name}", "netlinkbgp", count, took, _peak_rss_self()))
            started = time.perf_counter()
            dumped = await nl.dump_routes(socket.AF_INET if family == 4 else socket.AF_INET6,
                                          TABLE)
            took = time.perf_counter() - started
            assert len(dumped) == count, len(dumped)
            rows.append(_row(f"dump-{name}", "netlinkbgp", count, took, _peak_rss_self()))
            started = time.perf_counter()
            results = await nl.routes(RtmType.RTM_DELROUTE, specs)
            took = time.perf_counter() - started
            assert not any(results)
            rows.append(_row(f"delete-{name}", "netlinkbgp", count, took, _peak_rss_self()))
            # The same table through four gateways picked at random: a dump in short runs of
            # like messages (a table learned from several peers).
            mixed = _mixed(specs)
            assert not any(await nl.routes(RtmType.RTM_NEWROUTE, mixed, create))
            started = time.perf_counter()
            dumped = await nl.dump_routes(socket.AF_INET if family == 4 else socket.AF_INET6,
                                          TABLE)
            took = time.perf_counter() - started
            assert len(dumped) == count, len(dumped)
            rows.append(_row(f"dump-mixed-{name}", "netlinkbgp", count, took,
                             _peak_rss_self()))
            assert not any(await nl.routes(RtmType.RTM_DELROUTE, mixed))

    asyncio.run(ours())
    seconds, rss = _timed_process(["ip", "-batch", str(add_file)])
    rows.append(_row(f"install-{name}", "ip-batch", count, seconds, rss))
    seconds, rss = _timed_process(["ip", f"-{family}", "-j", "route", "show", "table",
                                   str(TABLE)])
    rows.append(_row(f"dump-{name}", "ip-json", count, seconds, rss))
    seconds, rss = _timed_process(["ip", "-batch", str(del_file)])
    rows.append(_row(f"delete-{name}", "ip-batch", count, seconds, rss))
    # Whole processes on the same file: our CLI, then ip, each into an empty table.
    cli = [sys.executable, "-m", "netlinkbgp", "route", "-b"]
    seconds, rss = _timed_process([*cli, str(add_file)])
    rows.append(_row(f"cli-install-{name}", "netlinkbgp", count, seconds, rss))
    _timed_process([*cli, str(del_file)])
    seconds, rss = _timed_process(["ip", "-batch", str(add_file)])
    rows.append(_row(f"cli-install-{name}", "ip-batch", count, seconds, rss))
    _timed_process(["ip", "-batch", str(del_file)])
    return rows


def _pyroute2(family: int, specs: list[RouteSpec], name: str) -> list[dict[str, Any]]:
    try:
        from pyroute2 import IPRoute
    except ImportError:
        return []
    size = 24 if family == 4 else 64
    af = socket.AF_INET if family == 4 else socket.AF_INET6
    targets = [(socket.inet_ntop(af, s.dst), socket.inet_ntop(af, s.gateway or b""))
               for s in specs]
    with IPRoute() as ipr:
        started = time.perf_counter()
        for dst, gateway in targets:
            ipr.route("add", dst=f"{dst}/{size}", gateway=gateway, table=TABLE, proto=PROTO)
        install = time.perf_counter() - started
        started = time.perf_counter()
        dumped = ipr.get_routes(family=af, table=TABLE)
        dump = time.perf_counter() - started
        started = time.perf_counter()
        for dst, gateway in targets:
            ipr.route("del", dst=f"{dst}/{size}", gateway=gateway, table=TABLE, proto=PROTO)
        delete = time.perf_counter() - started
    rss = _peak_rss_self()
    return [_row(f"install-{name}", "pyroute2", len(specs), install, rss),
            _row(f"dump-{name}", "pyroute2", len(dumped), dump, rss),
            _row(f"delete-{name}", "pyroute2", len(specs), delete, rss)]


def ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Our rate over ip -batch's for each bench, with the issue's target."""
    rate = {(r["bench"], r["impl"]): r["per_second"] for r in rows}
    out = []
    for (bench, impl), ours in rate.items():
        if impl != "netlinkbgp":
            continue
        kind = bench.split("-")[0] if not bench.startswith("cli") else "cli"
        if bench.startswith("delete"):
            kind = bench
        out.append(ratio_line(bench, ours, rate.get((bench, "ip-batch")),
                              TARGETS.get((kind, "ratio")), TARGETS.get((kind, "abs"))))
    return out


def ratio_line(bench: str, ours: float, reference: float | None, ratio: float | None,
               absolute: float | None) -> dict[str, Any]:
    """The ``ratio`` row of one bench: our rate, and against ``ip -batch``'s when measured,
    with the issue's targets (a falsy target is not checked)."""
    line: dict[str, Any] = {"bench": bench, "impl": "ratio", "per_second": ours}
    if reference:
        line["vs_ip_batch"] = round(ours / reference, 2)
        if ratio:
            line["target_ratio"] = ratio
            line["met_ratio"] = line["vs_ip_batch"] >= ratio
    if absolute:
        line["target_per_second"] = absolute
        line["met_per_second"] = ours >= absolute
    return line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routes", type=int, default=100_000, help="routes per family")
    parser.add_argument("--family", choices=["4", "6", "both"], default="both")
    parser.add_argument("--json", action="store_true", help="JSON lines only (the default "
                        "output is JSON lines too, followed by a short table)")
    args = parser.parse_args(argv)
    families = [4, 6] if args.family == "both" else [int(args.family)]
    rows: list[dict[str, Any]] = []
    for family in families:
        rows.extend(testing.run_in_netns(_family_run, family, args.routes))
    rows.extend(ratios(rows))
    for row in rows:
        print(json.dumps(row))
    if not args.json:
        print()
        for row in rows:
            if row["impl"] == "ratio":
                print(f"{row['bench']:<20} {row['per_second']:>9}/s  "
                      f"x{row.get('vs_ip_batch', '-')} vs ip -batch")
    return 0


if __name__ == "__main__":
    sys.exit(main())
