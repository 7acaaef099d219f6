"""One BGP neighbour of the Speaker: its session, connection, RIBs and counters."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import socket
import time
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import TYPE_CHECKING, Any

from netlinkbgp.aio import cancel_and_wait
from netlinkbgp.bgp.capabilities import (
    Capability,
    ExtendedMessage,
    ExtendedNextHop,
    FourOctetAs,
    GracefulRestart,
    GracefulRestartFamily,
    Multiprotocol,
    Negotiated,
)
from netlinkbgp.bgp.capabilities import RouteRefresh as RouteRefreshCapability
from netlinkbgp.bgp.constants import (
    AFI,
    CeaseSubcode,
    ErrorCode,
    FsmErrorSubcode,
    MessageHeaderSubcode,
    OpenSubcode,
    RouteRefreshErrorSubcode,
    UpdateSubcode,
)
from netlinkbgp.bgp.messages import (
    Notification,
    Open,
    RouteRefresh,
    Update,
    decode_message,
    encode_message,
    split_messages,
)
from netlinkbgp.bgp.nlri import IPV4_UNICAST, Family
from netlinkbgp.bgp.rib import AdjRibIn, PeerInfo, RibChange
from netlinkbgp.bgp.session import (
    CloseRequested,
    ConnectRequested,
    Established,
    NotificationReceived,
    NotificationSent,
    RawUpdateReceived,
    RouteRefreshReceived,
    Session,
    SessionConfig,
    State,
    StateChanged,
    UpdateReceived,
)
from netlinkbgp.bgp_io import TcpOptions, connect
from netlinkbgp.errors import (
    LocalProtocolError,
    NetlinkBGPError,
    RemoteProtocolError,
    TransportError,
)
from netlinkbgp.netlink_io import NetlinkSocket
from netlinkbgp.speaker.out import PeerExport, key_filter
from netlinkbgp.speaker_config import (
    PeerConfig,
    PeerEvent,
    PeerStatus,
    family_name,
    family_names,
)

if TYPE_CHECKING:
    from netlinkbgp.speaker.core import Speaker

__all__ = ["Peer", "connection_interface", "unmapped_address"]

log = logging.getLogger(__name__)

#: Bytes read from a connection per step; one step's UPDATEs are handled before the loop runs
#: timers again (64 KiB: a few milliseconds of work on a full-table load).
READ_SIZE = 65536
#: Largest UPDATE we examine for an End-of-RIB marker (an MP_UNREACH with AFI/SAFI only).
_EOR_MAX = 32
#: Seconds a graceful-restart helper keeps stale routes after the peer came back without
#: End-of-RIB, when its capability gave no better bound (RFC 4724 §4.2 leaves it local).
STALE_ROUTES_TIME = 360.0
#: Seconds an incoming connection that collides with ours has to send its OPEN.
OPEN_WAIT = 10.0


def _capabilities(config: PeerConfig, local_asn: int, restarting: bool) -> tuple[Capability, ...]:
    families = config.family_set
    caps: list[Capability] = [Multiprotocol(f) for f in families]
    caps += [RouteRefreshCapability(), FourOctetAs(local_asn), ExtendedMessage()]
    v4 = tuple((f, int(AFI.IPV6)) for f in families if f.afi == AFI.IPV4 and not f.has_labels)
    if v4 and ip_address(config.address).version == 6:
        caps.append(ExtendedNextHop(v4))  # RFC 8950: IPv4 routes over an IPv6 session
    if config.graceful_restart:
        # R bit after a restart; F bit: the service behind our routes kept running.
        flags = 0x8 if restarting else 0
        caps.append(GracefulRestart(flags, config.restart_time,
                                    tuple(GracefulRestartFamily(f, 0x80) for f in families)))
    return tuple(caps)


def _eor_family(data: bytes) -> Family | None:
    """The family of an End-of-RIB marker (RFC 4724 §2), or ``None`` for other UPDATEs."""
    if len(data) == 23 and data[19:23] == b"\0\0\0\0":
        return IPV4_UNICAST
    if len(data) > _EOR_MAX:
        return None
    try:
        update = decode_message(data, Negotiated.default())
    except NetlinkBGPError:
        return None
    return update.end_of_rib if isinstance(update, Update) else None


class Peer:
    """One neighbour: its session, connection, RIBs and counters."""

    def __init__(self, speaker: Speaker, config: PeerConfig) -> None:
        self.speaker = speaker
        self.config = config
        self.local_asn = config.local_asn or speaker.config.asn
        self.session = Session(self._session_config())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.outgoing = False
        self.tasks: set[asyncio.Task[None]] = set()
        self.timer: asyncio.TimerHandle | None = None
        self.stale_timer: asyncio.TimerHandle | None = None
        self.adj_in: AdjRibIn | None = None
        self.stale: AdjRibIn | None = None
        self.export: PeerExport | None = None
        self.peer_info: PeerInfo | None = None
        self.dirty = asyncio.Event()
        self.flushing = False
        self.notified = False
        self.stopped = False
        self.eor_received: set[Family] = set()
        self.eor_sent: set[Family] = set()
        self.initial_sent = False
        # counters
        self.since = time.time()
        self.established_at = 0.0
        self.attempts = 0
        self.connections = 0
        self.established_count = 0
        self.updates_received = 0
        self.last_error = ""
        self.last_code = 0
        self.last_subcode = 0
        self.last_sent = False
        self.local_address = ""
        #: the interface of the current connection (0: unknown), see connection_interface
        self.ifindex = 0
        self.advertised_total = 0
        self.withdrawn_total = 0

    def _session_config(self) -> SessionConfig:
        cfg = self.config
        return SessionConfig(
            local_asn=self.local_asn,
            router_id=IPv4Address(self.speaker.config.router_id),
            peer_asn=cfg.peer_asn,
            hold_time=cfg.hold_time,
            connect_retry_time=cfg.connect_retry_time,
            idle_hold_time=cfg.idle_hold_time,
            passive=cfg.passive,
            capabilities=_capabilities(cfg, self.local_asn, self.speaker.config.restarting),
            decode_updates=False,
        )

    @property
    def now(self) -> float:
        return self.speaker.loop.time()

    # -- driving the session --------------------------------------------------------------

    def start(self) -> None:
        self.stopped = False
        self.session.start(self.now)
        self.pump()

    def pump(self) -> None:
        """Write what the session produced, carry out its events, move its timer."""
        session = self.session
        while True:
            data = session.data_to_send()
            if data and self.writer is not None:
                self.writer.write(data)
            event = session.next_event()
            if event is None:
                break
            self._handle(event)
        when = session.get_timer()
        timer = self.timer
        if when is None:
            if timer is not None:
                timer.cancel()
                self.timer = None
        elif timer is None or when < timer.when():
            # Only ever move the handle earlier: a handle that fires early finds nothing due
            # and is re-armed. Re-creating it on every read would starve it: a due handle
            # waits behind the read step already queued, which would cancel it again.
            if timer is not None:
                timer.cancel()
            self.timer = self.speaker.loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self.timer = None
        self.session.handle_timer(self.now)
        self.pump()

    def _handle(self, event: object) -> None:
        if isinstance(event, RawUpdateReceived):
            self._update(event.data)
        elif isinstance(event, StateChanged):
            self._state_changed(event.old, event.new)
        elif isinstance(event, ConnectRequested):
            self._connect()
        elif isinstance(event, CloseRequested):
            self._close()
        elif isinstance(event, Established):
            self._established(event.negotiated, event)
        elif isinstance(event, NotificationReceived | NotificationSent):
            self._notification(event.notification, isinstance(event, NotificationSent))
        elif isinstance(event, RouteRefreshReceived):
            self._refresh_requested(event.refresh)
        elif isinstance(event, UpdateReceived):  # pragma: no cover - decode_updates is off
            raise LocalProtocolError("decoded UPDATE in raw mode")

    # -- connections ----------------------------------------------------------------------

    def _options(self) -> TcpOptions:
        cfg = self.config
        return TcpOptions(cfg.local_address, cfg.md5_password, cfg.ttl_security, cfg.ttl_hops,
                          cfg.bind_device)

    def _connect(self) -> None:
        self.attempts += 1
        self._spawn(self._connect_task(), "connect")

    async def _connect_task(self) -> None:
        cfg = self.config
        try:
            reader, writer = await connect(cfg.address, cfg.port, self._options(),
                                           timeout=cfg.connect_retry_time)
        except TransportError as exc:
            self._error(str(exc))
            if self.session.state is State.CONNECT and self.writer is None:
                self.session.connection_lost(self.now)
                self.pump()
            return
        ifindex = await connection_interface(writer)
        if self.session.state is not State.CONNECT or self.writer is not None:
            writer.close()  # an incoming connection won meanwhile, or we were stopped
            return
        self._attach(reader, writer, outgoing=True, ifindex=ifindex)
        self.session.connection_made(self.now, outgoing=True)
        self.pump()

    def accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
               ifindex: int = 0) -> None:
        """An incoming connection from this peer (``ifindex``: its interface, see
        :func:`connection_interface`)."""
        state = self.session.state
        if self.stopped:
            writer.close()
        elif state is State.ESTABLISHED:
            negotiated = self.session.negotiated
            if negotiated is None or negotiated.graceful_restart is None:
                self._refuse(writer)  # RFC 4271 §6.8: an Established session wins
                return
            # RFC 4724 §4.2: the peer restarted; its old session is gone (routes kept stale)
            self._error("peer reconnected (graceful restart)")
            self.session.connection_lost(self.now)
            self.pump()
            self._adopt(reader, writer, b"", ifindex)
        elif state in (State.OPENSENT, State.OPENCONFIRM):
            self._spawn(self._collision(reader, writer, ifindex), "collision")
        elif self.writer is not None and state is not State.IDLE:
            self._refuse(writer)
        else:
            self._adopt(reader, writer, b"", ifindex)

    async def _collision(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter, ifindex: int) -> None:
        """RFC 4271 §6.8: two connections with one peer. Read the new one's OPEN for the
        peer's BGP identifier, then keep the connection opened by the higher identifier."""
        buffer = b""
        try:
            while True:
                messages, _ = split_messages(buffer)
                if messages:
                    break
                chunk = await asyncio.wait_for(reader.read(READ_SIZE), OPEN_WAIT)
                if not chunk:
                    writer.close()
                    return
                buffer += chunk
            opened = decode_message(messages[0], Negotiated.default())
        except (TimeoutError, OSError, NetlinkBGPError):
            writer.close()
            return
        state = self.session.state
        if not isinstance(opened, Open) or state is State.ESTABLISHED:
            self._refuse(writer)
            return
        if state in (State.OPENSENT, State.OPENCONFIRM):
            ours = IPv4Address(self.speaker.config.router_id)
            if not self.outgoing or ours > opened.bgp_id:
                self._refuse(writer)  # keep the connection we (the higher id) opened
                return
            self.session.collision_dump(self.now)
            self.pump()
        self._adopt(reader, writer, buffer, ifindex)

    def _adopt(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
               received: bytes, ifindex: int) -> None:
        """Make an incoming connection the session's connection."""
        if self.session.state is State.IDLE:
            self.session.start(self.now, passive=True)
        if self.writer is not None:  # a connection attempt of ours in flight
            self._drop_connection()
        self._attach(reader, writer, outgoing=False, ifindex=ifindex)
        self.session.connection_made(self.now, outgoing=False)
        if received:
            self.session.receive_data(received, self.now)
        self.pump()

    def _refuse(self, writer: asyncio.StreamWriter) -> None:
        """Close a new connection with Cease / Connection Collision Resolution."""
        notification = Notification(ErrorCode.CEASE, CeaseSubcode.CONNECTION_COLLISION_RESOLUTION)
        with contextlib.suppress(OSError):
            writer.write(encode_message(notification, Negotiated.default()))
        writer.close()

    def _attach(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                outgoing: bool, ifindex: int) -> None:
        self.reader, self.writer, self.outgoing = reader, writer, outgoing
        self.ifindex = ifindex
        self.connections += 1
        self.notified = False
        sockname = writer.get_extra_info("sockname")
        self.local_address = unmapped_address(sockname[0]) if sockname else ""
        self._spawn(self._read_task(reader, writer), "read")

    async def _read_task(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    data = await reader.read(READ_SIZE)
                except OSError as exc:
                    self._error(f"connection failed: {exc.strerror or exc}")
                    data = b""
                if writer is not self.writer:
                    return  # this connection was replaced or closed
                if not data:
                    if self.session.state is not State.IDLE:
                        if not self.notified:
                            self._error("connection closed by the peer")
                        self.session.connection_lost(self.now)
                        self.pump()
                    return
                self.session.receive_data(data, self.now)
                self.pump()
                await asyncio.sleep(0)  # let timers and other peers run between reads
        finally:
            if writer is self.writer:
                self._drop_connection()

    def _close(self) -> None:
        self._drop_connection()

    def _drop_connection(self) -> None:
        writer = self.writer
        self.reader = self.writer = None
        if writer is not None:
            writer.close()

    def _spawn(self, coro: Any, what: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=f"bgp-{self.config.name}-{what}")
        self.tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.error("peer %s: %s failed: %r", self.config.name, task.get_name(), exc)
            self._error(f"internal error: {exc!r}")

    # -- session events -------------------------------------------------------------------

    def _state_changed(self, old: State, new: State) -> None:
        self.since = time.time()
        self.speaker._emit(PeerEvent("state", self.config.address, self.since, new.value,
                                     old.value))
        if old is State.ESTABLISHED:
            self._down()
        self.speaker._changed()

    def _error(self, text: str, code: int = 0, subcode: int = 0, sent: bool = False) -> None:
        self.last_error, self.last_code, self.last_subcode = text, code, subcode
        self.last_sent = sent
        self.speaker._emit(PeerEvent("error", self.config.address, time.time(),
                                     self.session.state.value, code=code, subcode=subcode,
                                     text=text))

    def _notification(self, notification: Notification, sent: bool) -> None:
        self.notified = True
        text = _describe(notification, sent)
        self.last_error, self.last_code = text, notification.code
        self.last_subcode, self.last_sent = notification.subcode, sent
        self.speaker._emit(PeerEvent(
            "notification-sent" if sent else "notification-received", self.config.address,
            time.time(), self.session.state.value, code=notification.code,
            subcode=notification.subcode, text=text))
        # Closing a session on purpose (ours: stop, remove_peer; or the peer's administrative
        # shutdown or reset) is no warning.
        planned = (sent and self.stopped) or (notification.code == ErrorCode.CEASE and (
            notification.subcode in (CeaseSubcode.ADMINISTRATIVE_SHUTDOWN,
                                     CeaseSubcode.ADMINISTRATIVE_RESET)))
        log.log(logging.INFO if planned else logging.WARNING, "peer %s: %s", self.config.name,
                text)

    def _established(self, negotiated: Negotiated, event: Established) -> None:
        remote = event.remote_open
        ebgp = negotiated.peer_asn != self.local_asn
        info = PeerInfo(ip_address(self.config.address), negotiated.peer_asn, remote.bgp_id, ebgp,
                        self.ifindex)
        self.peer_info = info
        self.established_at = time.time()
        self.established_count += 1
        self.eor_received.clear()
        self.eor_sent.clear()
        self.initial_sent = False
        rib = AdjRibIn(info, negotiated, self.speaker.loc_rib)
        rib.accept = key_filter(self.config.import_filter)
        changes: list[RibChange] = []
        stale = self.stale
        self.stale = None
        if stale is not None:
            if stale.peer == info:
                rib.inherit(stale)
                caps = negotiated.graceful_restart
                kept = {f.family for f in caps.families if f.forwarding_state} if caps else set()
                # RFC 4724 §4.2: families without preserved forwarding state go at once
                for family in {f for f, _, _ in rib} - kept:
                    changes += rib.purge_stale(family)
                self._restart_stale_timer(STALE_ROUTES_TIME)
            else:
                changes += stale.clear()
                self._cancel_stale_timer()
        self.adj_in = rib
        address = ip_address(self.local_address) if self.local_address else None
        self.export = PeerExport(self.config, self.local_asn, negotiated, address, ebgp)
        self.export.offer_all(self.speaker.local_rib)
        self.speaker._rib_changed(changes)
        self.dirty.set()
        self._spawn(self._flush_task(), "flush")

    def _down(self) -> None:
        """The session left Established: forget what it was sent; keep or drop its routes."""
        export, self.export = self.export, None
        if export is not None:
            self.advertised_total += export.advertised
            self.withdrawn_total += export.withdrawn
        rib, self.adj_in = self.adj_in, None
        if rib is None:
            return
        caps = rib.ctx.graceful_restart
        changes: list[RibChange] = []
        if caps is not None and not self.notified and not self.stopped:
            # RFC 4724 §4.2: keep the routes of the families the peer preserves, as stale
            kept = {f.family for f in caps.families}
            for family in {f for f, _, _ in rib} - kept:
                changes += rib.clear(family)
            if rib.count():
                self.stale = rib
                self._restart_stale_timer(float(caps.restart_time))
        else:
            changes += rib.clear()
            if self.stale is not None:
                changes += self.stale.clear()
                self.stale = None
        self.speaker._rib_changed(changes)

    def _restart_stale_timer(self, seconds: float) -> None:
        self._cancel_stale_timer()
        self.stale_timer = self.speaker.loop.call_later(seconds, self._stale_expired)

    def _cancel_stale_timer(self) -> None:
        if self.stale_timer is not None:
            self.stale_timer.cancel()
            self.stale_timer = None

    def _stale_expired(self) -> None:
        """RFC 4724 §4.2: the restart (or stale-path) timer ran out: drop the stale routes."""
        self.stale_timer = None
        changes: list[RibChange] = []
        if self.stale is not None:
            changes += self.stale.clear()
            self.stale = None
        if self.adj_in is not None:
            changes += self.adj_in.purge_stale()
        self.speaker._rib_changed(changes)

    def _update(self, data: bytes) -> None:
        rib = self.adj_in
        if rib is None:  # pragma: no cover - raw UPDATEs come only when Established
            return
        self.updates_received += 1
        try:
            changes = rib.apply_message(data, collect=self.speaker._collect)
        except RemoteProtocolError as exc:
            self.session.update_error(exc, self.now)
            return
        except LocalProtocolError as exc:  # pragma: no cover - split_messages saw an UPDATE
            self._error(str(exc))
            return
        if len(data) <= _EOR_MAX:
            family = _eor_family(data)
            if family is not None:
                self._end_of_rib(family)
        if changes:
            self.speaker._rib_changed(changes)

    def _end_of_rib(self, family: Family) -> None:
        self.eor_received.add(family)
        if self.adj_in is not None and self.adj_in.stale:
            self.speaker._rib_changed(self.adj_in.purge_stale(family))
            if not self.adj_in.stale:
                self._cancel_stale_timer()
        self.speaker._emit(PeerEvent("end-of-rib", self.config.address, time.time(),
                                     self.session.state.value, family=family_name(family)))
        if self.adj_in is not None and self.eor_received >= self.adj_in.ctx.families:
            self.speaker._peer_end_of_rib()
        self.speaker._changed()

    def _refresh_requested(self, refresh: RouteRefresh) -> None:
        self.speaker._emit(PeerEvent("route-refresh", self.config.address, time.time(),
                                     self.session.state.value, family=family_name(refresh.family)))
        if self.export is not None and refresh.subtype == 0:
            self.export.resend(refresh.family)
            self.export.offer_all(self.speaker.local_rib, refresh.family)
            self.dirty.set()

    # -- sending --------------------------------------------------------------------------

    def offer(self, family: Family, key: int, path: Any) -> None:
        if self.export is not None:
            self.export.offer(family, key, path)
            self.dirty.set()

    async def _flush_task(self) -> None:
        """Write pending changes while the session lasts; End-of-RIB after the first round.

        Each step (a slice of a walk over the local RIB, a slice of changes compared with
        the Adj-RIB-Out, a batch of UPDATEs) is followed by a turn of the event loop, so
        other sessions' keepalives and hold timers never wait behind a whole table."""
        export = self.export
        while export is not None and export is self.export:
            await self.dirty.wait()
            if export is not self.export:
                return  # the session went; the flag is for the next session's task
            self.dirty.clear()
            self.flushing = True
            try:
                # The whole walk first, then one take: UPDATEs pack prefixes of the whole
                # table per attribute set, and End-of-RIB follows the whole table.
                while export.walk():
                    await asyncio.sleep(0)
                    if export is not self.export:
                        return
                for batch in export.take():
                    if export is not self.export or self.writer is None:
                        return
                    if batch:
                        self.session.send_raw(batch, self.now)
                        self.pump()
                        await self.writer.drain()
                    await asyncio.sleep(0)  # drain() returns at once below the high mark
                if export is not self.export:
                    return
                self.initial_sent = True
                self._maybe_end_of_rib()
            except (ConnectionError, LocalProtocolError) as exc:
                if export is self.export:
                    self._error(f"sending failed: {exc}")
                return
            finally:
                self.flushing = False
                self.speaker._changed()

    def _maybe_end_of_rib(self) -> None:
        export = self.export
        if export is None or not self.initial_sent or self.writer is None:
            return
        if self.speaker.config.restarting and not self.speaker.initial_done:
            return  # RFC 4724 §4.1: End-of-RIB once the application's routes are in
        for family in sorted(export.ctx.families - self.eor_sent, key=lambda f: (f.afi, f.safi)):
            self.session.send_raw([export.end_of_rib(family)], self.now)
            self.eor_sent.add(family)
        self.pump()

    def refresh(self, family: Family | None = None) -> None:
        negotiated = self.session.negotiated
        if negotiated is None or self.session.state is not State.ESTABLISHED:
            raise LocalProtocolError(f"peer {self.config.address} is not established")
        if not negotiated.route_refresh:
            raise LocalProtocolError(f"peer {self.config.address} did not announce route "
                                     "refresh (RFC 2918)")
        for fam in [family] if family is not None else sorted(
                negotiated.families, key=lambda f: (f.afi, f.safi)):
            self.session.send(RouteRefresh(fam), self.now)
        self.pump()

    # -- stopping and status -------------------------------------------------------------

    async def stop(self, graceful: bool, subcode: int) -> None:
        self.stopped = True
        if graceful and self.session.state is State.ESTABLISHED:
            # RFC 4724: no NOTIFICATION, the peer keeps our routes until we are back
            writer = self.writer
            self._drop_connection()
            if writer is not None:
                with contextlib.suppress(OSError, ConnectionError):
                    await writer.wait_closed()
            self.session.connection_lost(self.now)
        else:
            self.session.stop(self.now, subcode)
        self.pump()
        writer = self.writer
        if writer is not None:
            with contextlib.suppress(OSError, ConnectionError):
                await writer.drain()
            self._drop_connection()
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self._cancel_stale_timer()
        await cancel_and_wait(self.tasks, ignore=(Exception,))
        changes: list[RibChange] = []
        for rib in (self.adj_in, self.stale):
            if rib is not None:
                changes += rib.clear()
        self.adj_in = self.stale = None
        self.speaker._rib_changed(changes)

    def status(self) -> PeerStatus:
        session = self.session
        negotiated = session.negotiated
        established = session.state is State.ESTABLISHED
        export = self.export
        rib = self.adj_in
        remote = session.remote_open
        return PeerStatus(
            address=self.config.address,
            name=self.config.name,
            state=session.state.value,
            since=self.since,
            uptime=time.time() - self.established_at if established else 0.0,
            attempts=self.attempts,
            connections=self.connections,
            established=self.established_count,
            local_asn=self.local_asn,
            remote_asn=negotiated.peer_asn if negotiated else self.config.peer_asn,
            local_address=self.local_address,
            remote_router_id=str(remote.bgp_id) if remote is not None else "",
            hold_time=negotiated.hold_time if negotiated else 0,
            families=family_names(list(negotiated.families)) if negotiated else (),
            advertised=self.advertised_total + (export.advertised if export else 0),
            withdrawn=self.withdrawn_total + (export.withdrawn if export else 0),
            received_prefixes=rib.received if rib else 0,
            accepted_prefixes=rib.count() - rib.stale if rib else 0,
            stale_prefixes=(rib.stale if rib else 0) + (self.stale.count() if self.stale else 0),
            adj_rib_out=export.count() if export else 0,
            updates_received=self.updates_received,
            updates_sent=export.updates if export else 0,
            end_of_rib_received=family_names(list(self.eor_received)),
            end_of_rib_sent=family_names(list(self.eor_sent)),
            last_error=self.last_error,
            last_error_code=self.last_code,
            last_error_subcode=self.last_subcode,
            last_notification_sent=self.last_sent,
            graceful_restart=bool(negotiated and negotiated.graceful_restart),
        )


async def connection_interface(writer: asyncio.StreamWriter) -> int:
    """The index of the interface a connection's local address is on, 0 when unknown.

    A link-local connection names it in its scope id. Otherwise the interface holding the
    local address is looked up (one rtnetlink address dump, a millisecond; it runs before
    the session starts, so the first route received already has it). A peer on a shared
    link sends its link-local next hop with its global one (RFC 2545 §3): that link is the
    one our local address of the session is on.
    """
    sockname = writer.get_extra_info("sockname")
    if not sockname:
        return 0
    if len(sockname) >= 4 and sockname[3]:
        return int(sockname[3])
    try:
        local = ip_address(unmapped_address(sockname[0]))
    except ValueError:
        return 0
    if local.is_unspecified or local.is_loopback:
        return 0
    family = socket.AF_INET if local.version == 4 else socket.AF_INET6
    try:
        async with NetlinkSocket() as netlink:
            addresses = await netlink.dump_addresses(family)
    except (NetlinkBGPError, OSError) as exc:  # no rtnetlink here: routes go without it
        log.info("no interface for %s: %s", local, exc)
        return 0
    for message in addresses:
        if message.address == local:
            return message.ifindex
    return 0


def unmapped_address(text: str) -> str:
    """A socket address without scope id, an IPv4-mapped IPv6 address (a dual-stack socket)
    as IPv4. Python 3.11 prints ``::ffff:10.0.0.1`` as ``::ffff:a00:1``: read the mapping
    from the address, not from its text."""
    address = ip_address(text.split("%")[0])
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


#: The subcode names of each error code, for messages (RFC 4271 §4.5 and the RFCs cited by
#: each enum).
_SUBCODES: dict[int, type[enum.IntEnum]] = {
    ErrorCode.MESSAGE_HEADER_ERROR: MessageHeaderSubcode,
    ErrorCode.OPEN_MESSAGE_ERROR: OpenSubcode,
    ErrorCode.UPDATE_MESSAGE_ERROR: UpdateSubcode,
    ErrorCode.FSM_ERROR: FsmErrorSubcode,
    ErrorCode.CEASE: CeaseSubcode,
    ErrorCode.ROUTE_REFRESH_MESSAGE_ERROR: RouteRefreshErrorSubcode,
}


def _error_name(code: int, subcode: int) -> str:
    """``OPEN_MESSAGE_ERROR / BAD_PEER_AS``: the names of a code and subcode, numbers for
    values no enum knows."""
    try:
        name = ErrorCode(code).name
    except ValueError:
        return str(code)
    subcodes = _SUBCODES.get(code)
    if subcodes is None:  # Hold Timer Expired has no subcodes
        return name
    try:
        return f"{name} / {subcodes(subcode).name}"
    except ValueError:
        return f"{name} / {subcode}"


def _describe(notification: Notification, sent: bool) -> str:
    who = "sent" if sent else "received"
    name = _error_name(notification.code, notification.subcode)
    text = f"NOTIFICATION {who}: {name} (code {notification.code}, subcode {notification.subcode})"
    if notification.code == ErrorCode.CEASE and notification.data and notification.subcode in (
            CeaseSubcode.ADMINISTRATIVE_SHUTDOWN, CeaseSubcode.ADMINISTRATIVE_RESET):
        # RFC 9003: a UTF-8 shutdown message, length-prefixed
        length = notification.data[0]
        message = notification.data[1 : 1 + length].decode("utf-8", "replace")
        text += f": {message}"
    return text
