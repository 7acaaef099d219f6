"""Link-local next hops get their interface: two of our Speakers on the two ends of a veth
pair, in two network namespaces (``tests.interop.daemons.topology``).

The daemon side announces an IPv6 prefix with a global and a link-local next hop (RFC 2545
§3) over two sessions: one between link-local addresses (the interface comes from the
socket's scope id) and one between global addresses (the interface holding our local
address, found over rtnetlink). Every way a received route leaves the Speaker --
``adj_rib_in``, ``routes``, ``best``, a sink -- carries the interface on the link-local
next hop, so the Exporter can install it (the kernel needs a device for ``fe80::/10``).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import socket
from ipaddress import ip_network
from multiprocessing.connection import Connection
from typing import Any

import pytest

from netlinkbgp import PeerConfig, Route, RouteEvent, Speaker, SpeakerConfig, testing
from tests.interop.daemons import Topology, run_in, topology

pytestmark = [pytest.mark.interop, pytest.mark.usefixtures("named_netns")]

PREFIX = "2001:db8:5::/48"
#: Seconds for anything here (each step takes well under a second; the bound only turns a
#: hang into a readable failure).
WAIT_SECONDS = 20.0


def _daemon_side(topo: Topology, conn: Connection) -> None:
    """The announcing Speaker, in ``topo.ns_daemon`` (a forked process): passive for both
    sessions, global + link-local next hop on both; runs until the parent says stop."""
    testing.enter_named_netns(topo.ns_daemon)
    v6 = ("ipv6-unicast",)

    async def main() -> None:
        cfg = SpeakerConfig(65001, topo.daemon_v4, listen_address="::", peers=(
            PeerConfig(f"{topo.ours_ll}%{topo.if_daemon}", 65002, passive=True, families=v6,
                       next_hop_v6=topo.daemon_v6, next_hop_v6_link_local=topo.daemon_ll),
            PeerConfig(topo.ours_v6, 65002, passive=True, families=v6,
                       next_hop_v6_link_local=topo.daemon_ll),
        ))
        async with Speaker(cfg) as speaker:
            speaker.announce(Route(ip_network(PREFIX)))
            conn.send("listening")
            await asyncio.to_thread(conn.recv)

    asyncio.run(main())


def _hops(route: Route | None) -> list[tuple[str, int]]:
    assert route is not None
    return [(str(hop.address), hop.ifindex) for hop in route.next_hops]


async def _our_side(topo: Topology) -> dict[str, Any]:
    link_local = f"{topo.daemon_ll}%{topo.if_ours}"
    v6 = ("ipv6-unicast",)
    cfg = SpeakerConfig(65002, topo.ours_v4, peers=(
        PeerConfig(link_local, 65001, families=v6, connect_retry_time=1.0),
        PeerConfig(topo.daemon_v6, 65001, families=v6, connect_retry_time=1.0),
    ))
    events: list[RouteEvent] = []

    class Sink:
        def apply(self, batch: Any) -> None:
            events.extend(batch)

    async with Speaker(cfg) as speaker:
        speaker.subscribe(Sink())
        await speaker.wait_established(timeout=WAIT_SECONDS)
        await speaker.wait_end_of_rib(timeout=WAIT_SECONDS)
        await speaker.drain()
        return {
            "ifindex": socket.if_nametoindex(topo.if_ours),
            "over_link_local": [_hops(r) for r in speaker.adj_rib_in(link_local)],
            "over_global": [_hops(r) for r in speaker.adj_rib_in(topo.daemon_v6)],
            "routes": [_hops(r) for r in speaker.routes()],
            "best": _hops(speaker.best(PREFIX)),
            "sink": [_hops(e.route) for e in events if e.kind == "announce"],
            "local": {s.address: s.local_address for s in speaker.status()},
        }


def test_link_local_next_hops_carry_the_session_interface() -> None:
    with topology("ll") as topo:
        parent, child = multiprocessing.get_context("fork").Pipe()
        daemon = multiprocessing.get_context("fork").Process(target=_daemon_side,
                                                             args=(topo, child))
        daemon.start()
        try:
            assert parent.poll(WAIT_SECONDS), "the daemon-side Speaker did not start"
            assert parent.recv() == "listening"
            got = run_in(topo.ns_ours, lambda: asyncio.run(_our_side(topo)))
        finally:
            parent.send("stop")
            daemon.join(WAIT_SECONDS)
            if daemon.is_alive():
                daemon.kill()

    expected = [(topo.daemon_v6, 0), (topo.daemon_ll, got["ifindex"])]
    assert got["ifindex"] > 1  # the veth end, not lo
    assert got["local"] == {f"{topo.daemon_ll}%{topo.if_ours}": topo.ours_ll,
                            topo.daemon_v6: topo.ours_v6}
    assert got["over_link_local"] == [expected]  # from the socket's scope id
    assert got["over_global"] == [expected]  # from the interface holding fd00:77::2
    assert got["routes"] == [expected]
    assert got["best"] == expected
    assert got["sink"] and all(hops == expected for hops in got["sink"])
