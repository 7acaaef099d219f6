"""A blocking facade: the Speaker from code that does not use asyncio (or already runs a loop).

:class:`Runner` owns an event loop in its own daemon thread; :class:`SyncSpeaker` runs a
:class:`~netlinkbgp.speaker.Speaker` on it and turns each method into a blocking call. Because
the loop is not the caller's, this works from plain scripts, from threads, and from inside a
running event loop (a Jupyter cell, a framework callback) alike::

    from netlinkbgp.sync import SyncSpeaker
    with SyncSpeaker(SpeakerConfig(65001, "10.0.0.1", peers=[PeerConfig("10.0.0.2", 65000)])) as sp:
        sp.wait_established(timeout=30)
        sp.announce(Route(ip_network("192.0.2.10/32")))

Sinks given to :meth:`SyncSpeaker.subscribe` are called in the runner's thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterable
from ipaddress import IPv4Network, IPv6Network
from typing import Any, TypeVar

from netlinkbgp.errors import LocalProtocolError
from netlinkbgp.route import Route, RouteDistinguisher, RouteEvent, RouteSink
from netlinkbgp.speaker import Speaker
from netlinkbgp.speaker_config import PeerConfig, PeerStatus, SpeakerConfig, SpeakerStats

__all__ = ["Runner", "SyncSpeaker"]

_T = TypeVar("_T")


class Runner:
    """An event loop in a daemon thread; :meth:`run` / :meth:`call` block until done."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="netlinkbgp-loop",
                                        daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, _T], timeout: float | None = None) -> _T:
        """Run a coroutine on the loop and wait for its result (or exception)."""
        if threading.current_thread() is self._thread:
            raise LocalProtocolError("a blocking call from the runner's own thread would "
                                     "deadlock; use the asyncio API there")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, func: Callable[..., _T], *args: Any) -> _T:
        """Call a plain function in the loop's thread and return its result."""
        async def wrapper() -> _T:
            return func(*args)

        return self.run(wrapper())

    def close(self) -> None:
        """Stop the loop and its thread."""
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


class SyncSpeaker:
    """:class:`~netlinkbgp.speaker.Speaker` with blocking methods (see the module docstring).

    Args:
        config: the Speaker's configuration.
        runner: a runner to share with other blocking components (a new one by default).
    """

    def __init__(self, config: SpeakerConfig, runner: Runner | None = None) -> None:
        self._own_runner = runner is None
        self.runner = runner or Runner()
        self.speaker: Speaker = self.runner.call(Speaker, config)

    def __enter__(self) -> SyncSpeaker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Start the sessions (and listening)."""
        self.runner.run(self.speaker.start())

    def stop(self, graceful: bool = False) -> None:
        """Close the sessions (see :meth:`Speaker.stop`)."""
        self.runner.run(self.speaker.stop(graceful))

    def close(self, graceful: bool = False) -> None:
        """Stop, then end the runner's thread when this facade created it."""
        self.stop(graceful)
        if self._own_runner:
            self.runner.close()

    def announce(self, routes: Route | Iterable[Route]) -> None:
        """See :meth:`Speaker.announce`."""
        self.runner.call(self.speaker.announce, routes if isinstance(routes, Route)
                         else list(routes))

    def withdraw(self, routes: Any) -> None:
        """See :meth:`Speaker.withdraw`."""
        self.runner.call(self.speaker.withdraw, routes)

    def apply(self, events: list[RouteEvent]) -> None:
        """See :meth:`Speaker.apply`."""
        self.runner.call(self.speaker.apply, events)

    def initial_routes_done(self) -> None:
        """See :meth:`Speaker.initial_routes_done`."""
        self.runner.call(self.speaker.initial_routes_done)

    def subscribe(self, sink: RouteSink) -> None:
        """See :meth:`Speaker.subscribe`; ``sink`` is called in the runner's thread."""
        self.runner.call(self.speaker.subscribe, sink)

    def drain(self, timeout: float | None = None) -> None:
        """See :meth:`Speaker.drain`."""
        self.runner.run(self.speaker.drain(), timeout)

    def wait_established(self, address: str | None = None, timeout: float | None = None) -> None:
        """See :meth:`Speaker.wait_established`."""
        self.runner.run(self.speaker.wait_established(address, timeout))

    def wait_end_of_rib(self, address: str | None = None, timeout: float | None = None) -> None:
        """See :meth:`Speaker.wait_end_of_rib`."""
        self.runner.run(self.speaker.wait_end_of_rib(address, timeout))

    def wait_route(self, prefix: IPv4Network | IPv6Network | str, *, present: bool = True,
                   address: str | None = None, rd: RouteDistinguisher | None = None,
                   timeout: float | None = None) -> Route | None:
        """See :meth:`Speaker.wait_route`."""
        return self.runner.run(self.speaker.wait_route(prefix, present=present, address=address,
                                                       rd=rd, timeout=timeout))

    def add_peer(self, config: PeerConfig) -> None:
        """See :meth:`Speaker.add_peer`."""
        self.runner.call(self.speaker.add_peer, config)

    def remove_peer(self, address: str) -> None:
        """See :meth:`Speaker.remove_peer`."""
        self.runner.run(self.speaker.remove_peer(address))

    def update_peer(self, config: PeerConfig) -> None:
        """See :meth:`Speaker.update_peer`."""
        self.runner.run(self.speaker.update_peer(config))

    def status(self, address: str | None = None) -> list[PeerStatus]:
        """See :meth:`Speaker.status`."""
        return self.runner.call(self.speaker.status, address)

    def stats(self) -> SpeakerStats:
        """See :meth:`Speaker.stats`."""
        return self.runner.call(self.speaker.stats)

    def routes(self) -> list[Route]:
        """See :meth:`Speaker.routes`."""
        return self.runner.call(self.speaker.routes)

    def best(self, prefix: IPv4Network | IPv6Network | str) -> Route | None:
        """See :meth:`Speaker.best`."""
        return self.runner.call(self.speaker.best, prefix)

    @property
    def listen_port(self) -> int | None:
        """See :attr:`Speaker.listen_port`."""
        return self.speaker.listen_port
