"""NLRI: prefixes, ADD-PATH, labelled (RFC 8277) and VPN (RFC 4364/4659) encodings."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netlinkbgp.bgp import (
    IPV4_LABELED,
    IPV4_UNICAST,
    IPV6_UNICAST,
    VPNV4,
    VPNV6,
    Family,
    Nlri,
    NlriList,
)
from netlinkbgp.bgp.nlri import encode_nlri
from netlinkbgp.errors import DecodeError, InvalidValueError, LocalProtocolError
from netlinkbgp.route import RouteDistinguisher
from tests.strategies_bgp import FAMILIES, nlri_lists


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def check_both_ways(items: list[Nlri], family: Family, wire_hex: str, *, add_path: bool = False,
                    withdraw: bool = False) -> None:
    wire = h(wire_hex)
    built = NlriList(family, items)
    assert built.encode(add_path=add_path, withdraw=withdraw) == wire
    decoded = NlriList.decode(wire, family, add_path=add_path, withdraw=withdraw)
    assert decoded == built
    assert list(decoded) == items


# -- vectors ------------------------------------------------------------------------------


def test_ipv4_prefixes() -> None:
    items = [Nlri.from_network(n) for n in ("0.0.0.0/0", "10.0.0.0/8", "192.0.2.128/25",
                                             "203.0.113.7/32")]
    check_both_ways(items, IPV4_UNICAST, "00 08 0a 19 c0000280 20 cb007107")


def test_ipv6_prefix() -> None:
    check_both_ways([Nlri.from_network("2001:db8::/32")], IPV6_UNICAST, "20 20010db8")


def test_add_path_ids() -> None:
    items = [Nlri.from_network("10.0.0.0/8", path_id=1), Nlri.from_network("10.0.0.0/8",
                                                                           path_id=7)]
    check_both_ways(items, IPV4_UNICAST, "00000001 08 0a 00000007 08 0a", add_path=True)


def test_labelled_unicast_with_bottom_of_stack() -> None:
    item = Nlri.from_network("192.0.2.0/24", labels=(16, 17))
    # two label entries: 16 << 4 (S=0), 17 << 4 | 1 (S=1); length 48 + 24 = 72 bits
    check_both_ways([item], IPV4_LABELED, "48 000100 000111 c00002")


def test_labelled_withdrawal_uses_the_rfc8277_compatibility_label() -> None:
    item = Nlri.from_network("192.0.2.0/24")
    check_both_ways([item], IPV4_LABELED, "30 800000 c00002", withdraw=True)


def test_labelled_withdrawal_ignores_label_zero() -> None:
    decoded = NlriList.decode(h("30 000000 c00002"), IPV4_LABELED, withdraw=True)
    assert list(decoded) == [Nlri.from_network("192.0.2.0/24")]


@pytest.mark.parametrize(
    ("rd", "rd_hex"),
    [
        (RouteDistinguisher(0, 65000, 100), "0000 fde8 00000064"),
        (RouteDistinguisher(1, 0xC0000201, 7), "0001 c0000201 0007"),
        (RouteDistinguisher(2, 4200000000, 7), "0002 fa56ea00 0007"),
    ],
)
def test_vpnv4_with_each_rd_type(rd: RouteDistinguisher, rd_hex: str) -> None:
    item = Nlri.from_network("10.1.0.0/16", rd=rd, labels=(1000,))
    check_both_ways([item], VPNV4, f"68 003e81 {rd_hex} 0a01")


def test_vpnv6() -> None:
    item = Nlri.from_network("2001:db8::/32", rd=RouteDistinguisher(0, 1, 2), labels=(3,))
    check_both_ways([item], VPNV6, "78 000031 0000 0001 00000002 20010db8")


# -- normalisation and errors -------------------------------------------------------------


def test_trailing_bits_are_normalised_not_rejected() -> None:
    decoded = NlriList.decode(h("17 c00003"), IPV4_UNICAST)  # /23 with the last bit set
    assert [n.network for n in decoded] == [IPv4Network("192.0.2.0/23")]
    assert decoded.encode() == h("17 c00002")
    assert decoded == NlriList(IPV4_UNICAST, [Nlri.from_network("192.0.2.0/23")])


def test_constructor_rejects_host_bits() -> None:
    with pytest.raises(InvalidValueError):
        Nlri(1, 0xC0000201, 24)
    with pytest.raises(InvalidValueError):
        Nlri(1, 0, 33)


@pytest.mark.parametrize(
    ("family", "wire"),
    [
        (IPV4_UNICAST, "21 0102030405"),  # RFC 7606 §5.3: longer than 32
        (IPV6_UNICAST, "81" + "00" * 17),  # longer than 128
        (IPV4_UNICAST, "18 0102"),  # overruns the field
        (IPV4_LABELED, "30 000100 c00002"),  # no bottom-of-stack bit
        (IPV4_LABELED, "10 0001"),  # shorter than a label
        (VPNV4, "58 000101 0000fde8"),  # shorter than an RD
        (VPNV4, "68 000101 0009 00000000 0000 0a01"),  # RD type 9
        (VPNV4, "99 000101 0000fde800000001" + "0a" * 9),  # prefix longer than 32 after RD
    ],
)
def test_syntax_errors_raise_decode_error(family: Family, wire: str) -> None:
    with pytest.raises(DecodeError):
        NlriList.decode(h(wire), family)


def test_add_path_truncated() -> None:
    with pytest.raises(DecodeError):
        NlriList.decode(h("000000"), IPV4_UNICAST, add_path=True)


def test_encode_refuses_what_the_family_cannot_carry() -> None:
    with pytest.raises(LocalProtocolError):
        encode_nlri(Nlri.from_network("10.0.0.0/8"), IPV4_LABELED, False)  # no label
    with pytest.raises(LocalProtocolError):
        encode_nlri(Nlri.from_network("10.0.0.0/8", labels=(1,)), VPNV4, False)  # no RD
    with pytest.raises(LocalProtocolError):
        encode_nlri(Nlri.from_network("10.0.0.0/8"), IPV4_UNICAST, True)  # no path id
    with pytest.raises(LocalProtocolError):
        encode_nlri(Nlri.from_network("10.0.0.0/8", path_id=1), IPV4_UNICAST, False)
    with pytest.raises(LocalProtocolError):
        encode_nlri(Nlri.from_network("2001:db8::/32"), IPV4_UNICAST, False)
    with pytest.raises(LocalProtocolError):
        NlriList(IPV6_UNICAST, [Nlri.from_network("10.0.0.0/8")])


def test_network_and_text() -> None:
    item = Nlri.from_network("2001:db8::/48", path_id=3)
    assert item.network == IPv6Network("2001:db8::/48")
    assert str(item) == "2001:db8::/48 path-id 3"


# -- properties ---------------------------------------------------------------------------


@settings(max_examples=300)
@given(st.data())
def test_round_trip_every_family(data: st.DataObject) -> None:
    family = data.draw(st.sampled_from(FAMILIES))
    add_path = data.draw(st.booleans())
    withdraw = data.draw(st.booleans())
    items = data.draw(nlri_lists(family, add_path, withdraw))
    wire = items.encode(add_path=add_path, withdraw=withdraw)
    decoded = NlriList.decode(wire, family, add_path=add_path, withdraw=withdraw)
    assert decoded == items
    assert hash(decoded) == hash(items)
    assert len(decoded) == len(items)
    assert decoded.packed() == [(n.value, n.length, n.path_id) for n in items]
    assert decoded.encode(add_path=add_path, withdraw=withdraw) == wire


@settings(max_examples=300)
@given(st.sampled_from(FAMILIES), st.booleans(), st.booleans(), st.binary(max_size=60))
def test_random_bytes_raise_only_decode_error(family: Family, add_path: bool, withdraw: bool,
                                               data: bytes) -> None:
    try:
        decoded = NlriList.decode(data, family, add_path=add_path, withdraw=withdraw)
    except DecodeError:
        return
    list(decoded)  # whatever decodes must also materialise
    again = NlriList.decode(decoded.encode(add_path=add_path, withdraw=withdraw), family,
                            add_path=add_path, withdraw=withdraw)
    assert again == decoded


def test_unicast_lists_are_lazy_until_iterated() -> None:
    decoded = NlriList.decode(h("08 0a 10 c0a8"), IPV4_UNICAST)
    assert len(decoded) == 2
    assert decoded.packed() == [(0x0A000000, 8, None), (0xC0A80000, 16, None)]
    assert decoded[1] == Nlri.from_network("192.168.0.0/16")
