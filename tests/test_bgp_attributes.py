"""Path attributes: vectors both ways, flag preservation, next hops, AS4 handling."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netlinkbgp.bgp import (
    IPV4_UNICAST,
    IPV6_UNICAST,
    VPNV4,
    VPNV6,
    Aggregator,
    As4Aggregator,
    As4Path,
    AsPath,
    AsPathSegment,
    AtomicAggregate,
    ClusterList,
    Communities,
    ExtendedCommunities,
    LargeCommunities,
    LocalPref,
    MpReachNlri,
    MpUnreachNlri,
    MultiExitDisc,
    Negotiated,
    NextHopAttribute,
    Nlri,
    NlriList,
    OriginatorId,
    OriginAttribute,
    UnknownAttribute,
    Update,
    decode_message,
    encode_attribute,
    encode_message,
    reconstruct_as_path,
    split_as4_path,
)
from netlinkbgp.bgp.constants import AS_TRANS, AsPathSegmentType, UpdateSubcode
from netlinkbgp.bgp.rfc7606 import decode_attribute_block
from netlinkbgp.errors import LocalProtocolError
from netlinkbgp.route import Origin, RouteDistinguisher, format_ext_community, parse_route_target
from tests.strategies_bgp import attribute_sets, contexts

CTX = Negotiated.default()
CTX2 = Negotiated.default(asn4=False)
SEQ = AsPathSegmentType.AS_SEQUENCE
SET = AsPathSegmentType.AS_SET


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def decode_one(wire: bytes, ctx: Negotiated = CTX) -> object:
    """Decode one attribute; an MP_REACH with NLRI alone lacks ORIGIN/AS_PATH, nothing else."""
    attributes, errors = decode_attribute_block(wire, 0, len(wire), ctx)
    assert all(e.subcode == UpdateSubcode.MISSING_WELL_KNOWN_ATTRIBUTE for e in errors)
    assert len(attributes) == 1
    return attributes[0]


VECTORS = [
    (OriginAttribute(Origin.INCOMPLETE), "40 01 01 02", CTX),
    (AsPath((AsPathSegment(SEQ, (65001, 4200000000)), AsPathSegment(SET, (1, 2)))),
     "40 02 14 02 02 0000fde9 fa56ea00 01 02 00000001 00000002", CTX),
    (AsPath((AsPathSegment(SEQ, (65001, 65002)),)), "40 02 06 02 02 fde9 fdea", CTX2),
    (AsPath(), "40 02 00", CTX),
    (NextHopAttribute(IPv4Address("192.0.2.1")), "40 03 04 c0000201", CTX),
    (MultiExitDisc(100), "80 04 04 00000064", CTX),
    (LocalPref(200), "40 05 04 000000c8", CTX),
    (AtomicAggregate(), "40 06 00", CTX),
    (Aggregator(4200000000, IPv4Address("192.0.2.1")), "c0 07 08 fa56ea00 c0000201", CTX),
    (Aggregator(65001, IPv4Address("192.0.2.1")), "c0 07 06 fde9 c0000201", CTX2),
    (Communities((0xFFFFFF01, 0xFDE90064)), "c0 08 08 ffffff01 fde90064", CTX),
    (OriginatorId(IPv4Address("192.0.2.9")), "80 09 04 c0000209", CTX),
    (ClusterList((IPv4Address("192.0.2.9"), IPv4Address("192.0.2.10"))),
     "80 0a 08 c0000209 c000020a", CTX),
    (ExtendedCommunities((parse_route_target("65001:100"),)), "c0 10 08 0002fde900000064", CTX),
    (As4Path((AsPathSegment(SEQ, (4200000000,)),)), "c0 11 06 02 01 fa56ea00", CTX2),
    (As4Aggregator(4200000000, IPv4Address("192.0.2.1")), "c0 12 08 fa56ea00 c0000201", CTX2),
    (LargeCommunities(((4200000000, 1, 2),)), "c0 20 0c fa56ea00 00000001 00000002", CTX),
    (UnknownAttribute(0x63, 0xE0, h("0102")), "e0 63 02 0102", CTX),
]


@pytest.mark.parametrize(("attribute", "wire", "ctx"), VECTORS,
                         ids=[type(v[0]).__name__ for v in VECTORS])
def test_attribute_vectors_both_ways(attribute: object, wire: str, ctx: Negotiated) -> None:
    assert encode_attribute(attribute, ctx) == h(wire)  # type: ignore[arg-type]
    assert decode_one(h(wire), ctx) == attribute


def test_extended_length_flag_is_preserved() -> None:
    wire = h("d0 08 0004 00000001")  # Communities sent with a 2-octet length
    attribute = decode_one(wire)
    assert attribute == Communities((1,))
    assert encode_attribute(attribute, CTX) == wire  # type: ignore[arg-type]
    assert encode_attribute(Communities((1,)), CTX) == h("c0 08 04 00000001")


def test_partial_bit_is_preserved() -> None:
    wire = h("e0 08 04 00000001")
    assert encode_attribute(decode_one(wire), CTX) == wire  # type: ignore[arg-type]


def test_long_values_get_extended_length() -> None:
    wire = encode_attribute(Communities(tuple(range(100))), CTX)
    assert wire[:4] == h("d0 08 0190")
    assert decode_one(wire) == Communities(tuple(range(100)))


def test_unknown_attribute_with_extended_length_round_trips() -> None:
    wire = h("d0 63 0003 010203")
    attribute = decode_one(wire)
    assert attribute == UnknownAttribute(0x63, 0xD0, h("010203"))
    assert encode_attribute(attribute, CTX) == wire  # type: ignore[arg-type]


def test_route_targets() -> None:
    values = (parse_route_target("65001:100"), parse_route_target("192.0.2.1:7"),
              h("0003fde900000064"))  # the last one is a route origin, not a target
    attribute = ExtendedCommunities(values)
    assert attribute.route_targets() == values[:2]
    assert [format_ext_community(v) for v in values] == ["rt:65001:100", "rt:192.0.2.1:7",
                                                          "soo:65001:100"]


def test_encode_refuses_large_as_on_a_2_octet_session() -> None:
    with pytest.raises(LocalProtocolError):
        encode_attribute(AsPath.sequence([4200000000]), CTX2)
    with pytest.raises(LocalProtocolError):
        encode_attribute(Aggregator(4200000000, IPv4Address("192.0.2.1")), CTX2)


# -- MP_REACH_NLRI next hops ----------------------------------------------------------------

V6 = NlriList(IPV6_UNICAST, [Nlri.from_network("2001:db8::/32")])
V4 = NlriList(IPV4_UNICAST, [Nlri.from_network("192.0.2.0/24")])
RD = RouteDistinguisher(0, 65001, 1)


@pytest.mark.parametrize(
    ("attribute", "next_hop_hex", "ctx"),
    [
        (MpReachNlri(IPV6_UNICAST, (IPv6Address("2001:db8::1"),), V6),
         "10 20010db8000000000000000000000001", CTX),
        (MpReachNlri(IPV6_UNICAST, (IPv6Address("2001:db8::1"), IPv6Address("fe80::1")), V6),
         "20 20010db8000000000000000000000001 fe800000000000000000000000000001", CTX),
        (MpReachNlri(IPV4_UNICAST, (IPv4Address("192.0.2.1"),), V4), "04 c0000201", CTX),
        (MpReachNlri(IPV4_UNICAST, (IPv6Address("2001:db8::1"),), V4),
         "10 20010db8000000000000000000000001",
         Negotiated(extended_next_hop=frozenset({IPV4_UNICAST}))),
        (MpReachNlri(VPNV4, (IPv4Address("192.0.2.1"),), NlriList(VPNV4, [
            Nlri.from_network("10.0.0.0/8", rd=RD, labels=(5,))])),
         "0c 0000000000000000 c0000201", CTX),
        (MpReachNlri(VPNV6, (IPv6Address("2001:db8::1"), IPv6Address("fe80::1")), NlriList(
            VPNV6, [Nlri.from_network("2001:db8::/32", rd=RD, labels=(5,))])),
         "30 0000000000000000 20010db8000000000000000000000001"
         " 0000000000000000 fe800000000000000000000000000001", CTX),
    ],
)
def test_mp_reach_next_hops(attribute: MpReachNlri, next_hop_hex: str, ctx: Negotiated) -> None:
    wire = encode_attribute(attribute, ctx)
    family = attribute.family
    assert wire[3:6] == struct.pack("!HB", family.afi, family.safi)
    assert wire[6 : 6 + 1 + wire[6]] == h(next_hop_hex)
    assert decode_one(wire, ctx) == attribute


def test_ipv6_next_hop_for_ipv4_needs_rfc8950() -> None:
    ctx = Negotiated(extended_next_hop=frozenset({IPV4_UNICAST}))
    wire = encode_attribute(MpReachNlri(IPV4_UNICAST, (IPv6Address("2001:db8::1"),), V4), ctx)
    attributes, errors = decode_attribute_block(wire, 0, len(wire), CTX)
    assert attributes == () and errors[0].family == IPV4_UNICAST


def test_mp_unreach_round_trip() -> None:
    attribute = MpUnreachNlri(IPV6_UNICAST, V6)
    wire = encode_attribute(attribute, CTX)
    assert wire == h("80 0f 08 0002 01 20 20010db8")
    assert decode_one(wire) == attribute


# -- RFC 6793 -------------------------------------------------------------------------------


def test_split_and_reconstruct_as4_path() -> None:
    full = AsPath.sequence([65001, 4200000000, 65002])
    narrow, wide = split_as4_path(full)
    assert narrow == AsPath.sequence([65001, AS_TRANS, 65002])
    assert wide == As4Path(full.segments)
    assert reconstruct_as_path(narrow, wide) == full
    assert split_as4_path(AsPath.sequence([1, 2])) == (AsPath.sequence([1, 2]), None)


def test_reconstruct_with_a_shorter_as4_path() -> None:
    # a 2-octet speaker prepended 65010 after the 4-octet part was built (RFC 6793 §4.2.3)
    as_path = AsPath.sequence([65010, 65001, AS_TRANS])
    as4 = As4Path((AsPathSegment(SEQ, (65001, 4200000000)),))
    assert reconstruct_as_path(as_path, as4) == AsPath(
        (AsPathSegment(SEQ, (65010,)), AsPathSegment(SEQ, (65001, 4200000000))))


def test_reconstruct_ignores_a_longer_as4_path() -> None:
    as_path = AsPath.sequence([65001])
    assert reconstruct_as_path(as_path, As4Path(AsPath.sequence([1, 2]).segments)) == as_path


def test_reconstruct_ignores_as4_when_aggregator_is_not_as_trans() -> None:
    as_path = AsPath.sequence([AS_TRANS])
    as4 = As4Path(AsPath.sequence([4200000000]).segments)
    assert reconstruct_as_path(as_path, as4, 65001, True) == as_path
    assert reconstruct_as_path(as_path, as4, AS_TRANS, True) == AsPath.sequence([4200000000])


def test_reconstruct_counts_sets_as_one_and_keeps_confederations() -> None:
    confed = AsPathSegment(AsPathSegmentType.AS_CONFED_SEQUENCE, (64512,))
    as_path = AsPath((confed, AsPathSegment(SEQ, (65001, AS_TRANS)), AsPathSegment(SET, (1, 2))))
    as4 = As4Path((AsPathSegment(SEQ, (4200000000,)), AsPathSegment(SET, (1, 2))))
    assert reconstruct_as_path(as_path, as4) == AsPath(
        (confed, AsPathSegment(SEQ, (65001,)), AsPathSegment(SEQ, (4200000000,)),
         AsPathSegment(SET, (1, 2))))


def test_update_as_path_property_on_a_2_octet_session() -> None:
    narrow, wide = split_as4_path(AsPath.sequence([65001, 4200000000]))
    assert wide is not None
    update = Update(attributes=(OriginAttribute(Origin.IGP), narrow, wide))
    decoded = decode_message(encode_message(update, CTX2), CTX2)
    assert isinstance(decoded, Update)
    assert decoded.as_path == AsPath.sequence([65001, 4200000000])


# -- property -------------------------------------------------------------------------------


@settings(max_examples=300)
@given(st.data())
def test_attribute_sets_round_trip(data: st.DataObject) -> None:
    ctx = data.draw(contexts())
    attributes = data.draw(attribute_sets(ctx, need_next_hop=False, need_path=False))
    wire = b"".join(encode_attribute(a, ctx) for a in attributes)  # type: ignore[arg-type]
    decoded, errors = decode_attribute_block(wire, 0, len(wire), ctx)
    assert errors == ()  # no NLRI in play, so nothing is mandatory
    assert list(decoded) == attributes


@pytest.mark.parametrize(
    ("plain", "extended"),
    [
        ("40 01 01 01", "50 01 0001 01"),
        ("40 02 06 02 01 0000fde9", "50 02 0006 02 01 0000fde9"),
        ("40 03 04 c0000201", "50 03 0004 c0000201"),
        ("80 04 04 00000064", "90 04 0004 00000064"),
        ("c0 08 08 ffffff01 fde90064", "d0 08 0008 ffffff01 fde90064"),
    ],
)
def test_fast_and_general_paths_agree(plain: str, extended: str) -> None:
    """Exact RFC flags take the walker's fast path; the Extended Length bit takes the general
    path. Both give the same value, and each re-encodes to its own bytes."""
    fast, general = decode_one(h(plain)), decode_one(h(extended))
    assert fast == general
    assert encode_attribute(fast, CTX) == h(plain)  # type: ignore[arg-type]
    assert encode_attribute(general, CTX) == h(extended)  # type: ignore[arg-type]
