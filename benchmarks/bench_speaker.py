"""Speaker benchmark: a full table over real BGP sessions, to our Speaker, BIRD 2 and ExaBGP 5.

Uses the seeded table of ``benchmarks/gen_table.py`` (950k IPv4 + 220k IPv6 prefixes) and
prints DESIGN §8 JSON lines. Everything runs in two private network namespaces joined by a
veth pair (``tests/interop/daemons.py``'s :func:`topology`; needs root and ``ip netns``):

* ``speaker-load``: the table turned into :class:`~netlinkbgp.route.Route` objects and
  handed to :meth:`Speaker.announce` (what the public API offers), timed on its own. Building
  the ``Route`` objects is reported as ``route_build_seconds``.
* ``speaker-full-table``: a sender Speaker (the whole table announced) and a receiver
  Speaker in one namespace, over TCP on loopback (127.0.0.2 <-> 127.0.0.1); from the
  receiver seeing the session Established to the receiver holding End-of-RIB for IPv4 and
  IPv6 with every prefix accepted (asserted). Target: <= 20 s.
* ``speaker-to-bird``: the first ``--bird-prefixes`` of the table (IPv4 and IPv6 in the
  table's proportion) from our sender to BIRD 2 across the veth pair; from the sender seeing
  Established to ``birdc show route count`` reporting them all (polled every 0.1 s).
* ``speaker-to-exabgp`` / ``speaker-to-speaker``: the same prefixes to ExaBGP 5 as receiver
  (an API process counts the parsed prefixes and notes End-of-RIB), then to our receiver
  Speaker the same way; both from the sender seeing Established to the receiver holding every
  prefix and End-of-RIB. Target: ours >= 5x faster (``vs_exabgp``).

Every receiver is a fresh process (``ip netns exec``), so its ``peak_rss_bytes`` is its own;
the sender is a forked child that keeps the routes built once. Then one ``"impl": "ratio"``
line per target with ``met``.

    python3 benchmarks/bench_speaker.py            # full table, ExaBGP/BIRD on 100k (minutes)
    python3 benchmarks/bench_speaker.py --small    # 20k prefixes, for the CI smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import multiprocessing
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from ipaddress import IPv4Address, IPv4Network, IPv6Network
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.gen_table import FULL_V4, FULL_V6, PEER_AS, generate  # noqa: E402
from netlinkbgp import PeerConfig, Route, Speaker, SpeakerConfig  # noqa: E402
from netlinkbgp.bgp import Negotiated  # noqa: E402
from netlinkbgp.bgp.rib import AdjRibIn, PeerInfo, split_key  # noqa: E402

#: Targets of the Speaker issue.
FULL_TABLE_SECONDS = 20.0
EXABGP_RATIO = 5.0
#: AS numbers far above the generated table's (1..400,000), so no path holds them (a loop).
SENDER_AS = 4_200_000_002
RECEIVER_AS = 4_200_000_001
#: Loopback addresses of the speaker-to-speaker run.
LO_RECEIVER = "127.0.0.1"
LO_SENDER = "127.0.0.2"
#: Interval of the BIRD and ExaBGP polls (the brief: 0.1 s).
POLL_SECONDS = 0.1
#: Longest any one run may take before it counts as failed (ExaBGP takes minutes on 100k).
DEFAULT_TIMEOUT_SECONDS = 900.0
RUN_TIMEOUT_SECONDS = DEFAULT_TIMEOUT_SECONDS
#: Longest a session may take to come up.
ESTABLISH_TIMEOUT_SECONDS = 60.0


def _line(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def _rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _hwm() -> int:
    """Peak RSS of this process image (``VmHWM``; a fresh program starts afresh)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return _rss()


# ------------------------------------------------------------------------------------------
# The table as routes.
# ------------------------------------------------------------------------------------------


def build_routes(v4: int, v6: int, seed: int) -> tuple[list[Route], float, float]:
    """The generated table as ``Route`` objects.

    The UPDATEs are applied to an Adj-RIB-In; each distinct attribute set becomes a
    ``Route`` once (:meth:`Path.to_route`) and every prefix that shares it reuses its values
    (``to_route`` per prefix decodes the attributes again each time: 4x slower).

    Returns:
        (routes, seconds to generate the UPDATEs, seconds to build the routes).
    """
    start = time.perf_counter()
    stream = b"".join(generate(v4, v6, seed))
    generated = time.perf_counter() - start
    start = time.perf_counter()
    peer = PeerInfo(IPv4Address("192.0.2.1"), PEER_AS, IPv4Address("192.0.2.1"), True)
    adj = AdjRibIn(peer, Negotiated.default())
    _, rest = adj.apply_stream(stream, collect=False)
    assert not rest
    del stream
    templates: dict[int, tuple[Any, ...]] = {}
    routes: list[Route] = []
    append = routes.append
    for family, key, path in adj:
        values = templates.get(id(path))
        if values is None:
            r = path.to_route(family, key)
            values = templates[id(path)] = (
                r.next_hops, r.origin, r.as_path, r.med, r.local_pref, r.communities,
                r.large_communities, r.ext_communities, r.rd, r.labels, "", "local")
        value, length, _ = split_key(family, key)
        network = (IPv4Network((value, length)) if family.max_length == 32
                   else IPv6Network((value, length)))
        append(Route(network, *values))
    return routes, generated, time.perf_counter() - start


#: BIRD ignores routes to loopback addresses as bogus ("Ignoring bogus route"); the table
#: has a few hundred in 127.0.0.0/8 (its first octets are 1..223).
LOOPBACK = IPv4Network("127.0.0.0/8")


def subset(routes: list[Route], v4: int, v6: int) -> list[Route]:
    """The first ``v4`` IPv4 (none in 127.0.0.0/8) and ``v6`` IPv6 routes."""
    four = [r for r in routes if r.prefix.version == 4
            and not r.prefix.subnet_of(LOOPBACK)][:v4]
    six = [r for r in routes if r.prefix.version == 6][:v6]
    return four + six


# ------------------------------------------------------------------------------------------
# The sender: a forked child in a namespace, listening; receivers connect to it.
# ------------------------------------------------------------------------------------------


def _sender_main(ns: str, routes: list[Route], listen: str, peer: PeerConfig,
                 conn: Connection) -> None:
    from netlinkbgp import testing

    testing.enter_named_netns(ns)

    async def run() -> dict[str, Any]:
        speaker = Speaker(SpeakerConfig(SENDER_AS, "10.99.0.2", peers=(peer,),
                                        listen_address=listen, listen_port=179))
        start = time.perf_counter()
        speaker.announce(routes)
        announced = time.perf_counter() - start
        established: list[float] = []
        states: list[str] = []

        def on_event(event: Any) -> None:
            if event.kind == "state":
                states.append(f"{event.time:.3f} {event.state}")
                if event.state == "Established":
                    established.append(time.time())
            elif event.kind.startswith("notification") or event.kind == "error":
                states.append(f"{event.time:.3f} {event.kind}: {event.text}")

        speaker.on_event(on_event)
        await speaker.start()
        conn.send({"ready": True, "announce_seconds": announced})
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, conn.recv)  # the parent says stop
        status = speaker.status()[0]
        await speaker.stop()
        return {"established_at": established, "states": states,
                "advertised": status.advertised, "updates_sent": status.updates_sent,
                "connections": status.connections, "last_error": status.last_error,
                "peak_rss_bytes": _rss()}

    try:
        conn.send(asyncio.run(run()))
    except BaseException as exc:  # report, then exit
        conn.send({"error": repr(exc)})
        raise


@contextlib.contextmanager
def sender(ns: str, routes: list[Route], listen: str, peer: PeerConfig
           ) -> Iterator[Callable[[], dict[str, Any]]]:
    """Run the sender; yields a function that stops it and returns its report."""
    parent, child = multiprocessing.get_context("fork").Pipe()
    proc = multiprocessing.get_context("fork").Process(
        target=_sender_main, args=(ns, routes, listen, peer, child), daemon=True)
    proc.start()
    if not parent.poll(RUN_TIMEOUT_SECONDS):
        raise RuntimeError("the sender did not start")
    ready = parent.recv()
    if "error" in ready:
        raise RuntimeError(f"sender: {ready['error']}")
    report: dict[str, Any] = {}

    def stop() -> dict[str, Any]:
        if not report:
            parent.send("stop")
            if parent.poll(60):
                report.update(parent.recv())
            report.setdefault("announce_seconds", ready["announce_seconds"])
        return report

    try:
        yield stop
    finally:
        with contextlib.suppress(OSError, BrokenPipeError):
            stop()
        proc.join(10)
        if proc.is_alive() and proc.pid is not None:
            proc.kill()
            proc.join()


# ------------------------------------------------------------------------------------------
# Receivers.
# ------------------------------------------------------------------------------------------


def receiver_child(args: argparse.Namespace) -> None:
    """``--receiver-child``: our receiver Speaker connects to the sender; print one JSON."""
    expected = args.expect

    async def run() -> dict[str, Any]:
        peer = PeerConfig(args.remote, SENDER_AS, port=179, local_address=args.local,
                          hold_time=90, connect_retry_time=1.0, idle_hold_time=0.5)
        speaker = Speaker(SpeakerConfig(RECEIVER_AS, "10.99.0.1", peers=(peer,)))
        established: list[float] = []
        drops: list[str] = []
        done: list[float] = []
        states: list[str] = []

        def on_event(event: Any) -> None:
            if done:  # our own Cease at the end is no drop
                return
            if event.kind == "state":
                states.append(f"{event.time:.3f} {event.state}")
            if event.kind == "state" and event.state == "Established":
                established.append(time.time())
            elif event.kind == "state" and event.old_state == "Established":
                drops.append(f"down to {event.state}")
            elif event.kind.startswith("notification") or event.kind == "error":
                drops.append(f"{event.kind}: {event.text}")

        speaker.on_event(on_event)
        await speaker.start()
        await speaker.wait_established(timeout=ESTABLISH_TIMEOUT_SECONDS)
        await speaker.wait_end_of_rib(timeout=RUN_TIMEOUT_SECONDS)
        done.append(time.time())
        status = speaker.status()[0]
        await speaker.stop()
        return {"established_at": established[0], "done_at": done[0],
                "accepted": status.accepted_prefixes, "received": status.received_prefixes,
                "updates": status.updates_received, "connections": status.connections,
                "drops": drops, "states": states, "expected": expected,
                "peak_rss_bytes": _hwm()}

    print(json.dumps(asyncio.run(run())), flush=True)


def run_our_receiver(ns: str, remote: str, local: str, expected: int) -> dict[str, Any]:
    """Our receiver in a fresh process in ``ns``; its JSON report."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run(
        ["ip", "netns", "exec", ns, sys.executable, __file__, "--receiver-child",
         "--remote", remote, "--local", local, "--expect", str(expected),
         "--timeout", str(RUN_TIMEOUT_SECONDS)],
        capture_output=True, text=True, env=env, timeout=RUN_TIMEOUT_SECONDS)
    if out.returncode:
        raise RuntimeError(f"receiver failed: {out.stderr[-3000:]}")
    report: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return report


#: The ExaBGP API process: counts announced prefixes per parsed UPDATE, notes the session
#: coming up and each End-of-RIB, and writes its report when both families ended.
EXABGP_COUNTER = r'''
import json, sys, time
out = sys.argv[1]
count = 0
up = None
eor = set()
updates = 0
for line in sys.stdin:
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    kind = msg.get("type")
    if kind == "state" and msg["neighbor"].get("state") == "up":
        up = time.time()
    elif kind == "update":
        body = msg["neighbor"]["message"]
        if "eor" in body:
            eor.add(body["eor"]["afi"])
            if len(eor) == 2:
                with open(out + ".tmp", "w") as f:
                    json.dump({"up": up, "done": time.time(), "count": count,
                               "updates": updates}, f)
                import os
                os.rename(out + ".tmp", out)
        else:
            updates += 1
            for nexthops in body.get("update", {}).get("announce", {}).values():
                for nlri in nexthops.values():
                    count += len(nlri)
'''


def exabgp_config(counter: str, report: str, neighbor: str, local: str) -> str:
    return f"""process counter {{
    run {sys.executable} {counter} {report};
    encoder json;
}}

neighbor {neighbor} {{
    router-id 10.99.0.1;
    local-address {local};
    local-as {RECEIVER_AS};
    peer-as {SENDER_AS};
    hold-time 90;
    family {{
        ipv4 unicast;
        ipv6 unicast;
    }}
    api {{
        processes [ counter ];
        neighbor-changes;
        receive {{
            parsed;
            update;
        }}
    }}
}}
"""


def run_exabgp(ns: str, remote: str, local: str, workdir: Path) -> dict[str, Any]:
    """ExaBGP 5 in ``ns`` connecting to the sender; the counter's report."""
    counter = workdir / "counter.py"
    counter.write_text(EXABGP_COUNTER)
    report = workdir / "exabgp-report.json"
    conf = workdir / "exabgp.conf"
    conf.write_text(exabgp_config(str(counter), str(report), remote, local))
    env = dict(os.environ, exabgp_daemon_user="root", exabgp_daemon_drop="false",
               exabgp_log_destination="stderr", exabgp_log_level="WARNING",
               exabgp_tcp_bind="", exabgp_api_ack="false")
    log = open(workdir / "exabgp.log", "w")  # noqa: SIM115 - closed below
    exa = shutil.which("exabgp") or "exabgp"
    proc = subprocess.Popen(["ip", "netns", "exec", ns, exa, str(conf)], stdout=log,
                            stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
        while not report.exists():
            if proc.poll() is not None:
                raise RuntimeError("exabgp exited: "
                                   + (workdir / "exabgp.log").read_text()[-3000:])
            if time.monotonic() > deadline:
                raise TimeoutError("exabgp did not report End-of-RIB")
            time.sleep(POLL_SECONDS)
        result: dict[str, Any] = json.loads(report.read_text())
        # ``ip netns exec`` execs the command: the pid is ExaBGP's own
        with open(f"/proc/{proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    result["peak_rss_bytes"] = int(line.split()[1]) * 1024
        return result
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def run_bird(ns: str, remote: str, local: str, expected: tuple[int, int]) -> dict[str, Any]:
    """BIRD 2 in ``ns`` connecting to the sender; poll the route counts until complete."""
    from tests.interop.daemons import Bird, BirdPeer, bird_config

    peer = BirdPeer("sender", remote, SENDER_AS, local_address=local, import_="all",
                    export="none", connect_delay=1, connect_retry=1)
    with Bird(ns, bird_config(RECEIVER_AS, "10.99.0.1", [peer])) as bird:
        deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
        counts = (0, 0)
        while True:
            counts = (_bird_count(bird.birdc("show", "route", "table", "master4", "count")),
                      _bird_count(bird.birdc("show", "route", "table", "master6", "count")))
            if counts == expected:
                done = time.time()
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"BIRD has {counts} of {expected} routes")
            time.sleep(POLL_SECONDS)
        pid = int((bird.workdir / "bird.pid").read_text().split()[0])
        peak = 0
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    peak = int(line.split()[1]) * 1024
        return {"done_at": done, "counts": counts, "peak_rss_bytes": peak,
                "state": bird.protocol_state("sender")}


def _bird_count(text: str) -> int:
    m = re.search(r"(\d+) of \d+ routes", text)
    return int(m.group(1)) if m else 0


# ------------------------------------------------------------------------------------------
# Runs.
# ------------------------------------------------------------------------------------------


def _established(report: dict[str, Any]) -> float:
    times = report.get("established_at") or []
    if not times:
        raise RuntimeError(f"the sender never saw Established: {report}")
    if len(times) > 1:
        _line(bench="warning", what="sender session came up more than once", report=report)
    return float(times[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--v4", type=int, default=FULL_V4)
    parser.add_argument("--v6", type=int, default=FULL_V6)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--bird-prefixes", type=int, default=100_000,
                        help="prefixes sent to BIRD and to ExaBGP (and to ours to compare)")
    parser.add_argument("--small", action="store_true",
                        help="16k IPv4 + 4k IPv6 prefixes, everything on 20k")
    parser.add_argument("--skip", action="append", default=[],
                        choices=["full", "bird", "exabgp"], help="leave a run out")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_SECONDS,
                        help="seconds any one run may take (--small: 120)")
    parser.add_argument("--json", action="store_true", help="accepted; output is always JSON")
    parser.add_argument("--receiver-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--remote", help=argparse.SUPPRESS)
    parser.add_argument("--local", help=argparse.SUPPRESS)
    parser.add_argument("--expect", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    global RUN_TIMEOUT_SECONDS
    if args.small and args.timeout == DEFAULT_TIMEOUT_SECONDS:
        args.timeout = 120.0
    RUN_TIMEOUT_SECONDS = args.timeout
    if args.receiver_child:
        receiver_child(args)
        return
    if args.small:
        args.v4, args.v6, args.bird_prefixes = 16_000, 4_000, 20_000
    ci = os.environ.get("CI") == "true"
    # SIGTERM (timeout, CI) unwinds like Ctrl-C, so the namespaces and daemons are removed
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    from tests.interop.daemons import topology

    routes, gen_seconds, build_seconds = build_routes(args.v4, args.v6, args.seed)
    total = len(routes)
    assert total == args.v4 + args.v6, total

    # speaker-load: announce() into a fresh Speaker (no peers), the public API's way in
    gc.collect()
    loader = Speaker(SpeakerConfig(SENDER_AS, "10.99.0.2"))
    start = time.perf_counter()
    loader.announce(routes)
    load = time.perf_counter() - start
    assert len(loader.local_rib) == total
    _line(bench="speaker-load", impl="netlinkbgp", items=total, seconds=round(load, 3),
          per_second=round(total / load), peak_rss_bytes=_rss(),
          attribute_sets=len(loader.local_rib._interned),
          route_build_seconds=round(build_seconds, 3), generate_seconds=round(gen_seconds, 3))
    del loader
    gc.collect()

    if os.geteuid() != 0 or shutil.which("ip") is None:  # named namespaces need root
        if ci:
            raise SystemExit("bench_speaker needs root and iproute2 (CI=true)")
        _line(bench="speaker-full-table", impl="netlinkbgp",
              error="skipped: needs root and iproute2 for the namespaces")
        return
    results: dict[str, float] = {}
    with topology("spk") as topo, tempfile.TemporaryDirectory() as tmp:
        # (1) the full table, Speaker to Speaker on loopback in one namespace
        if "full" not in args.skip:
            ns = topo.ns_daemon
            subprocess.run(["ip", "-n", ns, "addr", "add", f"{LO_SENDER}/8", "dev", "lo"],
                           check=False, capture_output=True)
            peer = PeerConfig(LO_RECEIVER, RECEIVER_AS, passive=True, hold_time=90)
            with sender(ns, routes, LO_SENDER, peer) as stop:
                rx = run_our_receiver(ns, LO_SENDER, LO_RECEIVER, total)
                tx = stop()
            assert rx["accepted"] == total, (rx, tx)
            seconds = rx["done_at"] - rx["established_at"]
            results["full"] = seconds
            _line(bench="speaker-full-table", impl="netlinkbgp", items=total,
                  seconds=round(seconds, 3), per_second=round(total / seconds),
                  peak_rss_bytes=rx["peak_rss_bytes"],
                  sender_peak_rss_bytes=tx.get("peak_rss_bytes"),
                  from_sender_established=round(rx["done_at"] - _established(tx), 3),
                  updates=rx["updates"],
                  sender_announce_seconds=round(tx["announce_seconds"], 3),
                  connections=rx["connections"], drops=rx["drops"], transport="loopback",
                  sender_states=tx.get("states", [])[:4], receiver_states=rx["states"][:4])

        # the same prefixes to BIRD, ExaBGP and ours across the veth pair
        v4_share = round(args.bird_prefixes * args.v4 / total)
        part = subset(routes, v4_share, args.bird_prefixes - v4_share)
        n = len(part)
        n4 = sum(r.prefix.version == 4 for r in part)
        peer = PeerConfig(topo.daemon_v4, RECEIVER_AS, passive=True, hold_time=90,
                          next_hop_v4=topo.ours_v4, next_hop_v6=topo.ours_v6)

        if "bird" not in args.skip:
            if shutil.which("bird") is None:
                if ci:
                    raise SystemExit("bird is not installed (CI=true)")
                _line(bench="speaker-to-bird", impl="bird", error="not installed")
            else:
                with sender(topo.ns_ours, part, topo.ours_v4, peer) as stop:
                    bird = run_bird(topo.ns_daemon, topo.ours_v4, topo.daemon_v4,
                                    (n4, n - n4))
                    tx = stop()
                seconds = bird["done_at"] - _established(tx)
                _line(bench="speaker-to-bird", impl="bird", items=n,
                      seconds=round(seconds, 3), per_second=round(n / seconds),
                      peak_rss_bytes=bird["peak_rss_bytes"], counts=bird["counts"],
                      connections=tx["connections"], poll_seconds=POLL_SECONDS)

        if "exabgp" not in args.skip:
            if shutil.which("exabgp") is None:
                if ci:
                    raise SystemExit("exabgp is not installed (CI=true)")
                _line(bench="speaker-to-exabgp", impl="exabgp", error="not installed")
            else:
                with sender(topo.ns_ours, part, topo.ours_v4, peer) as stop:
                    exa = run_exabgp(topo.ns_daemon, topo.ours_v4, topo.daemon_v4, Path(tmp))
                    tx = stop()
                assert exa["count"] == n, exa
                seconds = exa["done"] - _established(tx)
                results["exabgp"] = seconds
                _line(bench="speaker-to-exabgp", impl="exabgp", items=n,
                      seconds=round(seconds, 3), per_second=round(n / seconds),
                      peak_rss_bytes=exa.get("peak_rss_bytes"), updates=exa["updates"],
                      from_exabgp_up=round(exa["done"] - exa["up"], 3) if exa["up"] else None,
                      connections=tx["connections"])

        with sender(topo.ns_ours, part, topo.ours_v4, peer) as stop:
            rx = run_our_receiver(topo.ns_daemon, topo.ours_v4, topo.daemon_v4, n)
            tx = stop()
        assert rx["accepted"] == n, (rx, tx)
        seconds = rx["done_at"] - _established(tx)
        results["ours"] = seconds
        _line(bench="speaker-to-speaker", impl="netlinkbgp", items=n, seconds=round(seconds, 3),
              per_second=round(n / seconds), peak_rss_bytes=rx["peak_rss_bytes"],
              from_receiver_established=round(rx["done_at"] - rx["established_at"], 3),
              updates=rx["updates"], connections=rx["connections"], drops=rx["drops"],
              transport="veth")

    # targets
    if "full" in results:
        _line(bench="speaker-full-table", impl="ratio", what="seconds",
              value=round(results["full"], 3), target=f"<= {FULL_TABLE_SECONDS}",
              met=results["full"] <= FULL_TABLE_SECONDS)
    if "exabgp" in results:
        ratio = results["exabgp"] / results["ours"]
        _line(bench="speaker-to-exabgp", impl="ratio", what="vs_exabgp (exabgp s / ours s)",
              vs_exabgp=round(ratio, 2), value=round(ratio, 2), target=f">= {EXABGP_RATIO}",
              met=ratio >= EXABGP_RATIO)


if __name__ == "__main__":
    main()
