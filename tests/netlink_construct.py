"""A second, independent definition of the rtnetlink wire structures, written with `construct`.

Tests use it to cross-check the hand-written codec in ``netlinkbgp.codec``: a hypothesis test
can build a message here and decode it there (and the other way round) and compare plain dicts.
Nothing in this module imports ``netlinkbgp``; the layouts come from the kernel's uapi headers
(``linux/netlink.h``, ``linux/rtnetlink.h``, ``linux/if_addr.h``, ``linux/if_link.h``).

Everything is native byte order (netlink is host-endian), and nothing is ``.compile()``d
(the compiled parser skips length checks).

The plain-dict shape used by every ``parse_*`` / ``build_*`` pair::

    {
        "header": {"len": int, "type": int, "flags": int, "seq": int, "pid": int},
        "fixed":  {...},   # rtmsg / ifaddrmsg / ifinfomsg fields, names as in the vectors
        "attrs":  [{"type": int, "flags": int, "payload": bytes}, ...],   # wire order
    }

``attrs[i]["type"]`` is ``nla_type & NLA_TYPE_MASK`` and ``attrs[i]["flags"]`` the remaining
``NLA_F_NESTED | NLA_F_NET_BYTEORDER`` bits, so nested flags survive a round trip. Builders
recompute ``header["len"]`` (and each ``rta_len``) from the content; any ``len`` given is
ignored. ``fixed`` of ``ifinfomsg`` has no ``pad`` key (it is always written as 0).

Run ``python3 tests/netlink_construct.py`` for a self-test against ``tests/vectors/netlink``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from construct import (
    Bytes,
    Check,
    ConstructError,
    FixedSized,
    GreedyRange,
    Int8un,
    Int16un,
    Int32sn,
    Int32un,
    Optional,
    Padding,
    Struct,
    this,
)

__all__ = [
    "IfAddrMsg",
    "IfInfoMsg",
    "NlMsgHdr",
    "RtAttr",
    "RtMsg",
    "build_address_message",
    "build_link_message",
    "build_route_message",
    "parse_address_message",
    "parse_link_message",
    "parse_route_message",
]

NLA_TYPE_MASK = 0x3FFF  #: ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER), linux/netlink.h
NLA_HDRLEN = 4  #: sizeof(struct nlattr)

#: struct nlmsghdr (linux/netlink.h)
NlMsgHdr: Any = Struct(
    "len" / Int32un,
    "type" / Int16un,
    "flags" / Int16un,
    "seq" / Int32un,
    "pid" / Int32un,
)

#: struct rtmsg (linux/rtnetlink.h)
RtMsg: Any = Struct(
    "family" / Int8un,
    "dst_len" / Int8un,
    "src_len" / Int8un,
    "tos" / Int8un,
    "table" / Int8un,
    "protocol" / Int8un,
    "scope" / Int8un,
    "type" / Int8un,
    "flags" / Int32un,
)

#: struct ifaddrmsg (linux/if_addr.h)
IfAddrMsg: Any = Struct(
    "family" / Int8un,
    "prefixlen" / Int8un,
    "flags" / Int8un,
    "scope" / Int8un,
    "index" / Int32un,
)

#: struct ifinfomsg (linux/rtnetlink.h): the byte after ifi_family is padding.
IfInfoMsg: Any = Struct(
    "family" / Int8un,
    "pad" / Int8un,
    "type" / Int16un,
    "index" / Int32sn,
    "flags" / Int32un,
    "change" / Int32un,
)

#: struct rtattr + payload + padding to 4 bytes. The padding of the very last attribute may be
#: missing from nlmsg_len (RTA_ALIGN is applied between attributes, not required at the end),
#: hence Optional: at the end of the bounded stream it parses to None instead of failing.
RtAttr: Any = Struct(
    "len" / Int16un,
    Check(this.len >= NLA_HDRLEN),
    "type" / Int16un,
    "payload" / Bytes(this.len - NLA_HDRLEN),
    "pad" / Optional(Padding(lambda ctx: -ctx.len % 4)),
)


def _message(fixed: Any) -> Any:
    """Header + fixed part + TLVs, the TLV area bounded by nlmsg_len."""
    return Struct(
        "header" / NlMsgHdr,
        Check(this.header.len >= NlMsgHdr.sizeof() + fixed.sizeof()),
        "fixed" / fixed,
        "attrs"
        / FixedSized(this.header.len - NlMsgHdr.sizeof() - fixed.sizeof(), GreedyRange(RtAttr)),
    )


#: whole RTM_NEWROUTE / RTM_DELROUTE / RTM_GETROUTE message
RouteMessage: Any = _message(RtMsg)
#: whole RTM_NEWADDR / RTM_DELADDR / RTM_GETADDR message
AddressMessage: Any = _message(IfAddrMsg)
#: whole RTM_NEWLINK / RTM_DELLINK / RTM_GETLINK message
LinkMessage: Any = _message(IfInfoMsg)


def _align4(n: int) -> int:
    return (n + 3) & ~3


def _plain(container: Any, names: list[str]) -> dict[str, int]:
    """Copy named fields out of a Container into a plain dict of ints."""
    return {name: int(container[name]) for name in names}


_HEADER_FIELDS = ["len", "type", "flags", "seq", "pid"]
_FIELDS = {
    "route": ["family", "dst_len", "src_len", "tos", "table", "protocol", "scope", "type", "flags"],
    "addr": ["family", "prefixlen", "flags", "scope", "index"],
    "link": ["family", "type", "index", "flags", "change"],
}


def _parse(struct_: Any, kind: str, data: bytes) -> dict[str, Any]:
    try:
        c = struct_.parse(data)
    except ConstructError as exc:
        raise ValueError(f"{kind} message does not parse: {exc}") from exc
    length = int(c.header.len)
    if length > len(data):
        raise ValueError(f"nlmsg_len {length} > {len(data)} bytes of data")
    attrs = [
        {"type": a.type & NLA_TYPE_MASK, "flags": a.type & ~NLA_TYPE_MASK, "payload": a.payload}
        for a in c.attrs
    ]
    # GreedyRange stops quietly at the first TLV it cannot parse, so check that the TLVs
    # (each counted with its padding) cover nlmsg_len; only the last padding may be missing.
    fixed_size = NlMsgHdr.sizeof() + _fixed_struct(kind).sizeof()
    consumed = fixed_size + sum(_align4(NLA_HDRLEN + len(a["payload"])) for a in attrs)
    if not length <= consumed <= length + 3:
        raise ValueError(f"TLVs end at {consumed}, nlmsg_len is {length}")
    return {
        "header": _plain(c.header, _HEADER_FIELDS),
        "fixed": _plain(c.fixed, _FIELDS[kind]),
        "attrs": attrs,
    }


def _fixed_struct(kind: str) -> Any:
    return {"route": RtMsg, "addr": IfAddrMsg, "link": IfInfoMsg}[kind]


def _build(struct_: Any, kind: str, d: dict[str, Any]) -> bytes:
    fixed = {name: int(d["fixed"][name]) for name in _FIELDS[kind]}
    if kind == "link":
        fixed["pad"] = 0
    attrs: list[dict[str, Any]] = []
    for a in d["attrs"]:
        payload = bytes(a["payload"])
        rtype = int(a["type"]) | int(a.get("flags", 0))
        attrs.append({"len": NLA_HDRLEN + len(payload), "type": rtype, "payload": payload})
    size = NlMsgHdr.sizeof() + _fixed_struct(kind).sizeof()
    size += sum(_align4(a["len"]) for a in attrs)
    header = {name: int(d["header"][name]) for name in _HEADER_FIELDS if name != "len"}
    header["len"] = size
    try:
        return bytes(struct_.build({"header": header, "fixed": fixed, "attrs": attrs}))
    except ConstructError as exc:
        raise ValueError(f"{kind} message does not build: {exc}") from exc


def parse_route_message(data: bytes) -> dict[str, Any]:
    """One whole route message (nlmsghdr + rtmsg + TLVs) -> plain dict (see module doc).

    Raises:
        ValueError: truncated data, nlmsg_len too small, or TLVs that do not fill nlmsg_len.
    """
    return _parse(RouteMessage, "route", data)


def build_route_message(d: dict[str, Any]) -> bytes:
    """Plain dict (as returned by parse_route_message) -> bytes; lengths are recomputed."""
    return _build(RouteMessage, "route", d)


def parse_address_message(data: bytes) -> dict[str, Any]:
    """One whole address message (nlmsghdr + ifaddrmsg + TLVs) -> plain dict."""
    return _parse(AddressMessage, "addr", data)


def build_address_message(d: dict[str, Any]) -> bytes:
    """Plain dict (as returned by parse_address_message) -> bytes."""
    return _build(AddressMessage, "addr", d)


def parse_link_message(data: bytes) -> dict[str, Any]:
    """One whole link message (nlmsghdr + ifinfomsg + TLVs) -> plain dict."""
    return _parse(LinkMessage, "link", data)


def build_link_message(d: dict[str, Any]) -> bytes:
    """Plain dict (as returned by parse_link_message) -> bytes."""
    return _build(LinkMessage, "link", d)


def vector_attrs(d: dict[str, Any]) -> list[list[Any]]:
    """The attrs of a parsed dict in the vector-file form [type, hex(, flags)]."""
    out: list[list[Any]] = []
    for a in d["attrs"]:
        entry: list[Any] = [a["type"], a["payload"].hex()]
        if a["flags"]:
            entry.append(a["flags"])
        out.append(entry)
    return out


def _self_test(directory: Path) -> int:
    """Parse every route/addr/link vector, compare with `expected`, and rebuild byte for byte."""
    parsers = {
        "route": (parse_route_message, build_route_message),
        "addr": (parse_address_message, build_address_message),
        "link": (parse_link_message, build_link_message),
    }
    failures = 0
    checked = 0
    for path in sorted(directory.glob("*.json")):
        doc = json.loads(path.read_text())
        if not isinstance(doc, dict) or "expected" not in doc:
            continue  # e.g. events_log.json
        expected = doc["expected"]
        if expected["kind"] not in parsers:
            continue
        parse, build = parsers[expected["kind"]]
        data = bytes.fromhex(doc["hex"])
        got = parse(data)
        problems = []
        if got["header"] != expected["header"]:
            problems.append(f"header {got['header']} != {expected['header']}")
        if got["fixed"] != expected["fixed"]:
            problems.append(f"fixed {got['fixed']} != {expected['fixed']}")
        if vector_attrs(got) != expected["attrs"]:
            problems.append("attrs differ")
        if build(got) != data:
            problems.append("build(parse(hex)) != hex")
        checked += 1
        if problems:
            failures += 1
            print(f"FAIL {path.name}: {'; '.join(problems)}")
    print(f"{checked} vectors checked, {failures} failed")
    return 1 if failures or not checked else 0


if __name__ == "__main__":
    sys.exit(_self_test(Path(__file__).resolve().parent / "vectors" / "netlink"))
