"""RFC 7606 error handling, one table row per rule.

Each row gives the malformed UPDATE (built from hex pieces), the session context, and the
expected outcome: an :class:`ErrorAction` recorded on the Update (with the attribute concerned),
or a session reset raised as :class:`RemoteProtocolError` with its NOTIFICATION code/subcode.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import pytest

from netlinkbgp.bgp import (
    IPV4_UNICAST,
    IPV6_UNICAST,
    Communities,
    ErrorAction,
    Negotiated,
    UnknownAttribute,
    Update,
    decode_message,
)
from netlinkbgp.bgp.constants import ErrorCode, UpdateSubcode
from netlinkbgp.errors import RemoteProtocolError

ORIGIN = "40 01 01 00"
AS_PATH = "40 02 06 02 01 0000fde9"
AS_PATH_2 = "40 02 04 02 01 fde9"  # 2-octet AS session
NEXT_HOP = "40 03 04 c0000201"
BASE = ORIGIN + AS_PATH + NEXT_HOP
NLRI = "18 c63364"
MP_V6 = "80 0e 15 0002 01 10 20010db8000000000000000000000001 00"  # + NLRI below
MP_V6_NLRI = "20 20010db8"

CTX = Negotiated.default()
CTX2 = Negotiated.default(asn4=False)
IBGP = Negotiated(local_asn=65001, peer_asn=65001)
EBGP = Negotiated(local_asn=65001, peer_asn=65002)
V4_ONLY = Negotiated(families=frozenset({IPV4_UNICAST}))


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def update(attrs: str = BASE, nlri: str = NLRI, withdrawn: str = "") -> bytes:
    w, a, n = h(withdrawn), h(attrs), h(nlri)
    body = struct.pack("!H", len(w)) + w + struct.pack("!H", len(a)) + a + n
    return b"\xff" * 16 + struct.pack("!HB", 19 + len(body), 2) + body


def mp_reach(nlri: str = MP_V6_NLRI, head: str = MP_V6, flags: str = "80") -> str:
    value = h(head)[3:] + h(nlri)
    return flags + "0e" + f"{len(value):02x}" + value.hex()


def mp_unreach(nlri: str, afi_safi: str = "0002 01") -> str:
    value = h(afi_safi) + h(nlri)
    return "80 0f" + f"{len(value):02x}" + value.hex()


@dataclass(frozen=True)
class Row:
    rule: str
    wire: bytes
    ctx: Negotiated
    action: ErrorAction | None  # None: no error expected
    type_code: int = 0
    subcode: int = 0  # for resets: the NOTIFICATION subcode; otherwise the recorded subcode


RESET = ErrorAction.SESSION_RESET
TAW = ErrorAction.TREAT_AS_WITHDRAW
DISCARD = ErrorAction.ATTRIBUTE_DISCARD
DISABLE = ErrorAction.AFI_SAFI_DISABLE
U = UpdateSubcode

ROWS = [
    Row("valid UPDATE", update(), CTX, None),
    Row("3b withdrawn length overruns message",
        b"\xff" * 16 + struct.pack("!HB", 23, 2) + b"\x00\x09\x00\x00", CTX, RESET,
        subcode=U.MALFORMED_ATTRIBUTE_LIST),
    Row("3b total attribute length overruns message",
        b"\xff" * 16 + struct.pack("!HB", 27, 2) + h("0000 0009 40010100"), CTX, RESET,
        subcode=U.MALFORMED_ATTRIBUTE_LIST),
    Row("3c ORIGIN flagged optional", update("c0 01 01 00" + AS_PATH + NEXT_HOP), CTX, TAW, 1,
        U.ATTRIBUTE_FLAGS_ERROR),
    Row("3c MED flagged well-known", update(BASE + "40 04 04 00000001"), CTX, TAW, 4,
        U.ATTRIBUTE_FLAGS_ERROR),
    Row("3c ATOMIC_AGGREGATE flags: its own rule (discard)", update(BASE + "c0 06 00"), CTX,
        DISCARD, 6, U.ATTRIBUTE_FLAGS_ERROR),
    Row("3c AGGREGATOR flags: its own rule (discard)",
        update(BASE + "40 07 08 0000fde9 c0000201"), CTX, DISCARD, 7, U.ATTRIBUTE_FLAGS_ERROR),
    Row("3d ORIGIN missing with NLRI", update(AS_PATH + NEXT_HOP), CTX, TAW, 1,
        U.MISSING_WELL_KNOWN_ATTRIBUTE),
    Row("3d AS_PATH missing with NLRI", update(ORIGIN + NEXT_HOP), CTX, TAW, 2,
        U.MISSING_WELL_KNOWN_ATTRIBUTE),
    Row("3d NEXT_HOP missing with NLRI field", update(ORIGIN + AS_PATH), CTX, TAW, 3,
        U.MISSING_WELL_KNOWN_ATTRIBUTE),
    Row("3d nothing mandatory without NLRI", update("", "", "18 c63364"), CTX, None),
    Row("3d NEXT_HOP not needed for MP_REACH only", update(mp_reach() + ORIGIN + AS_PATH, ""),
        CTX, None),
    Row("3d ORIGIN missing with MP_REACH NLRI", update(mp_reach() + AS_PATH, ""), CTX, TAW, 1,
        U.MISSING_WELL_KNOWN_ATTRIBUTE),
    Row("3g MP_REACH twice", update(mp_reach() + mp_reach() + ORIGIN + AS_PATH, ""), CTX,
        RESET, subcode=U.MALFORMED_ATTRIBUTE_LIST),
    Row("3g MP_UNREACH twice", update(mp_unreach("") + mp_unreach(""), ""), CTX, RESET,
        subcode=U.MALFORMED_ATTRIBUTE_LIST),
    Row("3g other duplicates: later ones discarded",
        update(BASE + "c0 08 04 00000001" + "c0 08 04 00000002"), CTX, DISCARD, 8),
    Row("3h strongest action wins (discard + treat-as-withdraw)",
        update(BASE + "40 06 01 00" + "80 04 03 000001"), CTX, TAW, 4,
        U.ATTRIBUTE_LENGTH_ERROR),
    Row("4 attribute overruns the attribute block", update(BASE + "c0 08 08 00000001"), CTX,
        TAW, 8, U.ATTRIBUTE_LENGTH_ERROR),
    Row("4 fewer than 3 octets left", update(BASE + "c0 08"), CTX, TAW, 8,
        U.MALFORMED_ATTRIBUTE_LIST),
    Row("4 fewer than 4 octets left with Extended Length", update(BASE + "d0 08 00"), CTX,
        TAW, 8, U.MALFORMED_ATTRIBUTE_LIST),
    Row("5.3 NLRI prefix length 33", update(BASE, "21 c6336401 00"), CTX, RESET,
        subcode=U.INVALID_NETWORK_FIELD),
    Row("5.3 NLRI overruns the field", update(BASE, "18 c633"), CTX, RESET,
        subcode=U.INVALID_NETWORK_FIELD),
    Row("5.3 withdrawn routes prefix length 40", update("", "", "28 0102030405"), CTX, RESET,
        subcode=U.INVALID_NETWORK_FIELD),
    Row("7.1 ORIGIN length 2", update("40 01 02 0000" + AS_PATH + NEXT_HOP), CTX, TAW, 1,
        U.ATTRIBUTE_LENGTH_ERROR),
    Row("7.1 ORIGIN undefined value", update("40 01 01 03" + AS_PATH + NEXT_HOP), CTX, TAW, 1,
        U.INVALID_ORIGIN_ATTRIBUTE),
    Row("7.2 AS_PATH segment length 0", update(ORIGIN + "40 02 02 0200" + NEXT_HOP), CTX, TAW,
        2, U.MALFORMED_AS_PATH),
    Row("7.2 AS_PATH segment overrun", update(ORIGIN + "40 02 06 0202 0000fde9" + NEXT_HOP),
        CTX, TAW, 2, U.MALFORMED_AS_PATH),
    Row("7.2 AS_PATH single octet left", update(ORIGIN + "40 02 07 0201 0000fde9 02"
                                                + NEXT_HOP), CTX, TAW, 2, U.MALFORMED_AS_PATH),
    Row("7.2 AS_PATH unknown segment type", update(ORIGIN + "40 02 06 0501 0000fde9"
                                                   + NEXT_HOP), CTX, TAW, 2,
        U.MALFORMED_AS_PATH),
    Row("7.3 NEXT_HOP length 5", update(ORIGIN + AS_PATH + "40 03 05 c000020100"), CTX, TAW, 3,
        U.ATTRIBUTE_LENGTH_ERROR),
    Row("7.4 MULTI_EXIT_DISC length 3", update(BASE + "80 04 03 000001"), CTX, TAW, 4,
        U.ATTRIBUTE_LENGTH_ERROR),
    Row("7.5 LOCAL_PREF length 3 from internal peer", update(BASE + "40 05 03 000064"), IBGP,
        TAW, 5, U.ATTRIBUTE_LENGTH_ERROR),
    Row("7.5 LOCAL_PREF from external peer is discarded", update(BASE + "40 05 04 00000064"),
        EBGP, DISCARD, 5),
    Row("7.6 ATOMIC_AGGREGATE length 1", update(BASE + "40 06 01 00"), CTX, DISCARD, 6,
        U.ATTRIBUTE_LENGTH_ERROR),
    Row("7.7 AGGREGATOR length 6 on a 4-octet AS session",
        update(BASE + "c0 07 06 fde9 c0000201"), CTX, DISCARD, 7, U.ATTRIBUTE_LENGTH_ERROR),
    Row("7.7 AGGREGATOR length 8 on a 2-octet AS session",
        update(ORIGIN + AS_PATH_2 + NEXT_HOP + "c0 07 08 0000fde9 c0000201"), CTX2, DISCARD, 7,
        U.ATTRIBUTE_LENGTH_ERROR),
    Row("7.8 COMMUNITIES length 0", update(BASE + "c0 08 00"), CTX, TAW, 8,
        U.ATTRIBUTE_LENGTH_ERROR),
    Row("7.8 COMMUNITIES length 5", update(BASE + "c0 08 05 0000000100"), CTX, TAW, 8,
        U.ATTRIBUTE_LENGTH_ERROR),
    Row("7.9 ORIGINATOR_ID length 5 from internal peer",
        update(BASE + "80 09 05 c000020100"), IBGP, TAW, 9, U.ATTRIBUTE_LENGTH_ERROR),
    Row("7.9 ORIGINATOR_ID from external peer is discarded", update(BASE + "80 09 04 c0000201"),
        EBGP, DISCARD, 9),
    Row("7.10 CLUSTER_LIST length 6 from internal peer",
        update(BASE + "80 0a 06 c0000201 0000"), IBGP, TAW, 10, U.ATTRIBUTE_LENGTH_ERROR),
    Row("7.10 CLUSTER_LIST from external peer is discarded", update(BASE + "80 0a 04 c0000201"),
        EBGP, DISCARD, 10),
    Row("7.11 MP_REACH next hop length inconsistent",
        update(mp_reach(head="80 0e 00 0002 01 08 2001 0db8 0000 0000 00") + ORIGIN + AS_PATH,
               ""), CTX, DISABLE, 14, U.OPTIONAL_ATTRIBUTE_ERROR),
    Row("7.11 MP_REACH next hop overruns the attribute",
        update("80 0e 07 0002 01 10 2001 00" + ORIGIN + AS_PATH, ""), CTX, DISABLE, 14,
        U.OPTIONAL_ATTRIBUTE_ERROR),
    Row("3j MP_REACH too short to find AFI/SAFI", update("80 0e 03 000201" + ORIGIN + AS_PATH,
                                                         ""), CTX, RESET,
        subcode=U.OPTIONAL_ATTRIBUTE_ERROR),
    Row("3j MP_UNREACH too short to find AFI/SAFI", update("80 0f 02 0002", ""), CTX, RESET,
        subcode=U.OPTIONAL_ATTRIBUTE_ERROR),
    Row("5.3 MP_REACH NLRI prefix length 129", update(mp_reach("81 " + "00" * 17) + ORIGIN
                                                      + AS_PATH, ""), CTX, DISABLE, 14,
        U.OPTIONAL_ATTRIBUTE_ERROR),
    Row("5.3 MP_UNREACH NLRI overrun", update(mp_unreach("40 2001"), ""), CTX, DISABLE, 15,
        U.OPTIONAL_ATTRIBUTE_ERROR),
    Row("RFC 4760 §7 MP_REACH for a family not negotiated",
        update(mp_reach() + ORIGIN + AS_PATH, ""), V4_ONLY, DISABLE, 14,
        U.OPTIONAL_ATTRIBUTE_ERROR),
    Row("3c MP_REACH flags wrong: still parsed, treat-as-withdraw",
        update(mp_reach(flags="c0") + ORIGIN + AS_PATH, ""), CTX, TAW, 14,
        U.ATTRIBUTE_FLAGS_ERROR),
    Row("7.14 EXTENDED_COMMUNITIES length 7", update(BASE + "c0 10 07 00020000fde900"), CTX,
        TAW, 16, U.ATTRIBUTE_LENGTH_ERROR),
    Row("RFC 8092 §6 LARGE_COMMUNITY length 13",
        update(BASE + "c0 20 0d" + "00" * 13), CTX, TAW, 32, U.ATTRIBUTE_LENGTH_ERROR),
    Row("RFC 6793 §6 AS4_PATH malformed is discarded",
        update(ORIGIN + AS_PATH_2 + NEXT_HOP + "c0 11 02 0200"), CTX2, DISCARD, 17,
        U.MALFORMED_AS_PATH),
    Row("RFC 6793 §6 AS4_PATH with a confederation segment is discarded",
        update(ORIGIN + AS_PATH_2 + NEXT_HOP + "c0 11 06 0301 0000fde9"), CTX2, DISCARD, 17,
        U.MALFORMED_AS_PATH),
    Row("RFC 6793 §6 AS4_AGGREGATOR length 6 is discarded",
        update(ORIGIN + AS_PATH_2 + NEXT_HOP + "c0 12 06 fde9 c0000201"), CTX2, DISCARD, 18,
        U.ATTRIBUTE_LENGTH_ERROR),
    Row("RFC 6793 AS4_PATH from a 4-octet AS speaker is discarded",
        update(BASE + "c0 11 06 0201 0000fde9"), CTX, DISCARD, 17),
    Row("RFC 4271 §6.3 unrecognized well-known attribute", update(BASE + "40 63 01 00"), CTX,
        RESET, subcode=U.UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE),
    Row("unknown optional attribute is data, not an error", update(BASE + "c0 63 02 abcd"), CTX,
        None),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.rule for r in ROWS])
def test_rfc7606_rule(row: Row) -> None:
    if row.action == RESET:
        with pytest.raises(RemoteProtocolError) as info:
            decode_message(row.wire, row.ctx)
        assert info.value.code == ErrorCode.UPDATE_MESSAGE_ERROR
        assert info.value.subcode == row.subcode
        return
    message = decode_message(row.wire, row.ctx)
    assert isinstance(message, Update)
    if row.action is None:
        assert message.errors == ()
        assert message.action is None
        return
    assert message.action == row.action, message.errors
    strongest = [e for e in message.errors if e.action == row.action]
    assert any(e.type_code == row.type_code for e in strongest), message.errors
    if row.subcode:
        assert any(e.subcode == row.subcode for e in strongest), message.errors
    for error in message.errors:
        assert error.code == ErrorCode.UPDATE_MESSAGE_ERROR
    malformed = {e.type_code for e in message.errors if e.data}
    kept = {getattr(a, "TYPE", None) for a in message.attributes}
    assert not (malformed - {14, 15}) & kept  # malformed attributes are not kept (MP aside)


def test_duplicate_keeps_the_first_occurrence() -> None:
    message = decode_message(update(BASE + "c0 08 04 00000001" + "c0 08 04 00000002"), CTX)
    assert isinstance(message, Update)
    assert Communities((1,)) in message.attributes
    assert Communities((2,)) not in message.attributes


def test_treat_as_withdraw_keeps_the_nlri_to_withdraw() -> None:
    message = decode_message(update(BASE + "c0 08 05 0000000100"), CTX)
    assert isinstance(message, Update)
    assert message.treat_as_withdraw
    assert [str(n) for n in message.nlri] == ["198.51.100.0/24"]


def test_afi_safi_disable_names_the_family() -> None:
    message = decode_message(update(mp_unreach("40 2001"), ""), CTX)
    assert isinstance(message, Update)
    assert message.disabled_families == frozenset({IPV6_UNICAST})
    error = message.errors[0]
    assert error.to_exception().subcode == UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR


def test_reset_data_is_the_erroneous_attribute() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        decode_message(update(BASE + "40 63 01 00"), CTX)
    assert info.value.data == h("40 63 01 00")


def test_attribute_errors_carry_the_attribute_as_data() -> None:
    message = decode_message(update("40 01 01 03" + AS_PATH + NEXT_HOP), CTX)
    assert isinstance(message, Update)
    assert message.errors[0].data == h("40 01 01 03")


def test_unknown_optional_attribute_is_kept_byte_for_byte() -> None:
    message = decode_message(update(BASE + "e0 63 02 abcd"), CTX)
    assert isinstance(message, Update)
    assert UnknownAttribute(0x63, 0xE0, h("abcd")) in message.attributes
