"""``netlinkbgp route ...``: kernel routes from the shell, through our own codec.

The syntax is a subset of ``ip route``::

    add|del|replace PREFIX [via ADDR] [dev IFNAME] [onlink] [table ID] [metric N] [proto N]
    show [PREFIX] [table ID|all] [proto N]
    flush [table ID|all] proto N
    monitor [--count N]

Text output follows ``ip route``; ``--json`` output uses the key names of ``ip -j route``
(``dst``, ``gateway``, ``dev``, ``protocol``, ``metric``, ``table``...), so scripts can switch.
"""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Iterable, Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from typing import Any, TextIO

from netlinkbgp.codec.constants import NlmFlag, RtmFlag, RtmType, Rtn, Rtprot, RtTable
from netlinkbgp.codec.messages import LinkMessage, Message, RouteMessage
from netlinkbgp.codec.route_requests import RouteSpec
from netlinkbgp.errors import InvalidValueError, NetlinkError
from netlinkbgp.netlink_io import EventSocket, NetlinkSocket, Overrun

__all__ = [
    "OP_FLAGS",
    "Names",
    "format_route",
    "monitor",
    "parse_batch",
    "parse_prefix",
    "parse_route_command",
    "route_json",
    "run_commands",
    "select_routes",
]

#: Table names understood by ``table NAME`` (iproute2's /etc/iproute2/rt_tables defaults).
TABLE_NAMES = {"main": RtTable.RT_TABLE_MAIN, "local": RtTable.RT_TABLE_LOCAL,
               "default": RtTable.RT_TABLE_DEFAULT}
#: Protocol names understood by ``proto NAME`` (iproute2's rt_protos defaults).
PROTO_NAMES = {
    "unspec": 0, "redirect": 1, "kernel": 2, "boot": 3, "static": 4, "ra": 9, "dhcp": 16,
    "zebra": 11, "bird": 12, "bgp": 186, "isis": 187, "ospf": 188, "rip": 189, "eigrp": 192,
}
_PROTO_BY_NUMBER = {v: k for k, v in PROTO_NAMES.items()}
_TABLE_BY_NUMBER = {int(v): k for k, v in TABLE_NAMES.items()}
_TYPE_NAMES = {int(t): t.name[4:].lower() for t in Rtn}
_SCOPE_NAMES = {0: "global", 200: "site", 253: "link", 254: "host", 255: "nowhere"}

_OPS = {"add", "del", "delete", "replace", "change", "append"}


def parse_number(text: str, what: str, names: dict[str, int] | None = None,
                 limit: int = 0xFFFFFFFF) -> int:
    """A decimal (or named) number, range-checked."""
    if names and text in names:
        return int(names[text])
    try:
        value = int(text, 0)
    except ValueError:
        raise InvalidValueError(f"{what} {text!r} is not a number") from None
    if not 0 <= value <= limit:
        raise InvalidValueError(f"{what} {value} is outside 0..{limit}")
    return value


def _address(text: str) -> tuple[int, bytes]:
    """(family, packed) of an address, with inet_pton's speed (batches parse 100k lines)."""
    family = socket.AF_INET6 if ":" in text else socket.AF_INET
    try:
        return family, socket.inet_pton(family, text)
    except OSError:
        raise InvalidValueError(f"{text!r} is not an IP address") from None


_HOST_MASKS = {bits: tuple((1 << (bits - n)) - 1 for n in range(bits + 1)) for bits in (32, 128)}
_inet_pton = socket.inet_pton
_AF_INET = socket.AF_INET
_AF_INET6 = socket.AF_INET6
#: Per family, the prefix-length texts written the usual way ("" for none) -> (length, host
#: mask): a batch line's prefix is checked with one lookup; any other text takes _prefix.
_LENGTHS = {
    family: {"": (bits, 0), **{str(n): (n, mask) for n, mask in enumerate(_HOST_MASKS[bits])}}
    for family, bits in ((_AF_INET, 32), (_AF_INET6, 128))
}


def _prefix(text: str) -> tuple[int, bytes, int]:
    """(family, packed network, length) of ``PREFIX`` in ``ip route`` syntax."""
    address, _, length_text = text.partition("/")
    family = _AF_INET6 if ":" in address else _AF_INET
    try:
        packed = _inet_pton(family, address)
    except OSError:
        if text in ("default", "0/0", "default6", "::/0"):
            v6 = text in ("default6", "::/0")
            return (_AF_INET6, bytes(16), 0) if v6 else (_AF_INET, bytes(4), 0)
        raise InvalidValueError(f"{address!r} is not an IP address") from None
    bits = 32 if family == _AF_INET else 128
    if length_text:
        if not (length_text.isascii() and length_text.isdigit()) or int(length_text) > bits:
            raise InvalidValueError(f"bad prefix length in {text!r}")
        length = int(length_text)
    else:
        length = bits
    if int.from_bytes(packed, "big") & _HOST_MASKS[bits][length]:
        raise InvalidValueError(f"{text!r} has host bits set")
    return family, packed, length


_Options = tuple[bytes | None, int, bool, int, int | None, int]


def parse_route_command(words: Sequence[str], names: Names) -> tuple[str, RouteSpec]:
    """Parse ``OP PREFIX [via ADDR] [dev IFNAME] [onlink] [table ID] [metric N] [proto N]``.

    Returns:
        The operation (``"add"``, ``"del"`` or ``"replace"``) and the route.

    Raises:
        InvalidValueError: an unknown keyword, a bad value or an unknown device; the message
            names it.
    """
    op, family, dst, dst_len = _head(words)
    gateway, oif, onlink, table, metric, protocol = _options(words[2:], family, names)
    return op, RouteSpec(family, dst, dst_len, table, protocol, metric, gateway, oif, onlink)


def _head(words: Sequence[str]) -> tuple[str, int, bytes, int]:
    if not words or words[0] not in _OPS:
        raise InvalidValueError(f"expected add, del or replace, got {' '.join(words)!r}")
    op = _OP_ALIASES.get(words[0], words[0])
    if len(words) < 2:
        raise InvalidValueError(f"{op}: a prefix is required")
    return (op, *_prefix(words[1]))


_OP_ALIASES = {"delete": "del", "change": "replace", "append": "add"}


def _options(words: Sequence[str], family: int, names: Names) -> _Options:
    """The options after the prefix: (gateway, oif, onlink, table, metric, protocol)."""
    gateway: bytes | None = None
    oif = 0
    onlink = False
    table = int(RtTable.RT_TABLE_MAIN)
    metric: int | None = None
    protocol = int(Rtprot.RTPROT_BOOT)
    index = 0
    count = len(words)
    while index < count:
        key = words[index]
        if key == "onlink":
            onlink = True
            index += 1
            continue
        if index + 1 >= count:
            raise InvalidValueError(f"{key!r} needs a value")
        value = words[index + 1]
        index += 2
        if key == "via":
            if value in ("inet", "inet6") and index < count:
                value = words[index]
                index += 1
            gateway_family, gateway = _address(value)
            if gateway_family != family and family == socket.AF_INET6:
                raise InvalidValueError("an IPv6 route cannot have an IPv4 gateway")
        elif key == "dev":
            oif = names.index(value)
        elif key == "table":
            table = parse_number(value, "table", dict(TABLE_NAMES))
            if table == 0:
                raise InvalidValueError("table 0 is not a table")
        elif key in ("metric", "priority", "preference"):
            metric = parse_number(value, "metric")
        elif key in ("proto", "protocol"):
            protocol = parse_number(value, "protocol", PROTO_NAMES, 255)
        else:
            raise InvalidValueError(f"unknown route option {key!r}")
    if onlink and not (gateway and oif):
        raise InvalidValueError("onlink needs both via and dev")
    return gateway, oif, onlink, table, metric, protocol


def parse_batch(
    lines: Iterable[str], names: Names
) -> tuple[list[tuple[int, str, RouteSpec]], list[tuple[int, str]]]:
    """Parse batch lines (``[route] add|del|replace ...``; blanks and ``#`` lines skipped).

    Batches repeat the same options on every line, so each distinct option list is parsed
    once (100,000 lines parse in a fraction of a second).

    Returns:
        ``(commands, problems)``: (line number, op, route) and (line number, error text).
    """
    commands: list[tuple[int, str, RouteSpec]] = []
    problems: list[tuple[int, str]] = []
    seen: dict[tuple[int, str], _Options | str] = {}
    ops = _OPS
    aliases = _OP_ALIASES
    lengths = _LENGTHS
    pton = _inet_pton
    from_bytes = int.from_bytes
    family: int
    for number, line in enumerate(lines, 1):
        # The usual line, ``route OP PREFIX OPTIONS...``, is cut in four at once and its
        # options are looked up by their text; anything else is split word by word.
        parts = line.split(None, 3)
        if len(parts) >= 3 and parts[0] == "route" and parts[1] in ops:
            op = aliases.get(parts[1], parts[1])
            # _prefix, inline for the usual prefix; _prefix itself for anything else (it
            # gives the same result, or the error).
            address, _, length_text = parts[2].partition("/")
            family = _AF_INET6 if ":" in address else _AF_INET
            known = lengths[family].get(length_text)
            dst, dst_len, host = b"", 0, 0
            if known is not None:
                dst_len, host = known
                try:
                    dst = pton(family, address)
                except OSError:
                    dst = b""
            if not dst or from_bytes(dst, "big") & host:
                try:
                    family, dst, dst_len = _prefix(parts[2])
                except InvalidValueError as exc:
                    problems.append((number, str(exc)))
                    continue
            rest = parts[3] if len(parts) == 4 else ""
        else:
            words = line.split()
            if not words or words[0][0] == "#":
                continue
            if words[0] == "route":
                del words[0]
            try:
                op, family, dst, dst_len = _head(words)
            except InvalidValueError as exc:
                problems.append((number, str(exc)))
                continue
            rest = " ".join(words[2:])
        key = (family, rest)
        options = seen.get(key)
        if options is None:
            try:
                options = _options(rest.split(), family, names)
            except InvalidValueError as exc:
                options = str(exc)
            if len(seen) < MAX_CACHED_OPTIONS:
                seen[key] = options
        if isinstance(options, str):
            problems.append((number, options))
            continue
        gateway, oif, onlink, table, metric, protocol = options
        spec = _tuple_new(RouteSpec, (family, dst, dst_len, table, protocol, metric, gateway,
                                      oif, onlink, _UNICAST))
        commands.append((number, op, spec))
    return commands, problems


_tuple_new = tuple.__new__
_UNICAST = int(Rtn.RTN_UNICAST)
#: Distinct option lists remembered while parsing a batch (memory bound for odd files).
MAX_CACHED_OPTIONS = 4096


def parse_prefix(text: str) -> IPv4Network | IPv6Network:
    """``10.0.0.0/24``, ``2001:db8::/32``, a host address, or ``default``/``default6``.

    The same parser as route commands use (:func:`_prefix`), as an ``ipaddress`` network.
    """
    _, packed, length = _prefix(text)
    return ip_network((packed, length))


class Names:
    """Interface index <-> name, from one link dump."""

    def __init__(self, links: Iterable[LinkMessage]) -> None:
        self.by_index = {m.ifindex: m.ifname or str(m.ifindex) for m in links}
        self.by_name = {name: index for index, name in self.by_index.items()}

    def index(self, name: str) -> int:
        """The index of ``name``; raises InvalidValueError when there is no such device."""
        try:
            return self.by_name[name]
        except KeyError:
            raise InvalidValueError(f"no network device named {name!r}") from None

    def name(self, index: int) -> str:
        """The name of interface ``index`` (its number when unknown)."""
        return self.by_index.get(index, f"if{index}")


#: netlink flags per operation (``ip route add`` = create, exclusive; replace = create/replace).
OP_FLAGS = {
    "add": (RtmType.RTM_NEWROUTE, NlmFlag.NLM_F_CREATE | NlmFlag.NLM_F_EXCL),
    "replace": (RtmType.RTM_NEWROUTE, NlmFlag.NLM_F_CREATE | NlmFlag.NLM_F_REPLACE),
    "del": (RtmType.RTM_DELROUTE, 0),
}


async def run_commands(
    nl: NetlinkSocket, commands: Sequence[tuple[int, str, RouteSpec]]
) -> list[tuple[int, NetlinkError]]:
    """Execute (line, op, route) commands, consecutive ones of the same op in one batch.

    Returns:
        The failures: (line number, error), by line.
    """
    failures: list[tuple[int, NetlinkError]] = []
    start = 0
    while start < len(commands):
        op = commands[start][1]
        end = start
        while end < len(commands) and commands[end][1] == op:
            end += 1
        group = commands[start:end]
        msg_type, flags = OP_FLAGS[op]
        results = await nl.routes(msg_type, [c[2] for c in group], flags)
        failures.extend((c[0], r) for c, r in zip(group, results, strict=True) if r)
        start = end
    return failures


def route_json(msg: RouteMessage, names: Names) -> dict[str, Any]:
    """A route as ``ip -j route`` shows it (same key names and value forms)."""
    out: dict[str, Any] = {}
    if msg.type != Rtn.RTN_UNICAST:
        out["type"] = _TYPE_NAMES.get(msg.type, str(msg.type))
    net = msg.dst
    if net.prefixlen == 0:
        out["dst"] = "default"
    elif net.prefixlen == net.max_prefixlen:
        out["dst"] = str(net.network_address)
    else:
        out["dst"] = str(net)
    gateway = msg.gateway
    if gateway is not None:
        out["gateway"] = str(gateway)
    if msg.oif is not None:
        out["dev"] = names.name(msg.oif)
    table = msg.table_id
    if table != RtTable.RT_TABLE_MAIN:
        out["table"] = _TABLE_BY_NUMBER.get(table, str(table))
    # Like `ip`, leave out the defaults: protocol boot and scope global.
    if msg.protocol != Rtprot.RTPROT_BOOT:
        out["protocol"] = _PROTO_BY_NUMBER.get(msg.protocol, str(msg.protocol))
    if msg.scope != 0:
        out["scope"] = _SCOPE_NAMES.get(msg.scope, str(msg.scope))
    if msg.priority is not None:
        out["metric"] = msg.priority
    if msg.prefsrc is not None:
        out["prefsrc"] = str(msg.prefsrc)
    flags = [f for f, bit in (("onlink", RtmFlag.RTNH_F_ONLINK), ("linkdown",
             RtmFlag.RTNH_F_LINKDOWN), ("dead", RtmFlag.RTNH_F_DEAD)) if msg.rtm_flags & bit]
    out["flags"] = flags
    if msg.multipath:
        hops = []
        for hop in msg.multipath:
            entry: dict[str, Any] = {}
            for atype, value in hop.attrs:
                if atype == 5 and isinstance(value, bytes):
                    entry["gateway"] = str(ip_address(value))
            entry["dev"] = names.name(hop.ifindex)
            entry["weight"] = hop.hops + 1
            entry["flags"] = ["onlink"] if hop.flags & RtmFlag.RTNH_F_ONLINK else []
            hops.append(entry)
        out["nexthops"] = hops
    return out


def format_route(msg: RouteMessage, names: Names) -> str:
    """A route as one ``ip route`` line."""
    info = route_json(msg, names)
    words = [info["type"]] if "type" in info else []
    words.append(info["dst"])
    for key, word in (("gateway", "via"), ("dev", "dev"), ("table", "table"),
                      ("protocol", "proto")):
        if key in info:
            words += [word, str(info[key])]
    if "scope" in info:
        words += ["scope", info["scope"]]
    if "prefsrc" in info:
        words += ["src", info["prefsrc"]]
    if "metric" in info:
        words += ["metric", str(info["metric"])]
    words += info["flags"]
    for hop in info.get("nexthops", ()):
        words += ["\n\tnexthop"]
        if "gateway" in hop:
            words += ["via", hop["gateway"]]
        words += ["dev", hop["dev"], "weight", str(hop["weight"]), *hop["flags"]]
    return " ".join(words).replace(" \n", "\n")


def select_routes(
    routes: Iterable[RouteMessage],
    table: int | None,
    protocol: int | None,
    prefix: IPv4Network | IPv6Network | None,
) -> list[RouteMessage]:
    """Filter a dump: ``table`` None = all tables; cloned/cached entries are left out."""
    out = []
    for route in routes:
        if route.rtm_flags & RtmFlag.RTM_F_CLONED:
            continue
        if table is not None and route.table_id != table:
            continue
        if protocol is not None and route.protocol != protocol:
            continue
        if prefix is not None and route.dst != prefix:
            continue
        out.append(route)
    return out


def print_event(msg: Message, names: Names, as_json: bool, out: TextIO = sys.stdout) -> None:
    """One monitor line for a route event."""
    if not isinstance(msg, RouteMessage):
        return
    deleted = msg.msg_type == RtmType.RTM_DELROUTE
    if as_json:
        info = route_json(msg, names)
        info["event"] = "delete" if deleted else "add"
        out.write(json.dumps(info) + "\n")
    else:
        out.write(("Deleted " if deleted else "") + format_route(msg, names) + "\n")
    out.flush()


async def monitor(count: int, as_json: bool, out: TextIO = sys.stdout) -> int:
    """Print route events until ``count`` were printed (0: forever). Returns overruns."""
    async with NetlinkSocket() as nl, EventSocket() as events:
        names = Names(await nl.dump_links())
        seen = 0
        async for batch in events:
            if isinstance(batch, Overrun):
                out.write(json.dumps({"event": "overrun"}) + "\n" if as_json else
                          "Overrun: events were lost; run `route show` to resynchronise\n")
                continue
            for msg in batch:
                if isinstance(msg, LinkMessage) and msg.ifname:
                    names.by_index[msg.ifindex] = msg.ifname
                if isinstance(msg, RouteMessage):
                    print_event(msg, names, as_json, out)
                    seen += 1
                    if count and seen >= count:
                        return events.overruns
    return 0  # pragma: no cover - the event stream does not end
