"""One BGP session, sans-IO: the finite state machine of RFC 4271 §8 as a transition table.

The session never touches a socket or a clock. The I/O layer feeds it what happened
(``connection_made``, ``receive_data``, ``connection_lost``, ``handle_timer(now)``) and carries
out what it asks (``data_to_send``, and the :class:`ConnectRequested` / :class:`CloseRequested`
events); the application reads the other events (``next_event``) and sends UPDATEs with
``send``. Time is always an argument, so tests move ``now`` instead of sleeping.

States and inputs are named as in RFC 4271 §8. The transitions are one table
(:data:`TRANSITIONS`); a pair that is not in it is, per RFC 4271 §8.2.2 and RFC 6608, an FSM
error: with a connection up we send NOTIFICATION "Finite State Machine Error" with the subcode
of the state, then go to Idle; in Connect and Active the connection attempt is dropped; in Idle
the input is ignored.
"""

from __future__ import annotations

import enum
import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address

from netlinkbgp.bgp.capabilities import (
    Capability,
    FourOctetAs,
    Multiprotocol,
    Negotiated,
)
from netlinkbgp.bgp.capabilities import (
    RouteRefresh as RouteRefreshCapability,
)
from netlinkbgp.bgp.constants import (
    AS_TRANS,
    CeaseSubcode,
    ErrorCode,
    FsmErrorSubcode,
    OpenSubcode,
)
from netlinkbgp.bgp.messages import (
    Keepalive,
    Message,
    Notification,
    Open,
    RouteRefresh,
    Update,
    decode_message,
    encode_message,
    split_messages,
)
from netlinkbgp.bgp.nlri import IPV4_UNICAST, IPV6_UNICAST
from netlinkbgp.errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "TRANSITIONS",
    "CloseRequested",
    "ConnectRequested",
    "Established",
    "Event",
    "Input",
    "NotificationReceived",
    "NotificationSent",
    "RawUpdateReceived",
    "RouteRefreshReceived",
    "Session",
    "SessionConfig",
    "State",
    "StateChanged",
    "UpdateReceived",
]

#: The UPDATE message type octet (RFC 4271 §4.1), read before decoding in raw mode.
_UPDATE_TYPE = 2
#: RFC 4271 §8.2.2: after sending OPEN the hold timer is set "to a large value"; 4 minutes is
#: the value it suggests.
OPEN_HOLD_TIME = 240.0
#: Received bytes kept while waiting for the rest of a message: one maximum-size message
#: (RFC 8654) plus a header; more without a complete message means a broken peer.
MAX_BUFFERED = 65535 + 19


class State(enum.Enum):
    """Session states (RFC 4271 §8.2.2)."""

    IDLE = "Idle"
    CONNECT = "Connect"
    ACTIVE = "Active"
    OPENSENT = "OpenSent"
    OPENCONFIRM = "OpenConfirm"
    ESTABLISHED = "Established"


class Input(enum.IntEnum):
    """FSM inputs, numbered as the events of RFC 4271 §8.1 (ROUTE_REFRESH_MSG is ours)."""

    MANUAL_START = 1  #: RFC 4271 §8.1.2 Event 1
    MANUAL_STOP = 2  #: Event 2
    AUTOMATIC_START = 3  #: Event 3
    MANUAL_START_PASSIVE = 4  #: Event 4 (ManualStart_with_PassiveTcpEstablishment)
    AUTOMATIC_START_PASSIVE = 5  #: Event 5
    AUTOMATIC_STOP = 8  #: Event 8
    CONNECT_RETRY_TIMER_EXPIRES = 9  #: RFC 4271 §8.1.3 Event 9
    HOLD_TIMER_EXPIRES = 10  #: Event 10
    KEEPALIVE_TIMER_EXPIRES = 11  #: Event 11
    DELAY_OPEN_TIMER_EXPIRES = 12  #: Event 12
    IDLE_HOLD_TIMER_EXPIRES = 13  #: Event 13
    TCP_CR_ACKED = 16  #: RFC 4271 §8.1.4 Event 16: our connection is up
    TCP_CONNECTION_CONFIRMED = 17  #: Event 17: the peer's connection is up
    TCP_CONNECTION_FAILS = 18  #: Event 18
    BGP_OPEN = 19  #: RFC 4271 §8.1.5 Event 19
    BGP_HEADER_ERR = 21  #: Event 21
    BGP_OPEN_MSG_ERR = 22  #: Event 22
    OPEN_COLLISION_DUMP = 23  #: Event 23
    NOTIF_MSG_VER_ERR = 24  #: Event 24
    NOTIF_MSG = 25  #: Event 25
    KEEPALIVE_MSG = 26  #: Event 26
    UPDATE_MSG = 27  #: Event 27
    UPDATE_MSG_ERR = 28  #: Event 28
    ROUTE_REFRESH_MSG = 100  #: RFC 2918: not an RFC 4271 event; valid in Established only


# -- events out -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StateChanged:
    """The session moved from ``old`` to ``new``."""

    old: State
    new: State


@dataclass(frozen=True, slots=True)
class ConnectRequested:
    """The I/O layer should open a TCP connection to the peer."""


@dataclass(frozen=True, slots=True)
class CloseRequested:
    """The I/O layer should close the connection (after sending what is queued)."""


@dataclass(frozen=True, slots=True)
class Established:
    """The session is up; ``negotiated`` is the context of every UPDATE from now on."""

    negotiated: Negotiated
    remote_open: Open


@dataclass(frozen=True, slots=True)
class UpdateReceived:
    """An UPDATE arrived (it may carry RFC 7606 errors with a treat-as-withdraw action)."""

    update: Update


@dataclass(frozen=True, slots=True)
class RawUpdateReceived:
    """An UPDATE arrived, left undecoded (``SessionConfig.decode_updates`` is false).

    The receiver decodes it (for instance with ``AdjRibIn.apply_message``, whose fast path
    never builds attribute objects) and reports an error that calls for a session reset with
    :meth:`Session.update_error`.
    """

    data: bytes


@dataclass(frozen=True, slots=True)
class RouteRefreshReceived:
    """The peer asked for our routes again (or marks a refresh, RFC 7313)."""

    refresh: RouteRefresh


@dataclass(frozen=True, slots=True)
class NotificationReceived:
    """The peer closed the session with this NOTIFICATION."""

    notification: Notification


@dataclass(frozen=True, slots=True)
class NotificationSent:
    """We closed the session with this NOTIFICATION."""

    notification: Notification


Event = (StateChanged | ConnectRequested | CloseRequested | Established | UpdateReceived
         | RawUpdateReceived | RouteRefreshReceived | NotificationReceived | NotificationSent)


def default_capabilities(local_asn: int) -> tuple[Capability, ...]:
    """IPv4 and IPv6 unicast, route refresh and 4-octet AS."""
    return (Multiprotocol(IPV4_UNICAST), Multiprotocol(IPV6_UNICAST), RouteRefreshCapability(),
            FourOctetAs(local_asn))


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """What one session needs to know.

    Attributes:
        local_asn: our AS number.
        router_id: our BGP identifier.
        peer_asn: the AS the peer must announce; 0 accepts any (test harnesses).
        hold_time: hold time we propose (0, or 3 and more).
        connect_retry_time: seconds between connection attempts (RFC 4271 suggests 120).
        idle_hold_time: first wait before an automatic restart after an error; doubled after
            each consecutive failure (damping peer oscillations, RFC 4271 §8.1.1).
        max_idle_hold_time: the longest such wait.
        delay_open_time: seconds to wait for the peer's OPEN before sending ours (0 = off).
        passive: never open connections, only accept them.
        auto_restart: restart automatically (after the idle hold time) when the session fails.
        capabilities: what our OPEN announces; by default :func:`default_capabilities`.
        decode_updates: decode UPDATEs into :class:`UpdateReceived` events; when false they
            come out as :class:`RawUpdateReceived` bytes for a faster decoder.
    """

    local_asn: int
    router_id: IPv4Address
    peer_asn: int = 0
    hold_time: int = 90
    connect_retry_time: float = 30.0
    idle_hold_time: float = 1.0
    max_idle_hold_time: float = 120.0
    delay_open_time: float = 0.0
    passive: bool = False
    auto_restart: bool = True
    capabilities: tuple[Capability, ...] = field(default=())
    decode_updates: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.local_asn <= 0xFFFFFFFF or not 0 <= self.peer_asn <= 0xFFFFFFFF:
            raise LocalProtocolError("AS numbers are 1..4294967295")
        if 0 < self.hold_time < 3 or not 0 <= self.hold_time <= 0xFFFF:
            raise LocalProtocolError(f"hold time {self.hold_time} is not 0 or 3..65535")
        if not self.capabilities:
            object.__setattr__(self, "capabilities", default_capabilities(self.local_asn))

    def open_message(self) -> Open:
        """The OPEN we send."""
        my_as = self.local_asn if self.local_asn <= 0xFFFF else AS_TRANS
        return Open(my_as, self.hold_time, self.router_id, self.capabilities)


_Action = Callable[["Session", float], State]
_S = State
_I = Input


class Session:
    """One BGP session's state machine (sans-IO).

    Args:
        config: the session's parameters.
    """

    def __init__(self, config: SessionConfig) -> None:
        self.config = config
        self.state = State.IDLE
        self.negotiated: Negotiated | None = None
        self.remote_open: Open | None = None
        self._events: deque[Event] = deque()
        self._out: list[bytes] = []
        self._buffer = b""
        self._timers: dict[str, float] = {}
        self._idle_hold = config.idle_hold_time
        self._passive_start = config.passive
        self._local_open = config.open_message()
        self._ctx = Negotiated.default()
        self._pending_open: Open | None = None
        #: consecutive failures (RFC 4271 ConnectRetryCounter)
        self.connect_retry_counter = 0
        # What the input being handled carries (the message, the error, the stop reason).
        self._message: Message | None = None
        self._raw_update = b""
        self._error = RemoteProtocolError("no error", ErrorCode.FSM_ERROR)
        self._stop_notification = Notification(ErrorCode.CEASE,
                                               CeaseSubcode.ADMINISTRATIVE_SHUTDOWN)

    # -- inputs from the application and the I/O layer ------------------------------------------

    def start(self, now: float, passive: bool | None = None) -> None:
        """ManualStart (Event 1), or with passive TCP establishment (Event 4)."""
        self._passive_start = self.config.passive if passive is None else passive
        self._input(_I.MANUAL_START_PASSIVE if self._passive_start else _I.MANUAL_START, now)

    def stop(self, now: float, subcode: int = CeaseSubcode.ADMINISTRATIVE_SHUTDOWN,
             data: bytes = b"") -> None:
        """ManualStop (Event 2): NOTIFICATION Cease (when a session is open), then Idle."""
        self._stop_notification = Notification(ErrorCode.CEASE, subcode, data)
        self.handle_input(_I.MANUAL_STOP, now)

    def connection_made(self, now: float, outgoing: bool = True) -> None:
        """Our connection attempt succeeded (Event 16) or the peer's was accepted (Event 17)."""
        self._buffer = b""
        self._input(_I.TCP_CR_ACKED if outgoing else _I.TCP_CONNECTION_CONFIRMED, now)

    def connection_lost(self, now: float) -> None:
        """The TCP connection failed or closed (Event 18)."""
        self._input(_I.TCP_CONNECTION_FAILS, now)

    def collision_dump(self, now: float) -> None:
        """Collision detection chose the other connection (Event 23)."""
        self._input(_I.OPEN_COLLISION_DUMP, now)

    def receive_data(self, data: bytes, now: float) -> None:
        """Bytes arrived on the connection; each whole message becomes an input."""
        if self.state in (State.IDLE,):
            return
        self._buffer += data
        try:
            messages, self._buffer = split_messages(self._buffer, self._ctx.max_message_size)
        except RemoteProtocolError as exc:
            self._buffer = b""
            self._error = exc
            self._input(_I.BGP_HEADER_ERR, now)
            return
        for raw in messages:
            self._receive(raw, now)
            if self._is_idle():
                break  # the session went down: the rest belongs to no session
        if len(self._buffer) > MAX_BUFFERED:  # pragma: no cover - split_messages bounds it
            raise LocalProtocolError("receive buffer over its bound")

    def _is_idle(self) -> bool:
        return self.state is State.IDLE

    def _receive(self, raw: bytes, now: float) -> None:
        if (raw[18] == _UPDATE_TYPE and not self.config.decode_updates
                and self.state is State.ESTABLISHED):
            self._message = None
            self._raw_update = raw
            self._input(_I.UPDATE_MSG, now)
            return
        try:
            msg = decode_message(raw, self._ctx)
        except RemoteProtocolError as exc:
            self._error = exc
            kinds: dict[int, Input] = {ErrorCode.OPEN_MESSAGE_ERROR: _I.BGP_OPEN_MSG_ERR,
                                       ErrorCode.UPDATE_MESSAGE_ERROR: _I.UPDATE_MSG_ERR}
            kind = kinds.get(exc.code)
            self._input(kind or _I.BGP_HEADER_ERR, now)
            return
        self._message = msg
        if isinstance(msg, Open):
            self._input(_I.BGP_OPEN, now)
        elif isinstance(msg, Keepalive):
            self._input(_I.KEEPALIVE_MSG, now)
        elif isinstance(msg, Update):
            self._input(_I.UPDATE_MSG, now)
        elif isinstance(msg, Notification):
            version = (msg.code == ErrorCode.OPEN_MESSAGE_ERROR
                       and msg.subcode == OpenSubcode.UNSUPPORTED_VERSION_NUMBER)
            self._input(_I.NOTIF_MSG_VER_ERR if version else _I.NOTIF_MSG, now)
        elif isinstance(msg, RouteRefresh):
            self._input(_I.ROUTE_REFRESH_MSG, now)

    def update_error(self, error: RemoteProtocolError, now: float) -> None:
        """A raw UPDATE (:class:`RawUpdateReceived`) turned out to call for a session reset
        (RFC 7606): NOTIFICATION with the error's code and subcode, then Idle (Event 28)."""
        self.handle_input(_I.UPDATE_MSG_ERR, now, error=error)

    def send_raw(self, messages: list[bytes], now: float) -> None:
        """Queue whole, already encoded UPDATE messages (Established only).

        Raises:
            LocalProtocolError: not Established.
        """
        if self.state is not State.ESTABLISHED:
            raise LocalProtocolError(f"cannot send UPDATEs in {self.state.value}")
        if messages:
            self._out.extend(messages)
            self._arm_keepalive(now)

    def send(self, message: Update | RouteRefresh, now: float) -> None:
        """Queue an UPDATE or ROUTE-REFRESH (Established only).

        Raises:
            LocalProtocolError: not Established, or the message does not fit the session.
        """
        if self.state is not State.ESTABLISHED:
            raise LocalProtocolError(f"cannot send {type(message).__name__} in {self.state.value}")
        self._out.append(encode_message(message, self._ctx))
        if isinstance(message, Update):
            self._arm_keepalive(now)  # RFC 4271 §4.4: an UPDATE also resets the keepalive

    # -- outputs --------------------------------------------------------------------------------

    def data_to_send(self) -> bytes:
        """Bytes to write to the connection, in order (empty when there are none)."""
        data = b"".join(self._out)
        self._out.clear()
        return data

    def next_event(self) -> Event | None:
        """The next event for the application or the I/O layer, or ``None``."""
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` should next be called, or ``None`` for no timer."""
        return min(self._timers.values(), default=None)

    def handle_timer(self, now: float) -> None:
        """Fire every timer due at ``now``, earliest first."""
        while self._timers:
            name, deadline = min(self._timers.items(), key=lambda item: item[1])
            if deadline > now:
                return
            del self._timers[name]
            self._input(_TIMER_INPUTS[name], now)

    # -- the machine -----------------------------------------------------------------------------

    def handle_input(self, what: Input, now: float, message: Message | None = None,
                     error: RemoteProtocolError | None = None) -> None:
        """Feed one FSM input directly (the other methods are built on this).

        Args:
            what: the input.
            now: the current time.
            message: the message an input about a received message carries.
            error: the protocol error a ``*_ERR`` input carries.
        """
        if message is not None:
            self._message = message
        if error is not None:
            self._error = error
        self._input(what, now)

    def _input(self, what: Input, now: float) -> None:
        action = TRANSITIONS.get((self.state, what))
        new = self._fsm_error(now) if action is None else action(self, now)
        self._goto(new, now)

    def _goto(self, new: State, now: float) -> None:
        if new is not self.state:
            old, self.state = self.state, new
            self._events.append(StateChanged(old, new))

    # Timers
    def _arm(self, name: str, now: float, seconds: float) -> None:
        if seconds > 0:
            self._timers[name] = now + seconds
        else:
            self._timers.pop(name, None)

    def _arm_keepalive(self, now: float) -> None:
        if self.negotiated is not None and self.negotiated.hold_time:
            self._arm("keepalive", now, self.negotiated.hold_time / 3)

    def _arm_hold(self, now: float) -> None:
        if self.negotiated is not None:
            self._arm("hold", now, self.negotiated.hold_time)

    # Actions: each returns the next state.
    def _ignore(self, now: float) -> State:
        return self.state

    def _start(self, now: float) -> State:
        self.connect_retry_counter = 0
        self._timers.clear()
        self._arm("connect_retry", now, self.config.connect_retry_time)
        if self._passive_start:
            return State.ACTIVE
        self._events.append(ConnectRequested())
        return State.CONNECT

    def _auto_restart(self, now: float) -> State:
        return self._start(now) if self.config.auto_restart else State.IDLE

    def _retry_connect(self, now: float) -> State:
        self._arm("connect_retry", now, self.config.connect_retry_time)
        if self._passive_start:
            return State.ACTIVE
        if self.state is State.CONNECT:
            self._events.append(CloseRequested())
        self._events.append(ConnectRequested())
        return State.CONNECT

    def _tcp_up(self, now: float) -> State:
        self._timers.pop("connect_retry", None)
        if self.config.delay_open_time:
            self._arm("delay_open", now, self.config.delay_open_time)
            return self.state
        return self._send_open(now)

    def _send_open(self, now: float) -> State:
        self._timers.pop("delay_open", None)
        self._out.append(encode_message(self._local_open, self._ctx))
        self._arm("hold", now, OPEN_HOLD_TIME)
        if self._pending_open is not None:  # the peer's OPEN came while we delayed ours
            self._message = self._pending_open
            self._pending_open = None
            self.state = State.OPENSENT
            return self._open_received(now)
        return State.OPENSENT

    def _open_during_delay(self, now: float) -> State:
        if "delay_open" not in self._timers or not isinstance(self._message, Open):
            return self._fsm_error(now)
        self._pending_open = self._message
        return self._send_open(now)

    def _open_received(self, now: float) -> State:
        remote = self._message
        if not isinstance(remote, Open):
            return self._fsm_error(now)
        try:
            negotiated = self._check_open(remote)
        except RemoteProtocolError as exc:
            return self._notify(Notification.from_error(exc), now)
        self.negotiated = self._ctx = negotiated
        self.remote_open = remote
        self._out.append(encode_message(Keepalive(), self._ctx))
        self._arm_keepalive(now)
        self._arm_hold(now)
        return State.OPENCONFIRM

    def _check_open(self, remote: Open) -> Negotiated:
        """RFC 4271 §6.2 checks on the peer's OPEN, then negotiation."""
        if remote.version != 4:
            raise RemoteProtocolError(f"BGP version {remote.version}",
                                      ErrorCode.OPEN_MESSAGE_ERROR,
                                      OpenSubcode.UNSUPPORTED_VERSION_NUMBER, struct.pack("!H", 4))
        if self.config.peer_asn and remote.asn != self.config.peer_asn:
            raise RemoteProtocolError(
                f"peer announced AS {remote.asn}, expected {self.config.peer_asn}",
                ErrorCode.OPEN_MESSAGE_ERROR, OpenSubcode.BAD_PEER_AS,
                struct.pack("!H", remote.my_as))
        ibgp = remote.asn == self.config.local_asn
        if int(remote.bgp_id) == 0 or (ibgp and remote.bgp_id == self.config.router_id):
            raise RemoteProtocolError(f"bad BGP identifier {remote.bgp_id}",
                                      ErrorCode.OPEN_MESSAGE_ERROR,
                                      OpenSubcode.BAD_BGP_IDENTIFIER, remote.bgp_id.packed)
        return Negotiated.from_opens(self._local_open, remote)

    def _established(self, now: float) -> State:
        if self.negotiated is None or self.remote_open is None:
            return self._fsm_error(now)
        self._arm_hold(now)
        self._idle_hold = self.config.idle_hold_time
        self.connect_retry_counter = 0
        self._events.append(Established(self.negotiated, self.remote_open))
        return State.ESTABLISHED

    def _send_keepalive(self, now: float) -> State:
        self._out.append(encode_message(Keepalive(), self._ctx))
        self._arm_keepalive(now)
        return self.state

    def _keepalive_received(self, now: float) -> State:
        self._arm_hold(now)
        return self.state

    def _update(self, now: float) -> State:
        if self._raw_update:
            self._arm_hold(now)
            self._events.append(RawUpdateReceived(self._raw_update))
            self._raw_update = b""
            return self.state
        if not isinstance(self._message, Update):
            return self._fsm_error(now)
        self._arm_hold(now)
        self._events.append(UpdateReceived(self._message))
        return self.state

    def _route_refresh(self, now: float) -> State:
        if not isinstance(self._message, RouteRefresh):
            return self._fsm_error(now)
        self._arm_hold(now)
        self._events.append(RouteRefreshReceived(self._message))
        return self.state

    def _hold_expired(self, now: float) -> State:
        return self._notify(Notification(ErrorCode.HOLD_TIMER_EXPIRED), now)

    def _stop_notify(self, now: float) -> State:
        return self._notify(self._stop_notification, now, restart=False)

    def _stop_quiet(self, now: float) -> State:
        return self._down(now, restart=False)

    def _error_reset(self, now: float) -> State:
        return self._notify(Notification.from_error(self._error), now)

    def _collision_dump(self, now: float) -> State:
        notification = Notification(ErrorCode.CEASE, CeaseSubcode.CONNECTION_COLLISION_RESOLUTION)
        return self._notify(notification, now, restart=False)

    def _notification_received(self, now: float) -> State:
        if isinstance(self._message, Notification):
            self._events.append(NotificationReceived(self._message))
        return self._down(now)

    def _tcp_failed(self, now: float) -> State:
        return self._down(now)

    def _tcp_failed_open_sent(self, now: float) -> State:
        # RFC 4271 §8.2.2 OpenSent, Event 18: close, restart the connect-retry timer, Active.
        self._events.append(CloseRequested())
        self._timers.clear()
        self._arm("connect_retry", now, self.config.connect_retry_time)
        self._ctx = Negotiated.default()
        return State.ACTIVE

    def _fsm_error(self, now: float) -> State:
        subcode = {State.OPENSENT: FsmErrorSubcode.UNEXPECTED_MESSAGE_IN_OPENSENT,
                   State.OPENCONFIRM: FsmErrorSubcode.UNEXPECTED_MESSAGE_IN_OPENCONFIRM,
                   State.ESTABLISHED: FsmErrorSubcode.UNEXPECTED_MESSAGE_IN_ESTABLISHED,
                   }.get(self.state)
        if subcode is None:  # Connect / Active: no BGP conversation yet, drop the attempt
            return self._down(now) if self.state is not State.IDLE else State.IDLE
        return self._notify(Notification(ErrorCode.FSM_ERROR, subcode), now)

    def _notify(self, notification: Notification, now: float, restart: bool = True) -> State:
        self._out.append(encode_message(notification, self._ctx))
        self._events.append(NotificationSent(notification))
        return self._down(now, restart)

    def _down(self, now: float, restart: bool = True) -> State:
        """Release the connection and go to Idle; maybe schedule an automatic restart."""
        if self.state is not State.IDLE:
            self._events.append(CloseRequested())
        self._timers.clear()
        self._buffer = b""
        self.negotiated = None
        self._ctx = Negotiated.default()
        self._pending_open = None
        if restart:
            self.connect_retry_counter += 1
            if self.config.auto_restart:
                self._arm("idle_hold", now, self._idle_hold)
                self._idle_hold = min(self._idle_hold * 2, self.config.max_idle_hold_time)
        return State.IDLE


_TIMER_INPUTS = {
    "connect_retry": _I.CONNECT_RETRY_TIMER_EXPIRES,
    "hold": _I.HOLD_TIMER_EXPIRES,
    "keepalive": _I.KEEPALIVE_TIMER_EXPIRES,
    "delay_open": _I.DELAY_OPEN_TIMER_EXPIRES,
    "idle_hold": _I.IDLE_HOLD_TIMER_EXPIRES,
}

_STARTS = (_I.MANUAL_START, _I.AUTOMATIC_START, _I.MANUAL_START_PASSIVE,
           _I.AUTOMATIC_START_PASSIVE)
_CONNECTED = (_S.OPENSENT, _S.OPENCONFIRM, _S.ESTABLISHED)

#: The transition table: (state, input) -> action. Pairs not listed are FSM errors.
TRANSITIONS: dict[tuple[State, Input], _Action] = {
    # Idle: start, or restart after the idle hold time; everything else is ignored.
    **{(_S.IDLE, i): Session._start for i in _STARTS},
    (_S.IDLE, _I.IDLE_HOLD_TIMER_EXPIRES): Session._auto_restart,
    **{(_S.IDLE, i): Session._ignore for i in Input
       if i not in _STARTS and i is not _I.IDLE_HOLD_TIMER_EXPIRES},
    # Connect and Active: waiting for a TCP connection.
    **{(s, i): Session._ignore for s in (_S.CONNECT, _S.ACTIVE) for i in _STARTS},
    **{(s, _I.MANUAL_STOP): Session._stop_quiet for s in (_S.CONNECT, _S.ACTIVE)},
    **{(s, _I.AUTOMATIC_STOP): Session._stop_quiet for s in (_S.CONNECT, _S.ACTIVE)},
    **{(s, _I.CONNECT_RETRY_TIMER_EXPIRES): Session._retry_connect
       for s in (_S.CONNECT, _S.ACTIVE)},
    **{(s, _I.DELAY_OPEN_TIMER_EXPIRES): Session._send_open for s in (_S.CONNECT, _S.ACTIVE)},
    **{(s, _I.TCP_CR_ACKED): Session._tcp_up for s in (_S.CONNECT, _S.ACTIVE)},
    **{(s, _I.TCP_CONNECTION_CONFIRMED): Session._tcp_up for s in (_S.CONNECT, _S.ACTIVE)},
    **{(s, _I.TCP_CONNECTION_FAILS): Session._tcp_failed for s in (_S.CONNECT, _S.ACTIVE)},
    **{(s, _I.BGP_OPEN): Session._open_during_delay for s in (_S.CONNECT, _S.ACTIVE)},
    # A connection is up: OpenSent, OpenConfirm, Established share the stop and error paths.
    **{(s, i): Session._ignore for s in _CONNECTED for i in _STARTS},
    **{(s, _I.MANUAL_STOP): Session._stop_notify for s in _CONNECTED},
    **{(s, _I.AUTOMATIC_STOP): Session._stop_notify for s in _CONNECTED},
    **{(s, _I.HOLD_TIMER_EXPIRES): Session._hold_expired for s in _CONNECTED},
    **{(s, _I.BGP_HEADER_ERR): Session._error_reset for s in _CONNECTED},
    **{(s, _I.BGP_OPEN_MSG_ERR): Session._error_reset for s in _CONNECTED},
    **{(s, _I.OPEN_COLLISION_DUMP): Session._collision_dump for s in _CONNECTED},
    **{(s, _I.NOTIF_MSG): Session._notification_received for s in _CONNECTED},
    **{(s, _I.NOTIF_MSG_VER_ERR): Session._notification_received for s in _CONNECTED},
    (_S.OPENSENT, _I.TCP_CONNECTION_FAILS): Session._tcp_failed_open_sent,
    (_S.OPENCONFIRM, _I.TCP_CONNECTION_FAILS): Session._tcp_failed,
    (_S.ESTABLISHED, _I.TCP_CONNECTION_FAILS): Session._tcp_failed,
    (_S.OPENSENT, _I.BGP_OPEN): Session._open_received,
    (_S.OPENCONFIRM, _I.KEEPALIVE_TIMER_EXPIRES): Session._send_keepalive,
    (_S.OPENCONFIRM, _I.KEEPALIVE_MSG): Session._established,
    (_S.ESTABLISHED, _I.KEEPALIVE_TIMER_EXPIRES): Session._send_keepalive,
    (_S.ESTABLISHED, _I.KEEPALIVE_MSG): Session._keepalive_received,
    (_S.ESTABLISHED, _I.UPDATE_MSG): Session._update,
    (_S.ESTABLISHED, _I.UPDATE_MSG_ERR): Session._error_reset,
    (_S.ESTABLISHED, _I.ROUTE_REFRESH_MSG): Session._route_refresh,
}
