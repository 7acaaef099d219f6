"""Message codec: round trips, framing, header errors, garbage, End-of-RIB, UPDATE packing."""

from __future__ import annotations

import contextlib
import struct
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netlinkbgp.bgp import (
    IPV4_UNICAST,
    IPV6_UNICAST,
    VPNV4,
    AsPath,
    Communities,
    ErrorAction,
    FourOctetAs,
    Keepalive,
    MpReachNlri,
    MpUnreachNlri,
    Multiprotocol,
    Negotiated,
    NextHopAttribute,
    Nlri,
    NlriList,
    Notification,
    Open,
    OriginAttribute,
    RouteRefresh,
    Update,
    decode_message,
    encode_message,
    pack_updates,
    pack_withdrawals,
    split_messages,
)
from netlinkbgp.bgp.constants import (
    ErrorCode,
    MessageHeaderSubcode,
    OpenSubcode,
    RouteRefreshSubtype,
    UpdateSubcode,
)
from netlinkbgp.errors import DecodeError, LocalProtocolError, RemoteProtocolError
from netlinkbgp.route import Origin, RouteDistinguisher
from tests.strategies_bgp import contexts, messages, updates

CTX = Negotiated.default()
HEADER = ErrorCode.MESSAGE_HEADER_ERROR
BAD_LENGTH = MessageHeaderSubcode.BAD_MESSAGE_LENGTH
MARKER = b"\xff" * 16
VECTORS = Path(__file__).parent / "vectors" / "bgp"


def frame(kind: int, body: bytes) -> bytes:
    return MARKER + struct.pack("!HB", 19 + len(body), kind) + body


def check_both_ways(message: object, wire_hex: str, ctx: Negotiated = CTX) -> None:
    """One vector, checked both ways (STYLE §11)."""
    wire = bytes.fromhex(wire_hex.replace(" ", ""))
    assert encode_message(message, ctx) == wire  # type: ignore[arg-type]
    assert decode_message(wire, ctx) == message


# -- vectors ------------------------------------------------------------------------------


def test_keepalive_vector() -> None:
    check_both_ways(Keepalive(), "ff" * 16 + "0013 04")


def test_notification_vector() -> None:
    check_both_ways(Notification(6, 2, b"bye"), "ff" * 16 + "0018 03 06 02 627965")


def test_route_refresh_vector_with_rfc7313_subtype() -> None:
    check_both_ways(RouteRefresh(IPV6_UNICAST, RouteRefreshSubtype.BORR),
                    "ff" * 16 + "0017 05 0002 01 01")


def test_open_vector() -> None:
    message = Open(65001, 90, IPv4Address("192.0.2.1"),
                   (Multiprotocol(IPV4_UNICAST), FourOctetAs(65001)))
    check_both_ways(message, "ff" * 16 + "002b 01 04 fde9 005a c0000201 0e"
                    "02 0c 01 04 0001 00 01 41 04 0000fde9")


def test_update_vector_ipv4() -> None:
    update = Update(
        attributes=(OriginAttribute(Origin.IGP), AsPath.sequence([65001]),
                    NextHopAttribute(IPv4Address("192.0.2.1"))),
        nlri=NlriList(IPV4_UNICAST, [Nlri.from_network("198.51.100.0/24")]),
    )
    check_both_ways(update, "ff" * 16 + "002f 02 0000 0014"
                    "40 01 01 00" "40 02 06 02 01 0000fde9" "40 03 04 c0000201" "18 c63364")


def test_open_uses_rfc9072_extended_parameters_when_large() -> None:
    caps = tuple(Multiprotocol(IPV4_UNICAST) for _ in range(50))  # 300 octets of capabilities
    message = Open(65001, 90, IPv4Address("192.0.2.1"), caps)
    wire = encode_message(message, CTX)
    assert wire[28] == 255 and wire[29] == 255  # RFC 9072 §2 marker
    assert decode_message(wire, CTX) == message


# -- round trips --------------------------------------------------------------------------


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_round_trip_every_message(data: st.DataObject) -> None:
    ctx = data.draw(contexts())
    message = data.draw(messages(ctx))
    wire = encode_message(message, ctx)  # type: ignore[arg-type]
    assert decode_message(wire, ctx) == message


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_update_round_trip_keeps_raw_attributes(data: st.DataObject) -> None:
    ctx = data.draw(contexts())
    update = data.draw(updates(ctx))
    wire = encode_message(update, ctx)
    decoded = decode_message(wire, ctx)
    assert isinstance(decoded, Update)
    assert not decoded.errors
    (withdrawn_len,) = struct.unpack_from("!H", wire, 19)
    (attr_len,) = struct.unpack_from("!H", wire, 21 + withdrawn_len)
    start = 23 + withdrawn_len
    assert decoded.raw_attributes == wire[start : start + attr_len]
    assert encode_message(decoded, ctx) == wire


# -- garbage and truncation ----------------------------------------------------------------


def _decode_or_our_error(data: bytes, ctx: Negotiated) -> None:
    """A value, DecodeError or RemoteProtocolError: anything else propagates and fails."""
    with contextlib.suppress(DecodeError, RemoteProtocolError):
        decode_message(data, ctx)


@settings(max_examples=500)
@given(st.binary(max_size=200), contexts())
def test_random_bytes_raise_only_our_errors(data: bytes, ctx: Negotiated) -> None:
    _decode_or_our_error(data, ctx)


@settings(max_examples=500)
@given(st.integers(1, 5), st.binary(max_size=300), contexts())
def test_random_bodies_raise_only_our_errors(kind: int, body: bytes, ctx: Negotiated) -> None:
    _decode_or_our_error(frame(kind, body), ctx)


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_every_truncation_raises_only_our_errors(data: st.DataObject) -> None:
    ctx = data.draw(contexts())
    wire = encode_message(data.draw(messages(ctx)), ctx)  # type: ignore[arg-type]
    for cut in range(len(wire)):
        _decode_or_our_error(wire[:cut], ctx)
        if cut >= 19:  # the header claims the shorter length: the body parsers see the cut
            _decode_or_our_error(wire[:16] + struct.pack("!H", cut) + wire[18:cut], ctx)


@settings(max_examples=200)
@given(st.data())
def test_corrupted_updates_raise_only_our_errors(data: st.DataObject) -> None:
    ctx = data.draw(contexts())
    wire = bytearray(encode_message(data.draw(updates(ctx)), ctx))
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(19, len(wire) - 1))
        wire[index] = data.draw(st.integers(0, 255))
    _decode_or_our_error(bytes(wire), ctx)


# -- framing ------------------------------------------------------------------------------


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_split_whole_or_byte_by_byte_gives_the_same_messages(data: st.DataObject) -> None:
    ctx = data.draw(contexts())
    stream = b"".join(encode_message(m, ctx)  # type: ignore[arg-type]
                      for m in data.draw(st.lists(messages(ctx), max_size=5)))
    whole, rest = split_messages(stream)
    assert rest == b""
    pieces: list[bytes] = []
    buffer = b""
    for byte in stream:
        buffer += bytes((byte,))
        found, buffer = split_messages(buffer)
        pieces.extend(found)
    assert buffer == b""
    assert pieces == whole
    assert b"".join(whole) == stream


def test_split_keeps_a_partial_message() -> None:
    wire = encode_message(Keepalive(), CTX)
    found, rest = split_messages(wire + wire[:10])
    assert found == [wire] and rest == wire[:10]


def test_split_rejects_a_bad_marker() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        split_messages(b"\xfe" + b"\xff" * 15 + b"\x00\x13\x04")
    assert (info.value.code, info.value.subcode) == (
        ErrorCode.MESSAGE_HEADER_ERROR, MessageHeaderSubcode.CONNECTION_NOT_SYNCHRONIZED)


@pytest.mark.parametrize("length", [0, 18, 4097, 65535])
def test_split_rejects_bad_lengths_with_the_length_as_data(length: int) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        split_messages(MARKER + struct.pack("!HB", length, 4))
    assert (info.value.code, info.value.subcode) == (
        ErrorCode.MESSAGE_HEADER_ERROR, MessageHeaderSubcode.BAD_MESSAGE_LENGTH)
    assert info.value.data == struct.pack("!H", length)


def test_split_accepts_extended_messages_when_allowed() -> None:
    ctx = Negotiated(extended_message=True)
    big = encode_message(Notification(6, 0, b"x" * 6000), ctx)
    assert split_messages(big, ctx.max_message_size) == ([big], b"")
    with pytest.raises(RemoteProtocolError):
        split_messages(big)


# -- header and per-type errors -------------------------------------------------------------


@pytest.mark.parametrize(
    ("wire", "code", "subcode"),
    [
        (frame(4, b"\x00"), HEADER, BAD_LENGTH),
        (frame(9, b""), HEADER, MessageHeaderSubcode.BAD_MESSAGE_TYPE),
        (frame(2, b"\x00"), HEADER, BAD_LENGTH),
        (frame(3, b"\x06"), HEADER, BAD_LENGTH),
        (frame(5, b"\x00\x01\x00"), HEADER, BAD_LENGTH),
        (frame(1, bytes.fromhex("03fde9005ac000020100")), ErrorCode.OPEN_MESSAGE_ERROR,
         OpenSubcode.UNSUPPORTED_VERSION_NUMBER),
        (frame(1, bytes.fromhex("04fde90002c000020100")), ErrorCode.OPEN_MESSAGE_ERROR,
         OpenSubcode.UNACCEPTABLE_HOLD_TIME),
        (frame(1, bytes.fromhex("04fde9005a0000000000")), ErrorCode.OPEN_MESSAGE_ERROR,
         OpenSubcode.BAD_BGP_IDENTIFIER),
        (frame(1, bytes.fromhex("04fde9005ac00002010401020000")), ErrorCode.OPEN_MESSAGE_ERROR,
         OpenSubcode.UNSUPPORTED_OPTIONAL_PARAMETER),
    ],
)
def test_header_and_open_errors(wire: bytes, code: int, subcode: int) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        decode_message(wire, CTX)
    assert (info.value.code, info.value.subcode) == (code, subcode)


def test_unsupported_version_reports_version_4() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        decode_message(frame(1, bytes.fromhex("03fde9005ac000020100")), CTX)
    assert info.value.data == b"\x00\x04"


def test_route_refresh_length_error_with_enhanced_route_refresh() -> None:
    wire = frame(5, b"\x00\x01\x00\x01\x00")
    with pytest.raises(RemoteProtocolError) as info:
        decode_message(wire, Negotiated(enhanced_route_refresh=True))
    assert (info.value.code, info.value.subcode, info.value.data) == (7, 1, wire)


def test_notification_round_trip_from_error() -> None:
    error = RemoteProtocolError("x", 3, 1, b"\x01")
    assert Notification.from_error(error) == Notification(3, 1, b"\x01")


# -- End-of-RIB -----------------------------------------------------------------------------


@pytest.mark.parametrize("family", [IPV4_UNICAST, IPV6_UNICAST, VPNV4])
def test_end_of_rib_markers(family: object) -> None:
    marker = Update.end_of_rib_marker(family)  # type: ignore[arg-type]
    decoded = decode_message(encode_message(marker, CTX), CTX)
    assert isinstance(decoded, Update)
    assert decoded.end_of_rib == family


def test_ipv4_end_of_rib_is_the_empty_update() -> None:
    assert encode_message(Update(), CTX).hex() == "ff" * 16 + "0017020000" + "0000"


def test_an_update_with_routes_is_not_end_of_rib() -> None:
    update = Update(attributes=(MpUnreachNlri(IPV6_UNICAST, NlriList(
        IPV6_UNICAST, [Nlri.from_network("2001:db8::/32")])),))
    assert update.end_of_rib is None


# -- packing ------------------------------------------------------------------------------

ATTRS = [OriginAttribute(Origin.IGP), AsPath.sequence([65001, 65002]),
         Communities((1, 2, 3))]


def _many(family_afi: int, count: int) -> list[Nlri]:
    if family_afi == 1:
        return [Nlri(1, i << 8, 24) for i in range(count)]
    return [Nlri(2, i << 80, 48) for i in range(count)]


def test_pack_updates_ipv4_fills_messages_and_round_trips() -> None:
    nlri = _many(1, 3000)
    attrs = [*ATTRS, NextHopAttribute(IPv4Address("192.0.2.1"))]
    wires = pack_updates(attrs, nlri, CTX)
    assert len(wires) == 3  # 3000 x 4 octets: 1 message holds ~1010
    assert all(len(w) <= 4096 for w in wires)
    assert all(len(w) > 4000 for w in wires[:-1])
    got: list[Nlri] = []
    for wire in wires:
        update = decode_message(wire, CTX)
        assert isinstance(update, Update) and not update.errors
        assert update.attributes == tuple(attrs)
        got.extend(update.nlri)
    assert got == nlri


def test_pack_updates_mp_family_and_extended_message() -> None:
    nlri = _many(2, 5000)
    next_hops = (IPv6Address("2001:db8::1"), IPv6Address("fe80::1"))
    for ctx, expected in ((CTX, 9), (Negotiated(extended_message=True), 1)):
        wires = pack_updates(ATTRS, nlri, ctx, IPV6_UNICAST, next_hops=next_hops)
        assert len(wires) == expected
        got: list[Nlri] = []
        for wire in wires:
            update = decode_message(wire, ctx)
            assert isinstance(update, Update) and not update.errors
            reach = update.mp_reach
            assert reach is not None and reach.next_hops == next_hops
            assert update.attributes[0] == reach  # RFC 7606 §5.1: MP_REACH first
            got.extend(reach.nlri)
        assert got == nlri


def test_pack_withdrawals_both_ways() -> None:
    v4 = _many(1, 2000)
    got: list[Nlri] = []
    for wire in pack_withdrawals(v4, CTX):
        update = decode_message(wire, CTX)
        assert isinstance(update, Update)
        got.extend(update.withdrawn)
    assert got == v4
    vpn = [Nlri(1, i << 8, 24, rd=RouteDistinguisher(0, 65000, i)) for i in range(800)]
    got = []
    for wire in pack_withdrawals(vpn, CTX, VPNV4):
        update = decode_message(wire, CTX)
        assert isinstance(update, Update)
        unreach = update.mp_unreach
        assert unreach is not None
        got.extend(unreach.withdrawn)
    assert got == vpn


def test_pack_updates_refuses_what_cannot_fit() -> None:
    with pytest.raises(LocalProtocolError):
        pack_updates(ATTRS, _many(1, 3), CTX)  # no NEXT_HOP for the NLRI field
    huge = [Communities(tuple(range(1100)))]
    with pytest.raises(LocalProtocolError):
        pack_updates([*ATTRS[:2], *huge, NextHopAttribute(IPv4Address("192.0.2.1"))],
                     _many(1, 1), CTX)


def test_encode_refuses_oversized_messages() -> None:
    update = Update(attributes=(Communities(tuple(range(1100))),))
    with pytest.raises(LocalProtocolError):
        encode_message(update, CTX)


def test_treat_as_withdraw_property() -> None:
    wire = frame(2, bytes.fromhex("0000 0004 400102ff 18c63364"))  # ORIGIN length 2
    update = decode_message(wire, CTX)
    assert isinstance(update, Update)
    assert update.treat_as_withdraw and update.action == ErrorAction.TREAT_AS_WITHDRAW
    assert [n.network for n in update.nlri] == [Nlri.from_network("198.51.100.0/24").network]
    assert update.errors[0].subcode == UpdateSubcode.ATTRIBUTE_LENGTH_ERROR


def test_mp_reach_next_hop_rules_on_encode() -> None:
    items = NlriList(IPV6_UNICAST, [Nlri.from_network("2001:db8::/32")])
    with pytest.raises(LocalProtocolError):  # never IPv4 (or IPv4-mapped) next hops for IPv6
        encode_message(Update(attributes=(MpReachNlri(
            IPV6_UNICAST, (IPv4Address("192.0.2.1"),), items),)), CTX)
    v4 = NlriList(IPV4_UNICAST, [Nlri.from_network("192.0.2.0/24")])
    reach = MpReachNlri(IPV4_UNICAST, (IPv6Address("2001:db8::1"),), v4)
    update = Update(attributes=(reach, OriginAttribute(Origin.IGP), AsPath()))
    with pytest.raises(LocalProtocolError):  # RFC 8950 not negotiated
        encode_message(update, CTX)
    ctx = Negotiated(extended_next_hop=frozenset({IPV4_UNICAST}))
    assert decode_message(encode_message(update, ctx), ctx) == update


# -- regressions --------------------------------------------------------------------------


def _regression_vectors() -> list[Path]:
    return sorted((VECTORS / "regressions").glob("*.txt"))


@pytest.mark.parametrize("path", _regression_vectors(), ids=lambda p: p.stem)
def test_regression_vectors(path: Path) -> None:
    """Each file: ``ctx: default|asn2``, ``expect: ok|error``, ``hex: ...`` and a note."""
    fields = dict(
        line.split(":", 1) for line in path.read_text().splitlines() if ":" in line
    )
    ctx = Negotiated.default(asn4=fields["ctx"].strip() != "asn2")
    wire = bytes.fromhex(fields["hex"].strip())
    if fields["expect"].strip() == "ok":
        message = decode_message(wire, ctx)
        assert decode_message(encode_message(message, ctx), ctx) == message
    else:
        with pytest.raises((DecodeError, RemoteProtocolError)):
            decode_message(wire, ctx)


# -- shared values ------------------------------------------------------------------------


def test_shared_values_are_not_changed_by_received_flags() -> None:
    partial = frame(2, bytes.fromhex("0000 0004 60010100"))  # ORIGIN with the Partial bit
    plain = frame(2, bytes.fromhex("0000 0004 40010100"))
    for wire in (partial, plain, partial, plain):  # ORIGIN values are shared singletons
        message = decode_message(wire, CTX)
        assert encode_message(message, CTX) == wire


def test_encode_refuses_an_unacceptable_hold_time() -> None:
    with pytest.raises(LocalProtocolError):
        encode_message(Open(65001, 2, IPv4Address("192.0.2.1")), CTX)
