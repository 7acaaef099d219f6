"""``netlinkbgp demo``: the library at work, in private network namespaces.

Everything happens in namespaces created for the demo (a user namespace too when not root),
so the machine's own routes are never touched. First rtnetlink by hand (a batch install with
per-route errors, a dump, a lookup, an atomic replace seen by the event socket, a delete);
then the whole pipeline: two namespaces joined by a veth, a daemon in each, a connected route
imported on one side, carried over BGP and installed by the other, then withdrawn. Each step
says what it does and shows what the kernel then holds.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Coroutine
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Any, TextIO, TypeVar

from netlinkbgp import testing
from netlinkbgp.cli_route import Names, format_route
from netlinkbgp.codec.constants import NlmFlag, RtmType
from netlinkbgp.codec.messages import RouteMessage
from netlinkbgp.codec.route_requests import RouteSpec
from netlinkbgp.config import parse_config
from netlinkbgp.daemon import Daemon
from netlinkbgp.netlink_io import EventSocket, NetlinkSocket
from netlinkbgp.sync import Runner

__all__ = ["run_demo"]

_T = TypeVar("_T")

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


#: The two daemons' configuration files, as an operator would write them.
LEFT_CONFIG = """\
[global.config]
as = 65001
router-id = "10.0.0.1"
local-address-list = ["10.0.0.1"]
port = 179

[[neighbors]]
[neighbors.config]
neighbor-address = "10.0.0.2"
peer-as = 65002
[neighbors.transport.config]
passive-mode = true

[netlink.import]
enabled = true
interface-list = ["lb*"]
"""
RIGHT_CONFIG = """\
[global.config]
as = 65002
router-id = "10.0.0.2"

[[neighbors]]
[neighbors.config]
neighbor-address = "10.0.0.1"
peer-as = 65001

[netlink.export]
enabled = true
dampening-interval = 0

[[netlink.export.rules]]
name = "from-left"
table-id = 254
metric = 20
validate-nexthop = true
"""
#: How long the demo waits for any one step (a session comes up in well under a second).
STEP_TIMEOUT = 15.0


async def _in(runner: Runner, coro: Coroutine[Any, Any, _T]) -> _T:
    """Run ``coro`` on ``runner``'s loop (another thread, another namespace) and await it."""
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, runner.loop))


async def _pipeline(steps: list[dict[str, Any]]) -> None:
    """Two namespaces joined by a veth; a daemon in each: the left one imports a connected
    route and announces it over BGP, the right one receives it and installs it."""
    right = Runner()
    try:
        await _two_daemons(steps, right)
    finally:
        right.close()


async def _two_daemons(steps: list[dict[str, Any]], right: Runner) -> None:
    tid = right.call(testing.unshare_thread_netns)
    testing.ip("link", "add", "left0", "type", "veth", "peer", "name", "right0")
    testing.ip("link", "set", "right0", "netns", str(tid))
    testing.ip("addr", "add", "10.0.0.1/30", "dev", "left0")
    testing.ip("link", "set", "left0", "up")
    right.call(testing.ip, "addr", "add", "10.0.0.2/30", "dev", "right0")
    right.call(testing.ip, "link", "set", "right0", "up")
    testing.ip("link", "add", "lb0", "type", "veth", "peer", "name", "lb0peer")
    testing.ip("link", "set", "lb0", "up")
    steps.append({"step": "two-namespaces", "configs": {"left": LEFT_CONFIG,
                                                        "right": RIGHT_CONFIG},
                  "text": "created a second namespace, joined to the first by the veth "
                  "left0 (10.0.0.1/30) / right0 (10.0.0.2/30); one daemon in each, from "
                  "these config files (AS 65001 imports the connected routes of lb*, "
                  "AS 65002 exports what it receives to its main table):"})
    left_daemon = Daemon(parse_config(LEFT_CONFIG, "left.toml"))
    right_daemon = Daemon(parse_config(RIGHT_CONFIG, "right.toml"))
    await left_daemon.start()
    await _in(right, right_daemon.start())
    try:
        await _in(right, right_daemon.speaker.wait_established(timeout=STEP_TIMEOUT))
        testing.ip("addr", "add", "192.0.2.1/28", "dev", "lb0")
        await _in(right, right_daemon.speaker.wait_route("192.0.2.0/28",
                                                         timeout=STEP_TIMEOUT))
        shown = await _in(right, _kernel_routes(right_daemon))
        peer = (await _in(right, right_daemon.handle("ListPeer", {})))[0]
        steps.append({"step": "announced", "kernel": shown, "peer": {
            k: peer[k] for k in ("address", "state", "remote_asn", "hold_time",
                                 "accepted_prefixes")},
            "text": "added 192.0.2.1/28 to lb0 on the left: the Importer saw the connected "
            "route, the left Speaker announced it, the right Speaker received it "
            f"(session {peer['state']}, hold time {peer['hold_time']} s) and the right "
            "Exporter installed it; the right kernel now shows:"})
        testing.ip("addr", "del", "192.0.2.1/28", "dev", "lb0")
        await _in(right, right_daemon.speaker.wait_route("192.0.2.0/28", present=False,
                                                         timeout=STEP_TIMEOUT))
        left = await _in(right, _kernel_routes(right_daemon))
        steps.append({
            "step": "withdrawn", "kernel": left, "stats": {
                "left-import": await left_daemon.handle("GetNetlinkImportStats", {}),
                "right-export": await _in(right, right_daemon.handle(
                    "GetNetlinkExportStats", {}))},
            "text": "removed the address: withdrawn over BGP, deleted from the right "
            f"kernel ({len(left)} of our routes left there)"})
    finally:
        await _in(right, right_daemon.stop())
        await left_daemon.stop()


async def _kernel_routes(daemon: Daemon) -> list[str]:
    """Our routes in the right namespace's main table, once the Exporter has acted
    (``drain``); read with `ip` so the demo shows what any tool would see."""
    assert daemon.exporter is not None
    await daemon.exporter.drain()
    text = testing.ip("route", "show", "proto", "186", check=False)
    return [line.strip() for line in text.splitlines() if line.strip()]


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
    out.write("netlinkbgp demo: rtnetlink and BGP by hand, in private network namespaces\n\n")
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
        for name, text in step.get("configs", {}).items():
            out.write(f"     --- {name}.toml ---\n")
            out.writelines(f"     {line}\n" for line in text.splitlines() if line)
        for line in step.get("kernel", ()):
            out.write(f"     {line}\n")
        for name, stats in step.get("stats", {}).items():
            shown = ", ".join(f"{k} {v}" for k, v in stats.items()
                              if isinstance(v, int) and not isinstance(v, bool))
            out.write(f"     {name}: {shown}\n")
    out.write("\nThe namespaces are gone; nothing outside them was touched.\n")
    return 0
