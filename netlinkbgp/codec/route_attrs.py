"""Route attributes on the dump hot path.

A dump of 100,000 routes is 100,000 messages that almost all have the same *shape*: the same
attribute types, sizes and order (the kernel writes them in a fixed order per family). So the
first message of a shape is walked attribute by attribute, and the shape is learned: one
precompiled ``struct`` that unpacks every header and value of the block in one call. Later
messages of the same block length and first header are unpacked with it, and the unpacked
headers are compared with the learned ones, so a message that merely looks similar falls back
to the walk. The result is the same ``(type, value)`` tuple either way.

Within a dump, routes usually differ only by destination: same header, table, gateway,
interface, metric. So the message decoded last for each distinct rest (the message's bytes
*outside* the RTA_DST value, netlink header and ``rtmsg`` included) is remembered as a
:class:`Template`: its fixed fields and its attribute pairs before and after RTA_DST. Equal
bytes decode to equal values, so a message that matches a template needs no unpacking and no
check (the headers are part of the key), and shares those pairs instead of building new ones.
And as a dump of routes through one gateway is one long run of such messages,
:meth:`RouteShapes.run` takes in the whole run at once.
"""

from __future__ import annotations

import struct
from typing import Any, NamedTuple

from netlinkbgp.codec.attrs import Attr, RouteCacheInfo, decode_attrs
from netlinkbgp.codec.constants import Rta
from netlinkbgp.codec.specs import ROUTE_SPEC

__all__ = ["MAX_SHAPES", "MAX_TEMPLATES", "RouteShapes", "Template", "decode_route_attrs"]

#: Shapes remembered per cache: a routing table has a handful (per family, with or without
#: gateway, metric, preferred source); the bound keeps hostile input from growing it.
MAX_SHAPES = 64

_NLA_HDR = struct.Struct("=HH")
_U32 = struct.Struct("=I")
_RTA_CACHEINFO = struct.Struct("=IIiIIIII")
_tuple_new = tuple.__new__
_unpack_u32 = _U32.unpack_from
_unpack_cache = _RTA_CACHEINFO.unpack
#: Templates remembered per dump: one per distinct (gateway, interface, metric...) of a table,
#: where a few dozen are usual. Past this many, a dump stops remembering and looking up.
MAX_TEMPLATES = 1024
_DST = int(Rta.RTA_DST)
#: Messages of a run compared one by one before comparing them in groups.
_SHORT_RUN = 4
#: Marks a key not seen yet (distinct from (), a key seen and not inlinable).
_UNSEEN: tuple[Any, ...] = (None,)

#: Attributes a shape may hold: type -> (wire length, struct code of the value).
_SIMPLE = (
    {int(t): ((8, "I"),) for t in (Rta.RTA_TABLE, Rta.RTA_OIF, Rta.RTA_PRIORITY, Rta.RTA_IIF,
                                    Rta.RTA_MARK)}
    | {int(t): ((8, "4s"), (20, "16s")) for t in (Rta.RTA_DST, Rta.RTA_GATEWAY, Rta.RTA_PREFSRC,
                                                   Rta.RTA_SRC)}
    | {int(Rta.RTA_PREF): ((5, "B3x"),), int(Rta.RTA_CACHEINFO): ((36, "32s"),)}
)
_CACHEINFO = int(Rta.RTA_CACHEINFO)
#: Where a route message's attributes start: nlmsghdr (16) + rtmsg (12).
_RTMSG_END = 28


class _Shape(NamedTuple):
    unpack: struct.Struct
    headers: tuple[int, ...]  # each attribute's header as one u32 (len | type << 16)
    types: tuple[int, ...]
    cacheinfo: int  # position of RTA_CACHEINFO among the values, or -1
    dst: int  # position of RTA_DST among the values, or -1
    dst_at: int  # offset of RTA_DST's value in the block
    dst_size: int  # its length


class Template(NamedTuple):
    """A decoded route message, remembered to decode the ones equal to it but for RTA_DST."""

    fields: tuple[Any, ...]  # the RouteMessage fields but the attributes
    before: tuple[Attr, ...]  # the attribute pairs before RTA_DST
    after: tuple[Attr, ...]  # and after it
    head: bytes  # the message's bytes before RTA_DST's value
    tail: bytes  # and after it
    cut: Any  # struct.Struct(...).iter_unpack: the RTA_DST values of a run of such messages


class RouteShapes:
    """Learned route-attribute shapes and remembered route messages; keep one per socket.

    :func:`netlinkbgp.codec.messages.decode_messages` looks a route message up in
    :attr:`templates` (by its bytes outside RTA_DST, cut where :attr:`cuts` says for its
    length), takes in the run of like messages after it with :meth:`run`, and on a miss
    decodes it (:func:`decode_route_attrs`) and gives it to :meth:`remember`.
    """

    __slots__ = ("cuts", "seq", "shapes", "templates")

    def __init__(self) -> None:
        #: attribute block length << 32 | first header -> (unpack_from, headers, types,
        #: cacheinfo index, RTA_DST index, its value's offset and end in the block), or () for
        #: a block we do not inline.
        self.shapes: dict[int, tuple[Any, ...]] = {}
        #: message length -> where RTA_DST's value starts and ends in the message remembered
        #: last with that length. A message of that length whose RTA_DST is elsewhere cannot
        #: match a template cut there: the attribute headers are part of the key.
        self.cuts: dict[int, tuple[int, int]] = {}
        #: the message's bytes but nlmsg_len and RTA_DST's value -> its template.
        self.templates: dict[bytes, Template] = {}
        #: The sequence number of the remembered messages (the netlink header is part of a
        #: template, so each dump starts afresh and templates never pile up across dumps).
        self.seq = -1

    def learn(self, data: bytes, start: int, end: int) -> _Shape | None:
        """The shape of ``data[start:end]``, or None when it has an attribute we do not inline
        (nested, multipath, unknown, flagged)."""
        fmt = ["="]
        headers: list[int] = []
        types: list[int] = []
        cacheinfo = dst = -1
        dst_at = dst_size = 0
        offset = start
        while offset < end:
            length, atype = _NLA_HDR.unpack_from(data, offset)
            sizes = _SIMPLE.get(atype)
            code = next((c for size, c in sizes or () if size == length), None)
            if code is None:
                return None
            if atype == _CACHEINFO:
                cacheinfo = len(types)
            elif atype == _DST:
                dst, dst_at, dst_size = len(types), offset + 4 - start, length - 4
            fmt += ("I", code)
            headers.append(_U32.unpack(_NLA_HDR.pack(length, atype))[0])
            types.append(atype)
            offset += (length + 3) & ~3
        if offset != end:
            return None
        return _Shape(struct.Struct("".join(fmt)), tuple(headers), tuple(types), cacheinfo,
                      dst, dst_at, dst_size)

    @staticmethod
    def run(data: bytes, offset: int, length: int, template: Template) -> list[bytes]:
        """The RTA_DST values of the run of messages like ``template`` from ``offset`` on.

        The caller has found that the message at ``offset`` and the one after it match the
        template (both ``length`` bytes long, a multiple of 4). The run grows one message at a
        time up to four, then by galloping: 8, 16, 32... messages at a time, their
        destinations cut out by one ``struct.iter_unpack``, the expected bytes rebuilt around
        them and compared whole, and the first unequal group is bisected. A run costs about
        its own length.
        """
        head, tail, cut = template.head, template.tail, template.cut
        low = len(head)
        high = length - len(tail)
        dsts = [data[offset + low : offset + high]]
        available = (len(data) - offset) // length
        # Short runs (a table through several gateways) end sooner than a group would.
        at = offset + length
        while len(dsts) < min(_SHORT_RUN, available) and data[at : at + low] == head \
                and data[at + high : at + length] == tail:
            dsts.append(data[at + low : at + high])
            at += length
        if len(dsts) < _SHORT_RUN:
            return dsts
        step = 8
        joint = tail + head
        while len(dsts) < available:
            count = len(dsts)
            more = min(step, available - count)
            found = data[offset + count * length : offset + (count + more) * length]
            cuts = [d for (d,) in cut(found)]
            expected = head + joint.join(cuts) + tail
            if expected == found:
                dsts += cuts
                step *= 2
                continue
            good, bad = 0, more  # the first `good` messages of the group are equal
            while bad - good > 1:
                middle = (good + bad) // 2
                if expected[: middle * length] == found[: middle * length]:
                    good = middle
                else:
                    bad = middle
            dsts += cuts[:good]
            break
        return dsts

    def remember(self, data: bytes, offset: int, end: int, fields: tuple[Any, ...]) -> None:
        """Remember the decoded route message ``data[offset:end]`` (its ``RouteMessage``
        fields, attributes last) as a template."""
        templates = self.templates
        if fields[2] != self.seq:
            self.seq = fields[2]
            templates.clear()
        if len(templates) >= MAX_TEMPLATES:
            # A dump of that many distinct messages (expiry timers, one gateway per route)
            # gains nothing from templates: stop looking them up until the next dump.
            self.cuts.clear()
            return
        if end - offset < _RTMSG_END + 4:
            return
        shape = self.shapes.get((end - offset - _RTMSG_END) << 32
                                | _unpack_u32(data, offset + _RTMSG_END)[0])
        if not shape or shape[4] < 0:
            return
        low = _RTMSG_END + shape[5]
        high = _RTMSG_END + shape[6]
        if end - offset not in self.cuts and len(self.cuts) >= MAX_SHAPES:
            return
        self.cuts[end - offset] = (low, high)
        attrs = fields[-1]
        dst = shape[4]
        tail = data[offset + high : end]
        templates[data[offset + 4 : offset + low] + tail] = Template(
            fields[:-1], attrs[:dst], attrs[dst + 1 :], data[offset : offset + low], tail,
            struct.Struct(f"={low}x{high - low}s{end - offset - high}x").iter_unpack)
        if len(templates) >= MAX_TEMPLATES:
            self.cuts.clear()


def decode_route_attrs(data: bytes, start: int, end: int, shapes: RouteShapes) -> tuple[Attr, ...]:
    """``decode_attrs(data, start, end, ROUTE_SPEC)``, fast for the shapes dumps repeat.

    Raises:
        netlinkbgp.errors.DecodeError: as :func:`~netlinkbgp.codec.attrs.decode_attrs`.
    """
    size = end - start
    if size >= 4:
        key = size << 32 | _unpack_u32(data, start)[0]
        known = shapes.shapes
        shape = known.get(key, _UNSEEN)
        if shape is _UNSEEN:
            # First sight of this key: validate the block the slow way, then learn it.
            attrs = decode_attrs(data, start, end, ROUTE_SPEC)
            if len(known) < MAX_SHAPES:
                learned = shapes.learn(data, start, end)
                known[key] = () if learned is None else (
                    learned.unpack.unpack_from, learned.headers, learned.types,
                    learned.cacheinfo, learned.dst, learned.dst_at,
                    learned.dst_at + learned.dst_size)
            return attrs
        if shape:
            unpack, headers, types, cacheinfo = shape[:4]
            values = unpack(data, start)
            if values[0::2] == headers:
                if cacheinfo < 0:
                    return tuple(zip(types, values[1::2]))  # noqa: B905 - equal by construction
                found = list(values[1::2])
                found[cacheinfo] = _tuple_new(RouteCacheInfo, _unpack_cache(found[cacheinfo]))
                return tuple(zip(types, found))  # noqa: B905
    return decode_attrs(data, start, end, ROUTE_SPEC)
