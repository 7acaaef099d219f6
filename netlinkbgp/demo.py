"""``netlinkbgp demo``: the library at work, in a private network namespace.

Everything happens in a namespace created for the demo (a user namespace too when not root),
so the machine's own routes are never touched. Each step says what it does and shows what the
kernel then holds, read back through our own codec.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
import time
from collections.abc import Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Any, TextIO

from netlinkbgp import testing
from netlinkbgp.cli_route import Names, format_route
from netlinkbgp.codec.constants import NlmFlag, RtmType
from netlinkbgp.codec.messages import RouteMessage
from netlinkbgp.codec.route_requests import RouteSpec
from netlinkbgp.export_config import ExportConfig, ExportRule
from netlinkbgp.exporter import Exporter
from netlinkbgp.importer import ImportConfig, Importer
from netlinkbgp.netlink_io import EventSocket, NetlinkSocket
from netlinkbgp.route import NextHop, RouteEvent, parse_community

__all__ = ["run_demo"]

#: Routes installed in bulk by the demo: enough to show the rate, quick on any machine.
DEMO_ROUTES = 20_000
#: The demo's own protocol number (RTPROT_BGP): it only ever deletes routes carrying it.
DEMO_PROTO = 186
DEMO_TABLE = 100


def _steps() -> list[dict[str, Any]]:
    """The demo body; runs inside the private namespace."""
    steps: list[dict[str, Any]] = []
    a, _b = testing.veth_pair("demo0", "demo1")
    testing.ip("addr", "add", "198.51.100.1/24", "dev", "demo0")
    testing.ip("-6", "addr", "add", "2001:db8:100::1/64", "dev", "demo0", "nodad")
    steps.append({"step": "namespace", "text": "created a private network namespace with a "
                  "veth pair demo0/demo1, 198.51.100.1/24 and 2001:db8:100::1/64 on demo0"})

    async def body() -> None:
        async with NetlinkSocket() as nl, EventSocket() as events:
            names = Names(await nl.dump_links())
            gw4 = ip_address("198.51.100.2").packed
            gw6 = ip_address("2001:db8:100::2").packed
            specs = [RouteSpec(socket.AF_INET, ((10 << 24) | (i << 8)).to_bytes(4, "big"), 24,
                               DEMO_TABLE, DEMO_PROTO, 20, gw4) for i in range(DEMO_ROUTES)]
            specs += [
                RouteSpec(socket.AF_INET6, IPv6Network("2001:db8:ff::/48").network_address.packed,
                          48, DEMO_TABLE, DEMO_PROTO, 20, gw6),
                # Two that the kernel must refuse: an unreachable gateway.
                RouteSpec(socket.AF_INET, bytes((192, 0, 2, 0)), 24, DEMO_TABLE, DEMO_PROTO,
                          20, bytes((203, 0, 113, 1))),
                RouteSpec(socket.AF_INET6, IPv6Network("2001:db8:bad::/48").network_address
                          .packed, 48, DEMO_TABLE, DEMO_PROTO, 20,
                          ip_address("2001:db8:dead::1").packed),
            ]
            started = time.perf_counter()
            results = await nl.routes(RtmType.RTM_NEWROUTE, specs,
                                      NlmFlag.NLM_F_CREATE | NlmFlag.NLM_F_EXCL)
            took = time.perf_counter() - started
            failed = [(s, e) for s, e in zip(specs, results, strict=True) if e]
            steps.append({
                "step": "batch-install", "routes": len(specs), "seconds": round(took, 4),
                "per_second": round(len(specs) / took), "failed": [
                    {"route": format_route(_as_message(s), names), "error": str(e)}
                    for s, e in failed],
                "text": f"installed {len(specs) - len(failed)} of {len(specs)} routes in table "
                f"{DEMO_TABLE} in {took * 1000:.0f} ms, many per datagram; the kernel refused "
                f"{len(failed)}, each reported with its own errno and extended-ack text",
            })
            started = time.perf_counter()
            routes = await nl.dump_routes(table=DEMO_TABLE)
            took = time.perf_counter() - started
            steps.append({"step": "dump", "routes": len(routes), "seconds": round(took, 4),
                          "sample": [format_route(r, names) for r in routes[:2] + routes[-1:]],
                          "text": f"dumped and decoded table {DEMO_TABLE}: {len(routes)} routes "
                          f"in {took * 1000:.0f} ms"})
            main = RouteSpec(socket.AF_INET, bytes((203, 0, 113, 0)), 24, 254, DEMO_PROTO, 20, gw4)
            await nl.routes(RtmType.RTM_NEWROUTE, [main], NlmFlag.NLM_F_CREATE)
            found = await nl.get_route(ip_address("203.0.113.9"))
            steps.append({"step": "lookup", "route": format_route(found, names) if found else None,
                          "text": "added 203.0.113.0/24 to the main table and asked the kernel "
                          "which route carries 203.0.113.9 (RTM_GETROUTE, fibmatch)"})
            while events.drain():  # the install's own notifications are not the point here
                pass
            changed = RouteSpec(socket.AF_INET, bytes((10, 0, 0, 0)), 24, DEMO_TABLE,
                                DEMO_PROTO, 20, ip_address("198.51.100.3").packed, a)
            await nl.routes(RtmType.RTM_NEWROUTE, [changed],
                            NlmFlag.NLM_F_CREATE | NlmFlag.NLM_F_REPLACE)
            lines = await _changes_in(events, DEMO_TABLE, names)
            steps.append({"step": "event", "events": lines, "text": "moved 10.0.0.0/24 to "
                          "another gateway atomically (NLM_F_REPLACE); the event socket saw:"})
            # A delete names what identifies our route (protocol, table, prefix, metric), not
            # its next hop, so it matches whatever gateway the route has by now.
            ours = [s._replace(gateway=None)
                    for s, e in zip([*specs, main], [*results, None], strict=True) if e is None]
            started = time.perf_counter()
            results = await nl.routes(RtmType.RTM_DELROUTE, ours)
            took = time.perf_counter() - started
            left = await nl.dump_routes(table=DEMO_TABLE)
            steps.append({"step": "delete", "deleted": sum(r is None for r in results),
                          "left": len(left), "seconds": round(took, 4),
                          "text": f"deleted our {len(ours)} routes (each delete carries protocol "
                          f"{DEMO_PROTO}, so nobody else's route can match) in "
                          f"{took * 1000:.0f} ms; {len(left)} left in the table"})

    asyncio.run(body())
    asyncio.run(_pipeline(steps))
    return steps


class _AsIfFromAPeer:
    """Stands in for BGP between the Importer and the Exporter (the Speaker comes next):
    gives each imported route the next hop and community a peer would announce."""

    def __init__(self, exporter: Exporter) -> None:
        self.exporter = exporter

    def apply(self, events: Sequence[RouteEvent]) -> None:
        hop = (NextHop(ip_address("198.51.100.2")),)
        community = (parse_community("65000:100"),)
        self.exporter.apply([RouteEvent(e.kind, None if e.route is None else dataclasses.replace(
            e.route, next_hops=hop, communities=community)) for e in events])


async def _pipeline(steps: list[dict[str, Any]]) -> None:
    """Importer -> (a stand-in for BGP) -> Exporter, all in the namespace."""
    testing.ip("link", "add", "lb0", "type", "veth", "peer", "name", "lb0peer")
    testing.ip("link", "set", "lb0", "up")
    testing.ip("addr", "add", "192.0.2.1/28", "dev", "lb0")
    # Validation is scoped to the rule's table, and table 200 holds no connected routes:
    # without it the route goes ONLINK on the device that reaches the next hop.
    rule = ExportRule("vips", community_list=("65000:100",), table_id=200,
                      validate_nexthop=False)
    async with Exporter(ExportConfig(rules=(rule,), dampening_interval=0)) as exporter, \
            Importer(ImportConfig(interfaces=("lb*",), resync_interval=0)) as importer:
        importer.subscribe(_AsIfFromAPeer(exporter))
        await exporter.drain()
        shown = testing.ip("route", "show", "table", "200", check=False).strip()
        steps.append({"step": "pipeline-import", "kernel": shown.splitlines(),
                      "text": "the Importer saw 192.0.2.0/28, connected on lb0; "
                      "tagged as a peer would (next hop 198.51.100.2, community 65000:100) "
                      "the Exporter installed it in table 200, onlink on the device that "
                      "reaches the next hop:"})
        testing.ip("addr", "del", "192.0.2.1/28", "dev", "lb0")
        for _ in range(100):  # the withdraw travels through events: wait for it, bounded
            await exporter.drain()
            if not testing.ip("route", "show", "table", "200", check=False).strip():
                break
            await asyncio.sleep(0.01)
        left = testing.ip("route", "show", "table", "200", check=False).strip()
        steps.append({"step": "pipeline-withdraw", "kernel": left.splitlines(),
                      "stats": {"import": dataclasses.asdict(importer.stats()),
                                "export": dataclasses.asdict(exporter.stats())},
                      "text": "removed the address: withdrawn by the Importer, deleted by the "
                      f"Exporter; table 200 now holds {len(left.splitlines())} routes"})


async def _changes_in(events: EventSocket, table: int, names: Names) -> list[str]:
    """The route changes of ``table`` the event socket reports within 2 seconds (other
    tables' changes, such as IPv6 routes of a link coming up, are not the demo's)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 2
    while (left := deadline - loop.time()) > 0:
        try:
            batch = await asyncio.wait_for(events.receive(), left)
        except TimeoutError:
            break
        if not isinstance(batch, list):
            return ["(events were lost: the receive buffer overflowed)"]
        lines = [("Deleted " if m.msg_type == RtmType.RTM_DELROUTE else "") + format_route(m, names)
                 for m in batch if isinstance(m, RouteMessage) and m.table_id == table]
        if lines:
            return lines
    return []


def _as_message(spec: RouteSpec) -> RouteMessage:
    from netlinkbgp.codec.messages import build_route

    prefix = IPv4Network((spec.dst, spec.dst_len)) if spec.family == socket.AF_INET else \
        IPv6Network((spec.dst, spec.dst_len))
    gateway = ip_address(spec.gateway) if spec.gateway else None
    return build_route(RtmType.RTM_NEWROUTE, prefix, gateway=gateway, table=spec.table,
                       metric=spec.metric, protocol=spec.protocol)


def run_demo(as_json: bool, out: TextIO) -> int:
    """Run the demo in a private namespace and print each step; returns the exit code."""
    steps = testing.run_in_netns(_steps)
    if as_json:
        for step in steps:
            out.write(json.dumps(step) + "\n")
        return 0
    out.write("netlinkbgp demo: rtnetlink by hand, in a private network namespace\n\n")
    for number, step in enumerate(steps, 1):
        out.write(f"{number}. {step['text']}\n")
        for line in step.get("sample", ()):
            out.write(f"     {line}\n")
        for failure in step.get("failed", ()):
            out.write(f"     refused: {failure['route']}: {failure['error']}\n")
        if step.get("route"):
            out.write(f"     {step['route']}\n")
        for line in step.get("events", ()):
            out.write(f"     event: {line}\n")
        for line in step.get("kernel", ()):
            out.write(f"     {line}\n")
    out.write("\nThe namespace is gone; nothing outside it was touched.\n")
    return 0
