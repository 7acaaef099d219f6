"""The sans-IO session FSM: two sessions back to back in memory, the clock moved by hand."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, ip_network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netlinkbgp.bgp import (
    IPV4_UNICAST,
    AsPath,
    AsPathSegment,
    Keepalive,
    Negotiated,
    NextHopAttribute,
    Nlri,
    NlriList,
    Notification,
    Open,
    OriginAttribute,
    RouteRefresh,
    Update,
    encode_message,
    split_messages,
)
from netlinkbgp.bgp.constants import AsPathSegmentType, ErrorCode
from netlinkbgp.bgp.session import (
    TRANSITIONS,
    CloseRequested,
    ConnectRequested,
    Established,
    Input,
    NotificationReceived,
    NotificationSent,
    RouteRefreshReceived,
    Session,
    SessionConfig,
    State,
    StateChanged,
    UpdateReceived,
)
from netlinkbgp.errors import LocalProtocolError, RemoteProtocolError
from netlinkbgp.route import Origin
from netlinkbgp.testing import SessionPair

A = SessionConfig(65001, IPv4Address("192.0.2.1"), peer_asn=65002, hold_time=9)
B = SessionConfig(65002, IPv4Address("192.0.2.2"), peer_asn=65001, hold_time=9)


def sent(events: list[object]) -> list[tuple[int, int]]:
    return [(e.notification.code, e.notification.subcode) for e in events
            if isinstance(e, NotificationSent)]


def received(events: list[object]) -> list[tuple[int, int]]:
    return [(e.notification.code, e.notification.subcode) for e in events
            if isinstance(e, NotificationReceived)]


def update() -> Update:
    attributes = (OriginAttribute(Origin.IGP),
                  AsPath((AsPathSegment(AsPathSegmentType.AS_SEQUENCE, (65001,)),)),
                  NextHopAttribute(IPv4Address("192.0.2.1")))
    nlri = NlriList(IPV4_UNICAST, (Nlri.from_network(ip_network("198.51.100.0/24")),))
    return Update(attributes=attributes, nlri=nlri)


def test_establish_and_exchange_an_update() -> None:
    pair = SessionPair(A, B)
    pair.establish()
    assert pair.events_a[:2] == [ConnectRequested(), StateChanged(State.IDLE, State.CONNECT)]
    assert any(isinstance(e, ConnectRequested) for e in pair.events_a)
    (up,) = [e for e in pair.events_a if isinstance(e, Established)]
    assert up.negotiated.hold_time == 9 and up.negotiated.asn4
    assert up.negotiated.peer_asn == 65002
    pair.a.send(update(), pair.now)
    pair.pump()
    (got,) = [e for e in pair.events_b if isinstance(e, UpdateReceived)]
    assert [str(n.network) for n in got.update.nlri] == ["198.51.100.0/24"]
    pair.b.send(RouteRefresh(IPV4_UNICAST), pair.now)
    pair.pump()
    assert [e for e in pair.events_a if isinstance(e, RouteRefreshReceived)]


def test_state_sequence_of_both_sides() -> None:
    pair = SessionPair(A, B)
    pair.establish()
    states_a = [e.new for e in pair.events_a if isinstance(e, StateChanged)]
    states_b = [e.new for e in pair.events_b if isinstance(e, StateChanged)]
    assert states_a == [State.CONNECT, State.OPENSENT, State.OPENCONFIRM, State.ESTABLISHED]
    assert states_b == [State.ACTIVE, State.OPENSENT, State.OPENCONFIRM, State.ESTABLISHED]


def test_keepalives_keep_the_session_up_without_sleeping() -> None:
    pair = SessionPair(A, B)
    pair.establish()
    pair.advance(300)  # 100 keepalive intervals of 3 s, each answered in memory
    assert pair.a.state is State.ESTABLISHED and pair.b.state is State.ESTABLISHED
    assert sent(pair.events_a) == [] and sent(pair.events_b) == []


def test_hold_timer_expires_when_the_peer_goes_silent() -> None:
    pair = SessionPair(A, B)
    pair.establish()
    pair.blocked.add("b->a")
    pair.advance(8.9)
    assert pair.a.state is State.ESTABLISHED
    pair.advance(0.2)
    assert sent(pair.events_a) == [(ErrorCode.HOLD_TIMER_EXPIRED, 0)]
    assert pair.a.state is State.IDLE
    # Automatic restart after the idle hold time (1 s), then doubling on the next failure.
    assert pair.a.get_timer() == pytest.approx(pair.now + 0.9, abs=0.11)


def test_wrong_peer_as_is_refused_with_bad_peer_as() -> None:
    wrong = SessionConfig(65003, IPv4Address("192.0.2.2"), peer_asn=65001, hold_time=9)
    pair = SessionPair(A, wrong)
    pair.connect()
    assert sent(pair.events_a) == [(ErrorCode.OPEN_MESSAGE_ERROR, 2)]
    assert received(pair.events_b) == [(ErrorCode.OPEN_MESSAGE_ERROR, 2)]
    assert pair.a.state is State.IDLE and pair.b.state is State.IDLE


def test_same_router_id_on_ibgp_is_a_bad_identifier() -> None:
    one = SessionConfig(65001, IPv4Address("192.0.2.9"), peer_asn=65001)
    pair = SessionPair(one, one)
    pair.connect()
    assert (ErrorCode.OPEN_MESSAGE_ERROR, 3) in sent(pair.events_a) + sent(pair.events_b)


def _opensent() -> Session:
    session = Session(A)
    session.start(0.0)
    session.connection_made(0.0)
    assert session.state is State.OPENSENT
    session.data_to_send()
    return session


def test_unacceptable_hold_time_from_the_peer() -> None:
    session = _opensent()
    raw = bytearray(encode_message(Open(65002, 9, IPv4Address("192.0.2.2")), Negotiated.default()))
    struct.pack_into("!H", raw, 19 + 3, 2)  # hold time 2
    session.receive_data(bytes(raw), 0.0)
    assert session.state is State.IDLE
    assert sent(list(_drain(session))) == [(ErrorCode.OPEN_MESSAGE_ERROR, 6)]


def _drain(session: Session) -> list[object]:
    out = []
    while (event := session.next_event()) is not None:
        out.append(event)
    return out


def test_keepalive_in_opensent_is_an_fsm_error() -> None:
    session = _opensent()
    session.receive_data(encode_message(Keepalive(), Negotiated.default()), 1.0)
    assert sent(_drain(session)) == [(ErrorCode.FSM_ERROR, 1)]
    assert session.state is State.IDLE
    # The NOTIFICATION went out on the wire.
    assert session.data_to_send()[18] == 3


def test_garbage_gets_a_header_error_notification() -> None:
    session = _opensent()
    session.receive_data(b"\x00" * 19, 1.0)
    assert sent(_drain(session)) == [(ErrorCode.MESSAGE_HEADER_ERROR, 1)]


def test_notification_received_closes_and_reports() -> None:
    pair = SessionPair(A, B)
    pair.establish()
    pair.b.stop(pair.now)
    pair.pump()
    assert received(pair.events_a) == [(ErrorCode.CEASE, 2)]
    assert pair.a.state is State.IDLE and pair.b.state is State.IDLE
    assert pair.b.get_timer() is None  # a manual stop does not restart


def test_idle_hold_backs_off_exponentially() -> None:
    session = Session(A)
    session.start(0.0)
    waits = []
    now = 0.0
    for _ in range(5):
        session.connection_lost(now)  # the connection attempt fails
        assert session.state is State.IDLE
        timer = session.get_timer()
        assert timer is not None
        waits.append(timer - now)
        now = timer
        session.handle_timer(now)
        assert session.state is State.CONNECT
    assert waits == [1.0, 2.0, 4.0, 8.0, 16.0]


def test_passive_side_never_connects() -> None:
    session = Session(B)
    session.start(0.0, passive=True)
    assert session.state is State.ACTIVE
    session.handle_timer(1000.0)
    events = _drain(session)
    assert not any(isinstance(e, ConnectRequested) for e in events)
    assert session.state is State.ACTIVE


def test_delay_open_waits_for_the_peer() -> None:
    delayed = SessionConfig(65002, IPv4Address("192.0.2.2"), peer_asn=65001, delay_open_time=5)
    pair = SessionPair(A, delayed)
    pair.connect()
    assert pair.a.state is State.ESTABLISHED and pair.b.state is State.ESTABLISHED


def test_send_outside_established_is_refused() -> None:
    with pytest.raises(LocalProtocolError, match="Idle"):
        Session(A).send(update(), 0.0)
    with pytest.raises(LocalProtocolError, match="hold time"):
        SessionConfig(65001, IPv4Address("192.0.2.1"), hold_time=2)


# -- every (state, input) pair -----------------------------------------------------------------

def _in_state(state: State) -> Session:
    """A session brought to ``state`` through its public interface."""
    if state is State.IDLE:
        return Session(A)
    if state is State.ACTIVE:
        session = Session(A)
        session.start(0.0, passive=True)
        return session
    if state is State.CONNECT:
        session = Session(A)
        session.start(0.0)
        return session
    pair = SessionPair(A, B)
    pair.a.start(0.0)
    pair.b.start(0.0, passive=True)
    pair.a.connection_made(0.0)
    if state is State.OPENSENT:
        return pair.a
    pair.b.connection_made(0.0, outgoing=False)
    pair.b.receive_data(pair.a.data_to_send(), 0.0)
    (open_b, keepalive_b), _ = split_messages(pair.b.data_to_send())
    pair.a.receive_data(open_b, 0.0)
    if state is State.OPENCONFIRM:
        return pair.a
    pair.a.receive_data(keepalive_b, 0.0)
    assert pair.a.state is State.ESTABLISHED
    return pair.a


_PAYLOADS = {
    Input.BGP_OPEN: Open(65002, 9, IPv4Address("192.0.2.2")),
    Input.KEEPALIVE_MSG: Keepalive(),
    Input.UPDATE_MSG: update(),
    Input.NOTIF_MSG: Notification(ErrorCode.CEASE, 2),
    Input.NOTIF_MSG_VER_ERR: Notification(ErrorCode.OPEN_MESSAGE_ERROR, 1),
    Input.ROUTE_REFRESH_MSG: RouteRefresh(IPV4_UNICAST),
}
_ERROR = RemoteProtocolError("bad", ErrorCode.UPDATE_MESSAGE_ERROR, 3)


@pytest.mark.parametrize("state", list(State), ids=lambda s: s.value)
@pytest.mark.parametrize("what", list(Input), ids=lambda i: i.name)
def test_every_state_input_pair_is_defined(state: State, what: Input) -> None:
    session = _in_state(state)
    assert session.state is state
    _drain(session)
    session.handle_input(what, 1.0, _PAYLOADS.get(what), _ERROR)
    assert isinstance(session.state, State)
    events = _drain(session)
    if (state, what) not in TRANSITIONS and state in (State.OPENSENT, State.OPENCONFIRM,
                                                      State.ESTABLISHED):
        assert [n for n in sent(events)] == [(ErrorCode.FSM_ERROR, {
            State.OPENSENT: 1, State.OPENCONFIRM: 2, State.ESTABLISHED: 3}[state])]
        assert session.state is State.IDLE
    if session.state is State.IDLE and state is not State.IDLE:
        assert any(isinstance(e, CloseRequested) for e in events)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(list(Input)), st.floats(0, 50)), max_size=40),
       st.binary(max_size=64))
def test_random_input_sequences_never_raise(script: list[tuple[Input, float]],
                                            noise: bytes) -> None:
    session = Session(A)
    now = 0.0
    for what, step in script:
        now += step
        session.handle_input(what, now, _PAYLOADS.get(what), _ERROR)
        session.receive_data(noise, now)
        session.handle_timer(now)
        assert isinstance(session.state, State)
        _drain(session)
        session.data_to_send()
