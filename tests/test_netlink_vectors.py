"""Kernel-captured rtnetlink vectors (tests/vectors/netlink), and the independent construct
definition of the fixed headers (tests/netlink_construct.py) checked against our codec."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from netlinkbgp.codec import (
    AddressMessage,
    DoneMessage,
    ErrorMessage,
    LinkMessage,
    RouteMessage,
    decode_messages,
    encode_message,
)
from netlinkbgp.codec.attrs import Attr, Spec, encode_attrs
from netlinkbgp.codec.specs import ADDR_SPEC, ERR_SPEC, LINK_SPEC, ROUTE_SPEC
from netlinkbgp.errors import DecodeError
from tests import netlink_construct as nc
from tests import strategies as s

VECTORS = Path(__file__).parent / "vectors" / "netlink"
FILES = sorted(p for p in VECTORS.glob("*.json") if p.name != "events_log.json")
FIXED = {
    RouteMessage: ("family", "dst_len", "src_len", "tos", "table", "protocol", "scope", "type",
                   ("flags", "rtm_flags")),
    LinkMessage: ("family", ("type", "ifi_type"), ("index", "ifindex"), ("flags", "ifi_flags"),
                  "change"),
    AddressMessage: ("family", "prefixlen", ("flags", "ifa_flags"), "scope",
                     ("index", "ifindex")),
}
#: Vectors that are deliberately malformed requests (sent to provoke a kernel error): we refuse
#: them as the kernel does.
MALFORMED = {"request_route_v4_bad_attr_len": "wants 4 bytes, has 2"}
SPECS: dict[type, Spec] = {RouteMessage: ROUTE_SPEC, LinkMessage: LINK_SPEC,
                           AddressMessage: ADDR_SPEC, ErrorMessage: ERR_SPEC,
                           DoneMessage: ERR_SPEC}


def _wire_attrs(attrs: tuple[Attr, ...], spec: Spec) -> list[list[Any]]:
    """Our decoded attributes back in the vector form: [type, payload hex(, flag bits)]."""
    out: list[list[Any]] = []
    for atype, value in attrs:
        wire = encode_attrs(((atype, value),), spec)
        length = struct.unpack_from("=H", wire)[0]
        entry: list[Any] = [atype & 0x3FFF, wire[4:length].hex()]
        if atype & 0xC000:
            entry.append(atype & 0xC000)
        out.append(entry)
    return out


def test_there_are_vectors_of_every_kind() -> None:
    kinds = {json.loads(p.read_text())["expected"]["kind"] for p in FILES}
    assert {"route", "link", "addr", "error", "done"} <= kinds
    assert len(FILES) >= 40


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_vector_decodes_and_reencodes_byte_for_byte(path: Path) -> None:
    vector = json.loads(path.read_text())
    assert vector["provenance"]["kernel"] and vector["provenance"]["setup"] is not None
    data = bytes.fromhex(vector["hex"])
    expected = vector["expected"]
    if path.stem in MALFORMED:
        with pytest.raises(DecodeError, match=MALFORMED[path.stem]):
            decode_messages(data)
        return
    (msg,) = decode_messages(data)
    header = expected["header"]
    assert (msg.flags, msg.seq, msg.pid) == (header["flags"], header["seq"], header["pid"])
    assert encode_message(msg) == data
    if type(msg) in FIXED and "fixed" in expected:
        assert msg.msg_type == header["type"]
        for name in FIXED[type(msg)]:
            theirs, ours = (name, name) if isinstance(name, str) else name
            assert getattr(msg, ours) == expected["fixed"][theirs], name
    if isinstance(msg, ErrorMessage):
        assert msg.error == expected["fixed"]["error"]
        request = expected["request_header"]
        assert struct.unpack_from("=IHHII", msg.request) == (
            request["len"], request["type"], request["flags"], request["seq"], request["pid"])
        assert msg.request[16:].hex() == expected["request_payload"]
        text = expected["summary"].get("ext_ack_msg")
        assert msg.extack == (text or "")
    if isinstance(msg, DoneMessage) and "error" in expected.get("fixed", {}):
        assert msg.error == expected["fixed"]["error"]
    if "attrs" in expected:
        assert _wire_attrs(msg.attrs, SPECS[type(msg)]) == expected["attrs"]


def _summary_checks(msg: Any, summary: dict[str, Any]) -> None:
    if isinstance(msg, RouteMessage):
        if "gateway" in summary:
            assert str(msg.gateway) == summary["gateway"]
        if "metric" in summary:
            assert msg.priority == summary["metric"]
    if isinstance(msg, LinkMessage) and "ifname" in summary:
        assert msg.ifname == summary["ifname"]
    if isinstance(msg, AddressMessage) and "local" in summary:
        assert str(msg.address) == summary["local"]


@pytest.mark.parametrize("path", [p for p in FILES if not p.stem.startswith(("error", "done"))],
                         ids=lambda p: p.stem)
def test_vector_views_agree_with_ip(path: Path) -> None:
    if path.stem in MALFORMED:
        return
    vector = json.loads(path.read_text())
    (msg,) = decode_messages(bytes.fromhex(vector["hex"]))
    _summary_checks(msg, vector["expected"].get("summary", {}))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_every_truncation_of_a_vector_raises_decode_error(path: Path) -> None:
    data = bytes.fromhex(json.loads(path.read_text())["hex"])
    length = struct.unpack_from("=I", data)[0]
    for cut in range(1, length):
        with pytest.raises(DecodeError):
            decode_messages(data[:cut])


# -- the independent construct definition ------------------------------------------------------

_PARSERS = {RouteMessage: nc.parse_route_message, AddressMessage: nc.parse_address_message,
            LinkMessage: nc.parse_link_message}
_BUILDERS = {RouteMessage: nc.build_route_message, AddressMessage: nc.build_address_message,
             LinkMessage: nc.build_link_message}


def _agree(msg: Any) -> None:
    data = encode_message(msg)
    parsed = _PARSERS[type(msg)](data)
    assert parsed["header"] == {"len": struct.unpack_from("=I", data)[0], "type": msg.msg_type,
                                "flags": msg.flags, "seq": msg.seq, "pid": msg.pid}
    for name in FIXED[type(msg)]:
        theirs, ours = (name, name) if isinstance(name, str) else name
        assert parsed["fixed"][theirs] == getattr(msg, ours)
    wire = [[a["type"], a["payload"].hex()] + ([a["flags"]] if a["flags"] else [])
            for a in parsed["attrs"]]
    assert wire == _wire_attrs(msg.attrs, SPECS[type(msg)])
    assert _BUILDERS[type(msg)](parsed) == data
    assert decode_messages(_BUILDERS[type(msg)](parsed)) == [msg]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(s.route_message | s.address_message | s.link_message)
def test_construct_definition_agrees_on_generated_messages(msg: Any) -> None:
    _agree(msg)


@pytest.mark.parametrize("path", [p for p in FILES if p.stem not in MALFORMED and json.loads(
    p.read_text())["expected"]["kind"] in ("route", "addr", "link")], ids=lambda p: p.stem)
def test_construct_definition_agrees_on_vectors(path: Path) -> None:
    (msg,) = decode_messages(bytes.fromhex(json.loads(path.read_text())["hex"]))
    _agree(msg)
