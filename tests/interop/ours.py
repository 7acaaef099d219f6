"""Our side of the Speaker interop tests: plain-data views of Speaker values, and daemon
polling from inside the forked child.

A test's scenario runs in a child forked into ``topo.ns_ours`` (:func:`run_speaker`); it
drives the Speaker and, where the order of events matters (graceful restart, refresh), reads
the daemon's CLI from there too. Everything it returns is plain data (dicts, lists, str), so
the assertions live in the parent and pytest shows them in full.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from netlinkbgp import PeerStatus, Route, Speaker
from netlinkbgp.route import format_community, format_ext_community, format_large_community
from tests.interop.daemons import POLL_INTERVAL_SECONDS, DaemonError, run_in

__all__ = ["has", "one", "poll", "route_data", "run_speaker", "status_data", "wait_until"]

_T = TypeVar("_T")

#: Seconds a scenario waits for a session or a route (each takes well under 3 s here; the
#: bound only turns a hang into a readable failure).
WAIT_SECONDS = 15.0


def route_data(route: Route | None) -> dict[str, Any] | None:
    """A received route as plain data, in the spelling the daemon parsers use."""
    if route is None:
        return None
    return {
        "prefix": str(route.prefix),
        "next_hops": [str(hop.address) for hop in route.next_hops],
        "ifindexes": [hop.ifindex for hop in route.next_hops],
        "as_path": list(route.as_path),
        "origin": route.origin.name,
        "med": route.med,
        "local_pref": route.local_pref,
        "communities": [format_community(c) for c in route.communities],
        "large_communities": [format_large_community(c) for c in route.large_communities],
        "ext_communities": [format_ext_community(c) for c in route.ext_communities],
        "rd": str(route.rd) if route.rd is not None else None,
        "labels": list(route.labels),
    }


def status_data(status: PeerStatus) -> dict[str, Any]:
    """A peer's status as a dict (tuples become lists)."""
    return {key: list(value) if isinstance(value, tuple) else value
            for key, value in dataclasses.asdict(status).items()}


def statuses(speaker: Speaker) -> dict[str, dict[str, Any]]:
    """Every peer's status, keyed by address."""
    return {s.address: status_data(s) for s in speaker.status()}


def one(routes: list[dict[str, Any]], prefix: str) -> dict[str, Any]:
    """The one route for ``prefix`` among a daemon's routes (asserted to be exactly one)."""
    found = [r for r in routes if r["prefix"] == prefix]
    assert len(found) == 1, f"{prefix} in {routes}"
    return found[0]


def has(*prefixes: str) -> Callable[[list[dict[str, Any]]], bool]:
    """A predicate for :func:`poll`: the routes include every one of ``prefixes``."""
    return lambda routes: {r["prefix"] for r in routes} >= set(prefixes)


async def wait_until(done: Callable[[], Any], timeout: float = WAIT_SECONDS) -> None:
    """Let the Speaker's loop run until ``done()`` is true or ``timeout`` passes (the caller
    asserts on what it then finds, so a timeout shows the state rather than raising here)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not done() and loop.time() < deadline:
        await asyncio.sleep(0.05)


async def poll(read: Callable[[], _T], predicate: Callable[[_T], bool],
               timeout: float = WAIT_SECONDS, what: str = "a condition") -> _T:
    """Read a daemon's CLI in a thread (the Speaker's loop keeps running) until
    ``predicate(value)`` holds; returns that value.

    Raises:
        DaemonError: not within ``timeout`` seconds (with the last value read).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = await asyncio.to_thread(read)
        if predicate(value):
            return value
        if time.monotonic() > deadline:
            raise DaemonError(f"no {what} within {timeout} s; last: {value!r}")
        await asyncio.sleep(POLL_INTERVAL_SECONDS)


async def hold(read: Callable[[], _T], predicate: Callable[[_T], bool], seconds: float,
               what: str = "a condition") -> _T:
    """Check that ``predicate(read())`` holds for ``seconds`` (polled); returns the last value.

    Raises:
        DaemonError: it stopped holding (with the value read then).
    """
    deadline = time.monotonic() + seconds
    while True:
        value = await asyncio.to_thread(read)
        if not predicate(value):
            raise DaemonError(f"{what} stopped holding: {value!r}")
        if time.monotonic() > deadline:
            return value
        await asyncio.sleep(POLL_INTERVAL_SECONDS)


def run_speaker(ns: str, scenario: Callable[..., Awaitable[_T]], *args: Any,
                daemons: tuple[Any, ...] = ()) -> _T:
    """Run ``asyncio.run(scenario(*args))`` in a child forked into ``ns``.

    ``daemons`` are the harness objects the scenario reads: in the child their process
    handle is dropped (it is the parent's child, so polling it there would report it dead),
    their CLI keeps working.
    """

    def child() -> _T:
        for daemon in daemons:
            daemon.proc = None
        return asyncio.run(scenario(*args))  # type: ignore[arg-type]

    return run_in(ns, child)
