"""Capabilities (vectors both ways, malformed values) and Negotiated.from_opens."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address

import pytest
from hypothesis import given, settings

from netlinkbgp.bgp import (
    IPV4_LABELED,
    IPV4_UNICAST,
    IPV6_UNICAST,
    SUPPORTED_FAMILIES,
    VPNV4,
    VPNV6,
    AddPath,
    AddPathEntry,
    Capability,
    EnhancedRouteRefresh,
    ExtendedMessage,
    ExtendedNextHop,
    Family,
    FourOctetAs,
    Fqdn,
    GracefulRestart,
    GracefulRestartFamily,
    Multiprotocol,
    Negotiated,
    Open,
    RouteRefreshCapability,
    UnknownCapability,
    decode_message,
)
from netlinkbgp.bgp.capabilities import decode_capability, encode_capability
from netlinkbgp.bgp.constants import AS_TRANS, ErrorCode, OpenSubcode
from netlinkbgp.errors import DecodeError, LocalProtocolError, RemoteProtocolError
from tests.strategies_bgp import capabilities


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


VECTORS = [
    (Multiprotocol(IPV6_UNICAST), "01 04 0002 00 01"),
    (RouteRefreshCapability(), "02 00"),
    (ExtendedNextHop(((IPV4_UNICAST, 2), (VPNV4, 2))), "05 0c 0001 0001 0002 0001 0080 0002"),
    (ExtendedMessage(), "06 00"),
    (GracefulRestart(0x8, 120, (GracefulRestartFamily(IPV4_UNICAST, 0x80),
                                GracefulRestartFamily(IPV6_UNICAST, 0))),
     "40 0a 8078 0001 01 80 0002 01 00"),
    (FourOctetAs(4200000000), "41 04 fa56ea00"),
    (AddPath((AddPathEntry(IPV4_UNICAST, True, False), AddPathEntry(IPV6_UNICAST, True, True))),
     "45 08 0001 01 01 0002 01 03"),
    (EnhancedRouteRefresh(), "46 00"),
    (Fqdn("router1", "example.net"), "49 14 07 726f7574657231 0b 6578616d706c652e6e6574"),
    (UnknownCapability(0x80, h("abcd")), "80 02 abcd"),
]


@pytest.mark.parametrize(("capability", "wire"), VECTORS,
                         ids=[type(v[0]).__name__ for v in VECTORS])
def test_capability_vectors_both_ways(capability: Capability, wire: str) -> None:
    data = h(wire)
    assert encode_capability(capability) == data
    assert decode_capability(data[0], data[2:]) == capability


def test_graceful_restart_fields() -> None:
    capability = decode_capability(64, h("8078 0001 01 80"))
    assert isinstance(capability, GracefulRestart)
    assert capability.restart_state and capability.restart_time == 120
    assert capability.families[0].forwarding_state


@pytest.mark.parametrize(
    ("code", "value"),
    [(1, "0001 00"), (2, "00"), (65, "0000fd"), (69, "0001 01 04"), (69, "0001 01"),
     (5, "0001 0001 00"), (64, "80"), (64, "8078 0001 01"), (73, "05 6162"), (73, "01 61 05 62"),
     (6, "01"), (70, "00")],
)
def test_malformed_capabilities(code: int, value: str) -> None:
    with pytest.raises(DecodeError):
        decode_capability(code, h(value))


def test_malformed_capability_in_open_is_an_open_error() -> None:
    body = h("04 fde9 005a c0000201 06 02 04 41 02 0000")  # 4-octet AS capability of 2 octets
    wire = b"\xff" * 16 + struct.pack("!HB", 19 + len(body), 1) + body
    with pytest.raises(RemoteProtocolError) as info:
        decode_message(wire, Negotiated.default())
    assert info.value.code == ErrorCode.OPEN_MESSAGE_ERROR


def test_encode_refuses_out_of_range_values() -> None:
    with pytest.raises(LocalProtocolError):
        encode_capability(GracefulRestart(0, 5000))
    with pytest.raises(LocalProtocolError):
        encode_capability(FourOctetAs(1 << 32))
    with pytest.raises(LocalProtocolError):
        encode_capability(UnknownCapability(0x80, b"x" * 256))


@settings(max_examples=300)
@given(capabilities)
def test_capabilities_round_trip(capability: Capability) -> None:
    data = encode_capability(capability)
    assert data[1] == len(data) - 2
    assert decode_capability(data[0], data[2:]) == capability


# -- negotiation --------------------------------------------------------------------------


def make_open(asn: int, hold: int, *caps: Capability) -> Open:
    my_as = asn if asn <= 0xFFFF else AS_TRANS
    return Open(my_as, hold, IPv4Address("192.0.2.1"), caps)


FULL = (
    Multiprotocol(IPV4_UNICAST), Multiprotocol(IPV6_UNICAST), Multiprotocol(VPNV4),
    FourOctetAs(4200000000), RouteRefreshCapability(), EnhancedRouteRefresh(), ExtendedMessage(),
    AddPath((AddPathEntry(IPV4_UNICAST, True, True), AddPathEntry(IPV6_UNICAST, True, False))),
    ExtendedNextHop(((IPV4_UNICAST, 2),)),
    GracefulRestart(0, 90, (GracefulRestartFamily(IPV4_UNICAST, 0x80),)),
)


def test_negotiation_between_two_full_speakers() -> None:
    local = make_open(4200000000, 90, *FULL)
    remote = make_open(65002, 30, Multiprotocol(IPV4_UNICAST), Multiprotocol(IPV6_UNICAST),
                       FourOctetAs(65002), RouteRefreshCapability(), EnhancedRouteRefresh(),
                       ExtendedMessage(),
                       AddPath((AddPathEntry(IPV4_UNICAST, False, True),
                                AddPathEntry(IPV6_UNICAST, True, True))),
                       ExtendedNextHop(((IPV4_UNICAST, 2),)),
                       GracefulRestart(8, 120, (GracefulRestartFamily(IPV6_UNICAST, 0),)))
    ctx = Negotiated.from_opens(local, remote)
    assert ctx.hold_time == 30 and ctx.keepalive_time == 10
    assert ctx.asn4
    assert ctx.families == frozenset({IPV4_UNICAST, IPV6_UNICAST})
    # we receive path ids where we can receive and they can send, and vice versa
    assert ctx.add_path_receive == frozenset({IPV4_UNICAST, IPV6_UNICAST})
    assert ctx.add_path_send == frozenset()
    assert ctx.extended_next_hop == frozenset({IPV4_UNICAST})
    assert ctx.extended_message and ctx.max_message_size == 65535
    assert ctx.route_refresh and ctx.enhanced_route_refresh
    assert ctx.graceful_restart == remote.capabilities[-1]
    assert (ctx.local_asn, ctx.peer_asn, ctx.ebgp) == (4200000000, 65002, True)
    mirrored = ctx.mirrored()
    assert mirrored.add_path_send == ctx.add_path_receive
    assert (mirrored.local_asn, mirrored.peer_asn) == (65002, 4200000000)


def test_negotiation_with_a_plain_rfc4271_speaker() -> None:
    ctx = Negotiated.from_opens(make_open(65001, 90, *FULL[:3]), make_open(65001, 0))
    assert ctx.hold_time == 0  # zero is allowed: no keepalives (RFC 4271 §4.2)
    assert not ctx.asn4
    assert ctx.families == frozenset({IPV4_UNICAST})  # RFC 4760 §8 default
    assert ctx.max_message_size == 4096
    assert not ctx.route_refresh and ctx.graceful_restart is None
    assert ctx.ebgp is False


@pytest.mark.parametrize("hold", [1, 2])
def test_unacceptable_peer_hold_time(hold: int) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        Negotiated.from_opens(make_open(1, 90), make_open(2, hold))
    assert (info.value.code, info.value.subcode) == (ErrorCode.OPEN_MESSAGE_ERROR,
                                                     OpenSubcode.UNACCEPTABLE_HOLD_TIME)
    with pytest.raises(LocalProtocolError):
        Negotiated.from_opens(make_open(1, hold), make_open(2, 90))


def test_open_asn_uses_the_4_octet_capability() -> None:
    assert make_open(4200000000, 90, FourOctetAs(4200000000)).asn == 4200000000
    assert make_open(65001, 90).asn == 65001


def test_default_context() -> None:
    ctx = Negotiated.default()
    assert ctx.asn4 and not Negotiated.default(asn4=False).asn4
    assert ctx.families == SUPPORTED_FAMILIES
    assert {IPV4_LABELED, VPNV4, VPNV6} <= ctx.families
    assert not ctx.add_path_receive and not ctx.add_path_send
    assert ctx.max_message_size == 4096
    assert ctx.ebgp is None
    assert Family(1, 1) == IPV4_UNICAST and str(VPNV6) == "l3vpn-ipv6-unicast"
