"""The Speaker: BGP sessions with many peers, local routes out, best paths in.

Each peer is one sans-IO :class:`~netlinkbgp.bgp.session.Session` driven by :class:`Peer`:
bytes from the socket go in, bytes and events come out, and the session's one timer is an
``asyncio`` timer handle moved after every step. The Speaker around them holds

* the **local RIB** (what the application announced) and, per established peer, a
  :class:`~netlinkbgp.speaker.out.PeerExport` (policy, Adj-RIB-Out with dedup, packing);
* the **Loc-RIB** (:class:`~netlinkbgp.bgp.rib.LocRib`) fed by an
  :class:`~netlinkbgp.bgp.rib.AdjRibIn` per peer, whose fast path reads plain unicast UPDATEs
  straight into integer-keyed tables;
* one **coalescing queue per sink**: a prefix whose best path changes is queued once, with the
  path the sink saw last; when the sink's turn comes, the current best path is read, so a slow
  sink gets the latest state per prefix, and the queue never holds more than one entry per
  prefix.

Timer isolation (DESIGN §3): received data is handled a read (64 KiB) at a time with a yield
to the event loop after each; the local RIB is walked (a session comes up), compared with the
Adj-RIB-Out and cut into UPDATEs a slice at a time, with a yield after each step; sinks are
fed in bounded batches from their own tasks. Keepalives and the hold timer are
plain loop timers, so they never wait behind more than one such step.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import socket
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address

from netlinkbgp.bgp.constants import CeaseSubcode
from netlinkbgp.bgp.nlri import Family
from netlinkbgp.bgp.rib import LocRib, RibChange
from netlinkbgp.bgp.session import (
    State,
)
from netlinkbgp.bgp_io import listen, set_md5_key
from netlinkbgp.errors import (
    InvalidValueError,
    LocalProtocolError,
)
from netlinkbgp.route import Route, RouteDistinguisher, RouteEvent, RouteSink
from netlinkbgp.speaker.feed import SinkFeed
from netlinkbgp.speaker.out import LocalRib, key_filter, route_family, route_key
from netlinkbgp.speaker.peer import Peer, connection_interface, unmapped_address
from netlinkbgp.speaker_config import (
    PeerConfig,
    PeerEvent,
    PeerStatus,
    SpeakerConfig,
    SpeakerStats,
    parse_family,
)

__all__ = ["Speaker"]

log = logging.getLogger(__name__)


class Speaker:
    """BGP sessions with many peers; announce/withdraw local routes; publish best paths.

    Args:
        config: our AS, router id, listening address and peers.

    Use as ``async with Speaker(config) as speaker:`` (or :meth:`start` / :meth:`stop`).
    The Speaker is a :class:`~netlinkbgp.route.RouteSink` (``importer.subscribe(speaker)``)
    and publishes Loc-RIB best-path changes to its own subscribers.
    """

    def __init__(self, config: SpeakerConfig) -> None:
        self.config = config
        self.local_rib = LocalRib()
        self.loc_rib = LocRib()
        self._peers: dict[str, Peer] = {}
        self._feeds: list[SinkFeed] = []
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []
        # wait_route calls in progress: only they (and sinks) need per-prefix changes
        self._route_waiters = 0
        self._event_queues: list[asyncio.Queue[PeerEvent]] = []
        self._callbacks: list[Callable[[PeerEvent], None]] = []
        self._events_dropped = 0
        self._eor_timer: asyncio.TimerHandle | None = None
        self.initial_done = not config.restarting
        self._started = False

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise LocalProtocolError("the Speaker is not started")
        return self._loop

    async def __aenter__(self) -> Speaker:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Listen (when configured) and start every peer's session.

        Raises:
            TransportError: the listening socket could not be opened (address in use, no
                privilege for port 179...).
            LocalProtocolError: already started.
        """
        if self._started:
            raise LocalProtocolError("the Speaker is already started")
        self._loop = asyncio.get_running_loop()
        self._started = True
        cfg = self.config
        if cfg.listen_address is not None:
            md5 = {p.address: p.md5_password for p in cfg.peers if p.md5_password}
            self._server = await listen(cfg.listen_address, cfg.listen_port, self._accept,
                                        md5_peers=md5)
        if cfg.restarting:
            self._eor_timer = self.loop.call_later(cfg.initial_routes_timeout,
                                                   self.initial_routes_done)
        for peer_config in cfg.peers:
            self._add(peer_config)

    async def stop(self, graceful: bool = False) -> None:
        """Close every session and stop listening.

        Args:
            graceful: close the connections without NOTIFICATION, so that peers that
                negotiated graceful restart keep our routes until we are back (RFC 4724);
                otherwise each session ends with Cease / Administrative Shutdown. A graceful
                stop also keeps the received routes where the sinks put them (forwarding goes
                on, RFC 4724 §4.1): the sinks are detached before the sessions close, so they
                see no withdrawals.
        """
        if not self._started:
            return
        if self._server is not None:
            self._server.close()
            self._server = None
        if graceful:
            await self._stop_feeds()
        await asyncio.gather(*(p.stop(graceful, CeaseSubcode.ADMINISTRATIVE_SHUTDOWN)
                               for p in self._peers.values()))
        self._peers.clear()
        if self._eor_timer is not None:
            self._eor_timer.cancel()
        await self._stop_feeds()
        for _, future in self._waiters:
            if not future.done():
                future.set_exception(LocalProtocolError("the Speaker stopped"))
        self._waiters.clear()
        self._started = False

    async def _stop_feeds(self) -> None:
        for feed in self._feeds:
            if feed.task is not None:
                feed.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await feed.task
                feed.task = None

    @property
    def listen_port(self) -> int | None:
        """The port the Speaker listens on (useful with ``listen_port=0``), or ``None``."""
        if self._server is None or not self._server.sockets:
            return None
        return int(self._server.sockets[0].getsockname()[1])

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peername = writer.get_extra_info("peername")
        address = unmapped_address(peername[0]) if peername else ""
        peer = self._peers.get(address)
        if peer is None and peername and len(peername) >= 4 and peername[3]:
            # a link-local peer is configured with its scope: fe80::2%eth0 or fe80::2%3
            with contextlib.suppress(OSError):
                scope = peername[3]
                peer = (self._peers.get(f"{address}%{socket.if_indextoname(scope)}")
                        or self._peers.get(f"{address}%{scope}"))
        if peer is None:
            log.info("refusing a BGP connection from %s: not a configured peer", address)
            writer.close()
            return
        ifindex = await connection_interface(writer)
        if self._peers.get(peer.config.address) is not peer:
            writer.close()  # removed meanwhile
            return
        peer.accept(reader, writer, ifindex)

    # -- peers ------------------------------------------------------------------------------

    def _add(self, config: PeerConfig) -> Peer:
        peer = Peer(self, config)
        self._peers[config.address] = peer
        if config.md5_password and self._server is not None:
            for sock in self._server.sockets:
                set_md5_key(sock, config.address, config.md5_password)
        if config.passive and self._server is None:
            log.warning("peer %s is passive but the Speaker does not listen", config.address)
        peer.start()
        return peer

    def add_peer(self, config: PeerConfig) -> None:
        """Add a neighbour and start its session; no other session is touched.

        Raises:
            LocalProtocolError: a peer with that address exists, or the Speaker is stopped.
        """
        if config.address in self._peers:
            raise LocalProtocolError(f"peer {config.address} already exists")
        self.config = dataclasses.replace(self.config, peers=(*self.config.peers, config))
        if self._started:
            self._add(config)

    async def remove_peer(self, address: str) -> None:
        """Close a neighbour's session (Cease / Peer De-configured) and forget its routes."""
        key = str(ip_address(address))
        peer = self._peers.pop(key, None)
        self.config = dataclasses.replace(self.config, peers=tuple(
            p for p in self.config.peers if p.address != key))
        if peer is None:
            raise LocalProtocolError(f"no peer {address}")
        await peer.stop(False, CeaseSubcode.PEER_DE_CONFIGURED)
        if self._server is not None and peer.config.md5_password:
            for sock in self._server.sockets:
                set_md5_key(sock, key, None)
        self._changed()

    async def update_peer(self, config: PeerConfig) -> None:
        """Change a neighbour's settings.

        MED, LOCAL_PREF, communities, next hops and the prefix filters apply live: only the
        routes whose attributes change are sent again and the session stays up. A change of
        anything the OPEN or the connection depends on (AS, hold time, families, address,
        MD5, passive, graceful restart) restarts that one session.

        Raises:
            LocalProtocolError: no such peer.
        """
        peer = self._peers.get(config.address)
        if peer is None:
            raise LocalProtocolError(f"no peer {config.address}")
        if peer.config.session_key() != config.session_key():
            await self.remove_peer(config.address)
            self.add_peer(config)
            return
        old, peer.config = peer.config, config
        self.config = dataclasses.replace(self.config, peers=tuple(
            config if p.address == config.address else p for p in self.config.peers))
        if peer.export is not None:
            peer.export.reconfigure(config)
            peer.export.offer_all(self.local_rib)
            peer.dirty.set()
        if old.import_filter != config.import_filter and peer.adj_in is not None:
            self._refilter(peer)

    def _refilter(self, peer: Peer) -> None:
        rib = peer.adj_in
        assert rib is not None
        rib.accept = accept = key_filter(peer.config.import_filter)
        changes: list[RibChange] = []
        for family, key, path in list(rib):
            if accept is not None and not accept(family, key):
                changes += rib.withdraw_key(family, key, path.path_id)
        self._rib_changed(changes)
        negotiated = peer.session.negotiated
        if negotiated is not None and negotiated.route_refresh:
            peer.refresh()  # prefixes refused before may be accepted now (RFC 2918)

    def peers(self) -> list[str]:
        """Addresses of the configured peers."""
        return list(self._peers)

    def status(self, address: str | None = None) -> list[PeerStatus]:
        """Status of one peer (``address``) or of all."""
        if address is not None:
            return [self._peer(address).status()]
        return [p.status() for p in self._peers.values()]

    def _peer(self, address: str) -> Peer:
        try:
            return self._peers[str(ip_address(address))]
        except (KeyError, ValueError):
            raise LocalProtocolError(f"no peer {address}") from None

    def adj_rib_out(self, address: str) -> list[Route]:
        """What one peer was sent (with the attributes it got)."""
        peer = self._peer(address)
        if peer.export is None or peer.peer_info is None:
            return []
        return peer.export.routes(peer.peer_info)

    def adj_rib_in(self, address: str) -> list[Route]:
        """What one peer sent us and we accepted."""
        peer = self._peer(address)
        rib = peer.adj_in
        if rib is None:
            return []
        return [path.to_route(family, key) for family, key, path in rib]

    def refresh(self, address: str, family: str | None = None) -> None:
        """Ask a peer to send its routes again (ROUTE-REFRESH, RFC 2918).

        Raises:
            LocalProtocolError: not established, or the peer does not support it.
        """
        self._peer(address).refresh(parse_family(family) if family else None)

    # -- local routes -------------------------------------------------------------------------

    def announce(self, routes: Route | Iterable[Route]) -> None:
        """Announce routes to every peer (replacing earlier announcements of the prefixes).

        A next hop of ``0.0.0.0`` / ``::`` (or none) means "this host": each peer gets our
        address on its session (or the peer's configured next hop).

        Raises:
            InvalidValueError: a route cannot be announced (a VPN route without label).
        """
        if isinstance(routes, Route):
            routes = (routes,)
        peers = [p for p in self._peers.values() if p.export is not None]
        for route in routes:
            family, key, path, changed = self.local_rib.set(route)
            if changed:
                for peer in peers:
                    peer.offer(family, key, path)

    def withdraw(self, routes: Route | IPv4Network | IPv6Network | str
                 | Iterable[Route | IPv4Network | IPv6Network | str]) -> None:
        """Withdraw announced routes (a :class:`Route`, a network or its text)."""
        items: Iterable[Route | IPv4Network | IPv6Network | str] = (
            (routes,) if isinstance(routes, Route | IPv4Network | IPv6Network | str) else routes)
        peers = [p for p in self._peers.values() if p.export is not None]
        for item in items:
            route = item if isinstance(item, Route) else Route(_parse_network(item))
            removed = self.local_rib.remove(route)
            if removed is not None:
                for peer in peers:
                    peer.offer(removed[0], removed[1], None)

    def apply(self, events: Sequence[RouteEvent]) -> None:
        """:class:`~netlinkbgp.route.RouteSink`: announce and withdraw from another component.

        An ``end-of-rib`` event counts as :meth:`initial_routes_done`.
        """
        for event in events:
            if event.kind == "announce" and event.route is not None:
                self.announce(event.route)
            elif event.kind == "withdraw" and event.route is not None:
                self.withdraw(event.route)
            elif event.kind == "end-of-rib":
                self.initial_routes_done()

    def initial_routes_done(self) -> None:
        """The application's initial routes are in: after a graceful restart End-of-RIB may go
        out now (RFC 4724 §4.1). Without ``restarting`` it changes nothing."""
        if self.initial_done:
            return
        self.initial_done = True
        if self._eor_timer is not None:
            self._eor_timer.cancel()
            self._eor_timer = None
        for peer in self._peers.values():
            peer._maybe_end_of_rib()

    def local_routes(self) -> list[Route]:
        """What the application announced."""
        return self.local_rib.routes()

    def routes(self) -> list[Route]:
        """The Loc-RIB: the best received path of every prefix."""
        return list(self.loc_rib.routes())

    def best(self, prefix: IPv4Network | IPv6Network | str,
             rd: RouteDistinguisher | None = None) -> Route | None:
        """The best received route for one prefix, or ``None``."""
        network = _parse_network(prefix)
        family, key = _family_key(network, rd)
        path = self.loc_rib.best(family, key)
        return None if path is None else path.to_route(family, key)

    def stats(self) -> SpeakerStats:
        """Counters of the whole Speaker."""
        return SpeakerStats(
            peers=len(self._peers),
            established=sum(p.session.state is State.ESTABLISHED for p in self._peers.values()),
            local_routes=len(self.local_rib),
            loc_rib_routes=len(self.loc_rib),
            sink_events=sum(f.delivered for f in self._feeds),
            sink_pending=sum(len(f.pending) for f in self._feeds),
            events_dropped=self._events_dropped,
        )

    # -- publishing ---------------------------------------------------------------------------

    def subscribe(self, sink: RouteSink) -> None:
        """Publish Loc-RIB best-path changes to ``sink`` (the current routes first).

        The sink is called from the event loop with batches of at most
        ``SpeakerConfig.sink_batch`` events and must not block; when it falls behind, changes
        of the same prefix coalesce (the latest state wins).
        """
        feed = SinkFeed(sink)
        self._feeds.append(feed)
        feed.push(RibChange(family, key, None, path) for family, key, path in self.loc_rib)
        loop = asyncio.get_running_loop()
        feed.task = loop.create_task(feed.run(self.loc_rib, self.config.sink_batch),
                                     name="bgp-sink")

    @property
    def _collect(self) -> bool:
        return bool(self._feeds or self._route_waiters)

    def _rib_changed(self, changes: list[RibChange]) -> None:
        if not changes:
            return
        for feed in self._feeds:
            feed.push(changes)
        if self._waiters:
            self._changed()

    def _peer_end_of_rib(self) -> None:
        for feed in self._feeds:
            feed.mark_end_of_rib()

    async def drain(self) -> None:
        """Wait until every change was written to every established peer and handed to every
        sink (for scripts: withdraw, ``await speaker.drain()``, then exit)."""
        while True:
            busy = [p for p in self._peers.values() if p.export is not None and (
                p.flushing or p.dirty.is_set() or p.export.has_pending())]
            for peer in busy:
                if peer.writer is not None:
                    with contextlib.suppress(OSError, ConnectionError):
                        await peer.writer.drain()
            feeds = [f for f in self._feeds if not f.idle.is_set()]
            if not busy and not feeds:
                return
            for feed in feeds:
                await feed.idle.wait()
            await asyncio.sleep(0.005 if busy else 0)

    # -- events and milestones ----------------------------------------------------------------

    def on_event(self, callback: Callable[[PeerEvent], None]) -> None:
        """Call ``callback`` (from the loop; it must not block) for every :class:`PeerEvent`."""
        self._callbacks.append(callback)

    async def events(self) -> AsyncIterator[PeerEvent]:
        """Every :class:`PeerEvent` from now on (state changes, NOTIFICATIONs, End-of-RIB).

        The queue behind it holds ``SpeakerConfig.event_queue`` events; when the reader falls
        behind, the oldest are dropped and counted in :attr:`SpeakerStats.events_dropped`.
        """
        queue: asyncio.Queue[PeerEvent] = asyncio.Queue(self.config.event_queue)
        self._event_queues.append(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._event_queues.remove(queue)

    def _emit(self, event: PeerEvent) -> None:
        for queue in self._event_queues:
            if queue.full():
                queue.get_nowait()
                self._events_dropped += 1
            queue.put_nowait(event)
        for callback in self._callbacks:
            try:
                callback(event)
            except Exception:
                log.exception("event callback %r failed", callback)

    def _changed(self) -> None:
        """Something observable changed: settle the waiters whose condition now holds."""
        if not self._waiters:
            return
        keep = []
        for predicate, future in self._waiters:
            if future.done():
                continue
            if predicate():
                future.set_result(None)
            else:
                keep.append((predicate, future))
        self._waiters = keep

    async def _wait(self, predicate: Callable[[], bool], timeout: float | None,
                    what: Callable[[], str]) -> None:
        if predicate():
            return
        future: asyncio.Future[None] = self.loop.create_future()
        self._waiters.append((predicate, future))
        try:
            await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what()}") from None

    def _selected(self, address: str | None) -> list[Peer]:
        return [self._peer(address)] if address is not None else list(self._peers.values())

    def _why(self, peers: list[Peer]) -> str:
        return "; ".join(f"{p.config.address} is {p.session.state.value}"
                         + (f" ({p.last_error})" if p.last_error else "") for p in peers)

    async def wait_established(self, address: str | None = None,
                               timeout: float | None = None) -> None:
        """Wait until one peer (or every peer) is Established.

        Raises:
            TimeoutError: not within ``timeout`` seconds; the message has each peer's state
                and last error.
        """
        peers = self._selected(address)
        await self._wait(lambda: all(p.session.state is State.ESTABLISHED for p in peers),
                         timeout, lambda: "Established: " + self._why(peers))

    async def wait_end_of_rib(self, address: str | None = None,
                              timeout: float | None = None) -> None:
        """Wait until one peer (or every peer) sent End-of-RIB for all its families."""
        peers = self._selected(address)

        def done() -> bool:
            return all(p.adj_in is not None and p.eor_received >= p.adj_in.ctx.families
                       for p in peers)

        await self._wait(done, timeout, lambda: "End-of-RIB: " + self._why(peers))

    async def wait_route(self, prefix: IPv4Network | IPv6Network | str, *,
                         present: bool = True, address: str | None = None,
                         rd: RouteDistinguisher | None = None,
                         timeout: float | None = None) -> Route | None:
        """Wait until a prefix is in the Loc-RIB (or, with ``present=False``, gone).

        Args:
            prefix: the prefix.
            present: wait for it to appear (default) or to disappear.
            address: only a path from this peer counts.
            rd: the route distinguisher of a VPN prefix.
            timeout: seconds.

        Returns:
            The best route (``None`` when waiting for it to go).
        """
        network = _parse_network(prefix)
        family, key = _family_key(network, rd)
        peer_address = ip_address(address) if address is not None else None

        def holds() -> bool:
            path = self.loc_rib.best(family, key)
            if peer_address is not None and path is not None:
                path = next((p for p in self.loc_rib.candidates(family, key)
                             if p.peer.address == peer_address), None)
            return (path is not None) == present

        self._route_waiters += 1
        try:
            await self._wait(holds, timeout,
                             lambda: f"{network} to {'appear' if present else 'go'}")
        finally:
            self._route_waiters -= 1
        path = self.loc_rib.best(family, key)
        return path.to_route(family, key) if path is not None and present else None


def _parse_network(value: IPv4Network | IPv6Network | str) -> IPv4Network | IPv6Network:
    if isinstance(value, IPv4Network | IPv6Network):
        return value
    try:
        return IPv6Network(value) if ":" in value else IPv4Network(value)
    except ValueError as exc:
        raise InvalidValueError(f"{value!r} is not a prefix: {exc}") from None


def _family_key(network: IPv4Network | IPv6Network,
                rd: RouteDistinguisher | None) -> tuple[Family, int]:
    """The family (unicast, or VPN with an RD) and key of a prefix looked up by the caller."""
    route = Route(network, rd=rd)
    family = route_family(route)
    return family, route_key(route, family)

