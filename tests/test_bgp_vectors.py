"""Replay of BGP messages captured from real daemons (BIRD 2.0.12, GoBGP 3.10.0).

Every ``tests/vectors/bgp/*.json`` file holds one whole message and a semantic description of
it written independently of this codec (see ``tests/vectors/bgp/README.md``). For each file we
decode the bytes in the session's context, compare a semantic form of the decoded value with
``expected`` as whole dicts, re-encode and compare byte for byte, and cut the message at every
point to check that only our protocol errors come out.

Known, diagnosed differences are listed in ``KNOWN_DIFFERENCES`` and marked ``xfail(strict=True)``
so they stay visible (and the mark must go when they are fixed).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import socket
import struct
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import Any

import pytest

from netlinkbgp.bgp import (
    AddPath,
    Aggregator,
    As4Aggregator,
    As4Path,
    AsPath,
    AsPathSegment,
    AtomicAggregate,
    Attribute,
    Capability,
    ClusterList,
    Communities,
    EnhancedRouteRefresh,
    ExtendedCommunities,
    ExtendedMessage,
    ExtendedNextHop,
    Family,
    FourOctetAs,
    Fqdn,
    GracefulRestart,
    Keepalive,
    LargeCommunities,
    LocalPref,
    Message,
    MpReachNlri,
    MpUnreachNlri,
    MultiExitDisc,
    Multiprotocol,
    Negotiated,
    NextHopAttribute,
    Nlri,
    NlriList,
    Notification,
    Open,
    OriginatorId,
    OriginAttribute,
    RouteRefresh,
    RouteRefreshCapability,
    UnknownAttribute,
    UnknownCapability,
    Update,
    decode_message,
    encode_message,
)
from netlinkbgp.bgp.attributes import encode_attribute
from netlinkbgp.bgp.nlri import VPNV4, encode_nlri
from netlinkbgp.errors import DecodeError, RemoteProtocolError
from netlinkbgp.route import format_community, format_ext_community, format_large_community

VECTORS = Path(__file__).parent / "vectors" / "bgp"
VECTOR_NAMES = sorted(p.name for p in VECTORS.glob("*.json"))

Json = dict[str, Any]

# -- names used by the vectors (README "Family names", capture.py) -------------------------

AFI_NAMES = {1: "ipv4", 2: "ipv6", 25: "l2vpn"}
SAFI_NAMES = {1: "unicast", 2: "multicast", 4: "labeled_unicast", 70: "evpn", 128: "mpls_vpn",
              133: "flowspec", 134: "flowspec_vpn"}
ORIGIN_NAMES = {0: "igp", 1: "egp", 2: "incomplete"}
SEGMENT_NAMES = {1: "set", 2: "sequence", 3: "confed_sequence", 4: "confed_set"}
ADD_PATH_MODES = {1: "receive", 2: "send", 3: "both"}
NOTIFICATION_CODES = {1: "message_header_error", 2: "open_message_error",
                      3: "update_message_error", 4: "hold_timer_expired", 5: "fsm_error",
                      6: "cease", 7: "route_refresh_message_error"}
#: Capabilities this codec keeps as UnknownCapability but the vectors name.
UNKNOWN_CAPABILITY_NAMES = {9: "bgp_role", 71: "long_lived_graceful_restart",
                            128: "route_refresh_cisco"}

# -- known differences ----------------------------------------------------------------------

#: (test function, vector file) -> reason. Each is a diagnosed difference, not a flake.
KNOWN_DIFFERENCES: dict[tuple[str, str], str] = {}


def vector_params(test: str) -> list[Any]:
    """Every vector file name, with the strict xfail of a known difference for ``test``."""
    out: list[Any] = []
    for name in VECTOR_NAMES:
        reason = KNOWN_DIFFERENCES.get((test, name))
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        out.append(pytest.param(name, id=name.removesuffix(".json"), marks=marks))
    return out


# -- loading and session context ------------------------------------------------------------


@functools.cache
def load(name: str) -> Json:
    """One vector file."""
    data: Json = json.loads((VECTORS / name).read_text())
    return data


def wire(name: str) -> bytes:
    """The captured message bytes of one vector."""
    return bytes.fromhex(load(name)["hex"])


def _decode_open(data: bytes) -> Open:
    message = decode_message(data, Negotiated.default())
    assert isinstance(message, Open)
    return message


@functools.cache
def scenario_context(scenario: str) -> Negotiated:
    """The session context of a scenario, negotiated from the two captured OPENs.

    Our OPEN is ``provenance.our_open_hex`` (the same in every file of the scenario); the
    daemon's is the scenario's ``_0`` vector.
    """
    first = load(f"{scenario}_0.json")
    assert first["expected"]["type"] == "open", f"{scenario}_0.json is not the daemon's OPEN"
    local = _decode_open(bytes.fromhex(first["provenance"]["our_open_hex"]))
    remote = _decode_open(bytes.fromhex(first["hex"]))
    return Negotiated.from_opens(local, remote)


def context(name: str) -> Negotiated:
    """The session context a vector must be decoded in."""
    vector = load(name)
    assert vector["provenance"]["our_open_hex"] == load(
        f"{vector['provenance']['scenario']}_0.json")["provenance"]["our_open_hex"]
    return scenario_context(vector["provenance"]["scenario"])


def family_name(family: Family) -> tuple[str, str]:
    """(afi, safi) names as the vectors spell them."""
    return AFI_NAMES.get(family.afi, str(family.afi)), SAFI_NAMES.get(family.safi,
                                                                       str(family.safi))


def session_form(ctx: Negotiated) -> Json:
    """The ``session`` part of a vector, computed from our context."""
    return {
        "asn4": ctx.asn4,
        "add_path_receive": sorted(list(family_name(f)) for f in ctx.add_path_receive),
        "extended_nexthop": sorted([*family_name(f), "ipv6"] for f in ctx.extended_next_hop),
        "extended_message": ctx.extended_message,
    }


# -- semantic form of our decoded values -----------------------------------------------------


def address_text(address: IPv4Address | IPv6Address) -> str:
    """An address as ``inet_ntop`` writes it (``::ffff:192.0.2.1``, whatever the Python)."""
    family = socket.AF_INET if isinstance(address, IPv4Address) else socket.AF_INET6
    return socket.inet_ntop(family, address.packed)


def nlri_form(nlri: Nlri, family: Family) -> Json:
    """One NLRI: ``prefix``, then ``rd`` (VPN) and ``labels`` (labelled), then ``path_id``."""
    out: Json = {"prefix": str(nlri.network)}
    if family.has_rd:
        out["rd"] = None if nlri.rd is None else str(nlri.rd)
    if family.has_labels:
        out["labels"] = list(nlri.labels)
        if nlri.compat is not None and nlri.compat not in (0x800000, 0):
            # A withdrawal's Compatibility field (RFC 8277 §2.4, ignored on receipt) that
            # carries a real label, as GoBGP's do: show what the wire said.
            out["labels"] = [nlri.compat >> 4]
    out["path_id"] = nlri.path_id
    return out


def nlri_list_form(items: NlriList) -> list[Json]:
    return [nlri_form(n, items.family) for n in items]


def segments_form(segments: tuple[AsPathSegment, ...]) -> list[list[Any]]:
    return [[SEGMENT_NAMES[int(s.type)], list(s.asns)] for s in segments]


def ext_community_text(value: bytes) -> str:
    """``rt:``/``soo:`` forms from ``format_ext_community``; its ``0x`` form is ``raw:``."""
    text = format_ext_community(value)
    return "raw:" + text[2:] if text.startswith("0x") else text


def mp_reach_form(attribute: MpReachNlri, ctx: Negotiated) -> Json:
    afi, safi = family_name(attribute.family)
    value = attribute.encode_value(ctx)
    return {
        "afi": afi,
        "safi": safi,
        "next_hops": [address_text(a) for a in attribute.next_hops],
        "next_hop_hex": value[4 : 4 + value[3]].hex(),
        "nlri": nlri_list_form(attribute.nlri),
    }


def mp_unreach_form(attribute: MpUnreachNlri) -> Json:
    afi, safi = family_name(attribute.family)
    return {"afi": afi, "safi": safi, "withdrawn": nlri_list_form(attribute.withdrawn)}


def wire_flags(attribute: Attribute) -> int:
    """The flags octet the attribute is (re-)encoded with."""
    if isinstance(attribute, UnknownAttribute):
        return attribute.flags
    return attribute.FLAGS | attribute.wire_flags


def attributes_form(attributes: tuple[Attribute, ...], ctx: Negotiated) -> Json:
    """The ``attributes`` dict of an UPDATE; absent ones are ``None`` / ``[]``."""
    out: Json = {
        "origin": None, "as_path": None, "next_hop": None, "med": None, "local_pref": None,
        "communities": [], "large_communities": [], "ext_communities": [], "mp_reach": None,
        "mp_unreach": None, "as4_path": None, "unknown": [],
    }
    for a in attributes:
        if isinstance(a, OriginAttribute):
            out["origin"] = ORIGIN_NAMES[int(a.origin)]
        elif isinstance(a, AsPath):
            out["as_path"] = segments_form(a.segments)
        elif isinstance(a, As4Path):
            out["as4_path"] = segments_form(a.segments)
        elif isinstance(a, NextHopAttribute):
            out["next_hop"] = str(a.address)
        elif isinstance(a, MultiExitDisc):
            out["med"] = a.value
        elif isinstance(a, LocalPref):
            out["local_pref"] = a.value
        elif isinstance(a, AtomicAggregate):
            out["atomic_aggregate"] = True
        elif isinstance(a, Aggregator):
            out["aggregator"] = [a.asn, str(a.address)]
        elif isinstance(a, As4Aggregator):
            out["as4_aggregator"] = [a.asn, str(a.address)]
        elif isinstance(a, Communities):
            out["communities"] = [format_community(v) for v in a.values]
        elif isinstance(a, LargeCommunities):
            out["large_communities"] = [format_large_community(v) for v in a.values]
        elif isinstance(a, ExtendedCommunities):
            out["ext_communities"] = [ext_community_text(v) for v in a.values]
        elif isinstance(a, OriginatorId):
            out["originator_id"] = str(a.address)
        elif isinstance(a, ClusterList):
            out["cluster_list"] = [str(i) for i in a.ids]
        elif isinstance(a, MpReachNlri):
            out["mp_reach"] = mp_reach_form(a, ctx)
        elif isinstance(a, MpUnreachNlri):
            out["mp_unreach"] = mp_unreach_form(a)
        else:
            out["unknown"].append({"code": a.type_code, "flags": a.flags, "hex": a.raw.hex()})
    return out


def update_form(update: Update, ctx: Negotiated) -> Json:
    end_of_rib = update.end_of_rib
    return {
        "type": "update",
        "withdrawn": nlri_list_form(update.withdrawn),
        "attributes": attributes_form(update.attributes, ctx),
        "nlri": nlri_list_form(update.nlri),
        "attribute_flags": [
            [a.type_code if isinstance(a, UnknownAttribute) else int(a.TYPE), wire_flags(a)]
            for a in update.attributes
        ],
        "end_of_rib": None if end_of_rib is None else "/".join(family_name(end_of_rib)),
    }


def family_entry(family: Family) -> Json:
    afi, safi = family_name(family)
    return {"afi": afi, "safi": safi}


def unknown_capability_value(capability: UnknownCapability) -> Any:
    """Values of capabilities this codec does not interpret, as the vectors write them."""
    raw = capability.raw
    if capability.code == 71:  # long-lived graceful restart: AFI, SAFI, flags, 24-bit time
        return [
            {**family_entry(Family(*struct.unpack_from("!HB", raw, i))), "flags": raw[i + 3],
             "stale_time": int.from_bytes(raw[i + 4 : i + 7], "big")}
            for i in range(0, len(raw), 7)
        ]
    if capability.code == 9:  # BGP role: one octet
        return raw[0]
    if capability.code == 128:  # pre-standard route refresh: no value
        return None
    return raw.hex()


def capability_form(capability: Capability) -> Json:
    """``{"code", "name", "value"}`` of one capability."""
    code: int
    name: str
    value: Any
    if isinstance(capability, Multiprotocol):
        code, name, value = 1, "multiprotocol", family_entry(capability.family)
    elif isinstance(capability, RouteRefreshCapability):
        code, name, value = 2, "route_refresh", None
    elif isinstance(capability, ExtendedNextHop):
        code, name = 5, "extended_nexthop"
        value = [{**family_entry(f), "nexthop_afi": AFI_NAMES.get(nh, str(nh))}
                 for f, nh in capability.entries]
    elif isinstance(capability, ExtendedMessage):
        code, name, value = 6, "extended_message", None
    elif isinstance(capability, GracefulRestart):
        code, name = 64, "graceful_restart"
        value = {
            "restart_flags": capability.flags,
            "restart_time": capability.restart_time,
            "families": [{**family_entry(f.family), "forwarding_preserved": f.forwarding_state}
                         for f in capability.families],
        }
    elif isinstance(capability, FourOctetAs):
        code, name, value = 65, "as4", capability.asn
    elif isinstance(capability, AddPath):
        code, name = 69, "add_path"
        value = [{**family_entry(e.family),
                  "mode": ADD_PATH_MODES[int(e.receive) | (int(e.send) << 1)]}
                 for e in capability.entries]
    elif isinstance(capability, EnhancedRouteRefresh):
        code, name, value = 70, "enhanced_route_refresh", None
    elif isinstance(capability, Fqdn):
        code, name = 73, "fqdn"
        value = {"hostname": capability.hostname, "domain": capability.domain}
    else:
        code = capability.code
        name = UNKNOWN_CAPABILITY_NAMES.get(code, f"unknown_{code}")
        value = unknown_capability_value(capability)
    assert code == (capability.code if isinstance(capability, UnknownCapability)
                    else capability.CODE)
    return {"code": code, "name": name, "value": value}


def open_form(message: Open) -> Json:
    return {
        "type": "open",
        "version": message.version,
        "asn": message.my_as,
        "hold_time": message.hold_time,
        "bgp_id": str(message.bgp_id),
        "capabilities": [capability_form(c) for c in message.capabilities],
    }


def notification_form(message: Notification) -> Json:
    return {
        "type": "notification",
        "code": message.code,
        "subcode": message.subcode,
        "code_name": NOTIFICATION_CODES.get(message.code, str(message.code)),
        "data": message.data.hex(),
    }


def semantic_form(message: Message, ctx: Negotiated) -> Json:
    """Our decoded message in the vectors' ``expected`` form."""
    if isinstance(message, Update):
        return update_form(message, ctx)
    if isinstance(message, Open):
        return open_form(message)
    if isinstance(message, Notification):
        return notification_form(message)
    if isinstance(message, Keepalive):
        return {"type": "keepalive"}
    assert isinstance(message, RouteRefresh)
    afi, safi = family_name(message.family)
    return {"type": "route_refresh", "afi": afi, "subtype": int(message.subtype), "safi": safi}


# -- per-vector tests ---------------------------------------------------------------------


@pytest.mark.parametrize("name", vector_params("test_session_context_matches_vector"))
def test_session_context_matches_vector(name: str) -> None:
    """The context negotiated from the captured OPENs is the session the vector describes."""
    assert session_form(context(name)) == load(name)["session"]


@pytest.mark.parametrize("name", vector_params("test_decode_matches_expected"))
def test_decode_matches_expected(name: str) -> None:
    ctx = context(name)
    message = decode_message(wire(name), ctx)
    if isinstance(message, Update):
        assert message.errors == ()
    assert semantic_form(message, ctx) == load(name)["expected"]


@pytest.mark.parametrize("name", vector_params("test_reencode_is_byte_identical"))
def test_reencode_is_byte_identical(name: str) -> None:
    ctx = context(name)
    data = wire(name)
    assert encode_message(decode_message(data, ctx), ctx).hex() == data.hex()


@pytest.mark.parametrize("name", vector_params("test_every_truncation_raises_protocol_errors"))
def test_every_truncation_raises_protocol_errors(name: str) -> None:
    """Each prefix of the message, decoded alone, is refused with one of our errors."""
    ctx = context(name)
    data = wire(name)
    for cut in range(len(data)):
        with pytest.raises((DecodeError, RemoteProtocolError)):
            decode_message(data[:cut], ctx)


def _relengthed_cuts(data: bytes) -> Iterator[tuple[int, bytes]]:
    """Every cut past the header, with the header length fixed up to match."""
    for cut in range(19, len(data)):
        yield cut, data[:16] + struct.pack("!H", cut) + data[18:cut]


@pytest.mark.parametrize("name", vector_params("test_truncated_body_with_fixed_length"))
def test_truncated_body_with_fixed_length(name: str) -> None:
    """A body cut anywhere, with a consistent header length, decodes or raises our errors.

    This reaches the body decoders (OPEN parameters, attribute block, NLRI), which a plain
    cut never does because the header length check refuses it first.
    """
    ctx = context(name)
    for cut, data in _relengthed_cuts(wire(name)):
        try:
            decode_message(data, ctx)
        except (DecodeError, RemoteProtocolError):
            pass
        except Exception as exc:  # pragma: no cover - the failure message is the point
            pytest.fail(f"cut at {cut}: {type(exc).__name__}: {exc}")


def test_daemon_attribute_order_is_kept_on_reencode() -> None:
    """GoBGP puts MP_REACH_NLRI after ORIGIN and AS_PATH; the encoder keeps the order it was
    given, so relaying or re-encoding a received UPDATE changes nothing on the wire."""
    name = "gobgp_unicast_4.json"
    ctx = context(name)
    update = decode_message(wire(name), ctx)
    assert isinstance(update, Update)
    codes = [type(a).__name__ for a in update.attributes]
    assert codes.index("MpReachNlri") > 0
    assert encode_message(update, ctx) == wire(name)


def test_vpn_withdrawal_keeps_its_compatibility_field() -> None:
    """gobgp_vpn_8: GoBGP writes the route's label (101) where RFC 8277 §2.4 suggests
    0x800000. The field is ignored for the route's identity but kept, so the withdrawal
    re-encodes as received; a withdrawal we build writes 0x800000."""
    name = "gobgp_vpn_8.json"
    ctx = context(name)
    data = wire(name)
    message = decode_message(data, ctx)
    assert isinstance(message, Update) and message.mp_unreach is not None
    (withdrawn,) = list(message.mp_unreach.withdrawn)
    assert withdrawn.labels == () and withdrawn.compat == 0x000651
    assert withdrawn == dataclasses.replace(withdrawn, compat=None)  # not part of identity
    assert encode_message(message, ctx) == data
    fresh = dataclasses.replace(withdrawn, compat=None)
    assert encode_nlri(fresh, VPNV4, False, withdraw=True)[1:4] == bytes.fromhex("800000")


def test_attribute_flags_survive_reencoding() -> None:
    """Every attribute re-encodes with the flags octet the daemon sent (Extended Length too)."""
    for name in VECTOR_NAMES:
        ctx = context(name)
        message = decode_message(wire(name), ctx)
        if not isinstance(message, Update):
            continue
        sent = {code: flags for code, flags in load(name)["expected"]["attribute_flags"]}
        for attribute in message.attributes:
            encoded = encode_attribute(attribute, ctx)
            assert sent[encoded[1]] == encoded[0], f"{name}: attribute {encoded[1]}"


# -- coverage of the vector set -----------------------------------------------------------


def test_all_vectors_are_covered() -> None:
    params = vector_params("test_decode_matches_expected")
    assert len(params) == len(list(VECTORS.glob("*.json"))) >= 40
    assert sorted(p.values[0] for p in params) == sorted(p.name for p in VECTORS.glob("*.json"))
    for test, name in KNOWN_DIFFERENCES:  # a stale entry would silently mark nothing
        assert name in VECTOR_NAMES, (test, name)
        assert test in globals(), (test, name)


def test_daemons_and_kinds_are_represented() -> None:
    seen = {(load(n)["provenance"]["daemon"].split()[0], load(n)["expected"]["type"])
            for n in VECTOR_NAMES}
    for daemon in ("BIRD", "GoBGP"):
        for kind in ("open", "update", "notification"):
            assert (daemon, kind) in seen, (daemon, kind)
