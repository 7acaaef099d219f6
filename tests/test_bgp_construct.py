"""A second, independent definition of the header, OPEN and capabilities, in ``construct``.

The declarations below are written from RFC 4271 §4.1/§4.2, RFC 5492, RFC 9072 and the
capability RFCs, not from the hand-written codec. Generated values must come out the same
through either path: ours → bytes → construct, and construct → bytes → ours. The construct
structures are parsed, never ``.compile()``d (STYLE §9).
"""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import Any

from construct import (
    Bytes,
    Const,
    GreedyBytes,
    GreedyRange,
    Int8ub,
    Int16ub,
    Int32ub,
    PascalString,
    Prefixed,
    Struct,
    Switch,
    this,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netlinkbgp.bgp import (
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
    encode_message,
)
from netlinkbgp.bgp.capabilities import decode_capability, encode_capability
from tests.strategies_bgp import capabilities, contexts, messages, opens

# -- the construct definitions ---------------------------------------------------------------

Header = Struct("marker" / Const(b"\xff" * 16), "length" / Int16ub, "type" / Int8ub)

AfiSafi = Struct("afi" / Int16ub, "safi" / Int8ub)
CapabilityValue = {
    1: Struct("afi" / Int16ub, "reserved" / Int8ub, "safi" / Int8ub),
    5: GreedyRange(Struct("afi" / Int16ub, "safi" / Int16ub, "nh_afi" / Int16ub)),
    64: Struct("head" / Int16ub,
               "families" / GreedyRange(Struct("afi" / Int16ub, "safi" / Int8ub,
                                               "flags" / Int8ub))),
    65: Struct("asn" / Int32ub),
    69: GreedyRange(Struct("afi" / Int16ub, "safi" / Int8ub, "mode" / Int8ub)),
    73: Struct("host" / PascalString(Int8ub, "utf8"), "domain" / PascalString(Int8ub, "utf8")),
}
CapabilityTlv = Struct(
    "code" / Int8ub,
    "value" / Prefixed(Int8ub, Switch(this.code, CapabilityValue, default=GreedyBytes)),
)
Parameter = Struct("type" / Const(2, Int8ub), "caps" / Prefixed(Int8ub, GreedyRange(CapabilityTlv)))
ExtParameter = Struct("type" / Const(2, Int8ub),
                      "caps" / Prefixed(Int16ub, GreedyRange(CapabilityTlv)))
OPEN_FIXED = (
    "header" / Header,
    "version" / Int8ub,
    "my_as" / Int16ub,
    "hold_time" / Int16ub,
    "bgp_id" / Bytes(4),
)
OpenPlain = Struct(*OPEN_FIXED, "params" / Prefixed(Int8ub, GreedyRange(Parameter)))
OpenExtended = Struct(*OPEN_FIXED,  # RFC 9072 §2
                      "non_ext_len" / Const(255, Int8ub), "non_ext_type" / Const(255, Int8ub),
                      "params" / Prefixed(Int16ub, GreedyRange(ExtParameter)))

# -- conversions between construct containers and our values -------------------------------


def _fqdn_safe(capability: Capability) -> bool:
    """construct's PascalString decodes strictly; surrogate-escaped names stay on our side."""
    if not isinstance(capability, Fqdn):
        return True
    try:
        capability.hostname.encode("utf-8")
        capability.domain.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def to_value(code: int, value: Any) -> Capability:
    """A construct-parsed capability value as our dataclass."""
    if code == 1:
        return Multiprotocol(Family(value.afi, value.safi))
    if code == 5:
        return ExtendedNextHop(tuple((Family(e.afi, e.safi), e.nh_afi) for e in value))
    if code == 64:
        return GracefulRestart(value.head >> 12, value.head & 0xFFF, tuple(
            GracefulRestartFamily(Family(f.afi, f.safi), f.flags) for f in value.families))
    if code == 65:
        return FourOctetAs(value.asn)
    if code == 69:
        return AddPath(tuple(AddPathEntry(Family(e.afi, e.safi), bool(e.mode & 1),
                                          bool(e.mode & 2)) for e in value))
    if code == 73:
        return Fqdn(value.host, value.domain)
    simple = {2: RouteRefreshCapability(), 6: ExtendedMessage(), 70: EnhancedRouteRefresh()}
    if code in simple and value == b"":
        return simple[code]
    return UnknownCapability(code, value)


def to_container(capability: Capability) -> dict[str, Any]:
    """Our capability as the dict construct builds from."""
    if isinstance(capability, Multiprotocol):
        return {"code": 1, "value": {"afi": capability.family.afi, "reserved": 0,
                                     "safi": capability.family.safi}}
    if isinstance(capability, ExtendedNextHop):
        return {"code": 5, "value": [{"afi": f.afi, "safi": f.safi, "nh_afi": nh}
                                     for f, nh in capability.entries]}
    if isinstance(capability, GracefulRestart):
        return {"code": 64, "value": {
            "head": (capability.flags << 12) | capability.restart_time,
            "families": [{"afi": f.family.afi, "safi": f.family.safi, "flags": f.flags}
                         for f in capability.families]}}
    if isinstance(capability, FourOctetAs):
        return {"code": 65, "value": {"asn": capability.asn}}
    if isinstance(capability, AddPath):
        return {"code": 69, "value": [
            {"afi": e.family.afi, "safi": e.family.safi,
             "mode": int(e.receive) | (int(e.send) << 1)} for e in capability.entries]}
    if isinstance(capability, Fqdn):
        return {"code": 73, "value": {"host": capability.hostname, "domain": capability.domain}}
    if isinstance(capability, UnknownCapability):
        return {"code": capability.code, "value": capability.raw}
    return {"code": capability.CODE, "value": b""}


def open_to_container(message: Open, length: int) -> dict[str, Any]:
    return {"header": {"length": length, "type": 1}, "version": message.version,
            "my_as": message.my_as, "hold_time": message.hold_time,
            "bgp_id": message.bgp_id.packed,
            "params": [{"caps": [to_container(c) for c in message.capabilities]}]
            if message.capabilities else []}


def container_to_open(parsed: Any) -> Open:
    caps = tuple(to_value(c.code, c.value) for p in parsed.params for c in p.caps)
    return Open(parsed.my_as, parsed.hold_time, IPv4Address(parsed.bgp_id), caps,
                parsed.version)


# -- the properties ----------------------------------------------------------------------------

CTX = Negotiated.default()


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_header_agrees(data: st.DataObject) -> None:
    ctx = data.draw(contexts())
    message = data.draw(messages(ctx))
    wire = encode_message(message, ctx)  # type: ignore[arg-type]
    parsed = Header.parse(wire)
    assert parsed.length == len(wire)
    expected = {"Open": 1, "Update": 2, "Notification": 3, "Keepalive": 4, "RouteRefresh": 5}
    assert parsed.type == expected[type(message).__name__]
    rebuilt = Header.build({"length": parsed.length, "type": parsed.type})
    assert rebuilt == wire[:19]


@settings(max_examples=300)
@given(capabilities.filter(_fqdn_safe))
def test_capabilities_agree(capability: Capability) -> None:
    ours = encode_capability(capability)
    parsed = CapabilityTlv.parse(ours)
    assert to_value(parsed.code, parsed.value) == capability
    theirs = CapabilityTlv.build(to_container(capability))
    assert theirs == ours
    assert decode_capability(theirs[0], theirs[2:]) == capability


@settings(max_examples=200)
@given(opens.filter(lambda o: all(_fqdn_safe(c) for c in o.capabilities)))
def test_open_agrees(message: Open) -> None:
    ours = encode_message(message, CTX)
    extended = ours[28] == 255 and len(ours) > 29 and ours[29] == 255
    structure = OpenExtended if extended else OpenPlain
    assert container_to_open(structure.parse(ours)) == message
    theirs = structure.build(open_to_container(message, len(ours)))
    assert theirs == ours
    assert decode_message(theirs, CTX) == message


def test_extended_optional_parameters_agree() -> None:
    message = Open(65001, 90, IPv4Address("192.0.2.1"),
                   tuple(Multiprotocol(Family(1, n)) for n in range(60)))  # 360 octets
    ours = encode_message(message, CTX)
    assert container_to_open(OpenExtended.parse(ours)) == message
    assert OpenExtended.build(open_to_container(message, len(ours))) == ours
