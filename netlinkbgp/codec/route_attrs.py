"""Route attributes on the dump hot path.

A dump of 100,000 routes is 100,000 messages that almost all have the same *shape*: the same
attribute types, sizes and order (the kernel writes them in a fixed order per family). So the
first message of a shape is walked attribute by attribute, and the shape is learned: one
precompiled ``struct`` that unpacks every header and value of the block in one call. Later
messages of the same block length and first header are unpacked with it, and the unpacked
headers are compared with the learned ones, so a message that merely looks similar falls back
to the walk. The result is the same ``(type, value)`` tuple either way.

Within a shape, the routes of a dump usually differ only by destination: same table, gateway,
interface, metric. So each shape also remembers, by the block's bytes *outside* the RTA_DST
value, the pairs already decoded before and after RTA_DST. Equal bytes decode to equal
values, so a hit needs no unpacking and no header check (the headers are part of the key), and
it shares those pairs instead of building new ones: a dump creates a third of the tuples, and
the garbage collector has a third of them to walk.
"""

from __future__ import annotations

import struct
from typing import Any, NamedTuple

from netlinkbgp.codec.attrs import Attr, RouteCacheInfo, decode_attrs
from netlinkbgp.codec.constants import Rta
from netlinkbgp.codec.specs import ROUTE_SPEC

__all__ = ["MAX_BLOCKS", "MAX_SHAPES", "RouteShapes", "decode_route_attrs"]

#: Shapes remembered per cache: a routing table has a handful (per family, with or without
#: gateway, metric, preferred source); the bound keeps hostile input from growing it.
MAX_SHAPES = 64

_NLA_HDR = struct.Struct("=HH")
_U32 = struct.Struct("=I")
_RTA_CACHEINFO = struct.Struct("=IIiIIIII")
_tuple_new = tuple.__new__
_unpack_u32 = _U32.unpack_from
_unpack_cache = _RTA_CACHEINFO.unpack
#: Attribute blocks remembered per shape (by their bytes outside RTA_DST): one per distinct
#: (gateway, interface, metric...) of a table, where a few dozen are usual. A shape whose
#: remembered blocks fill up stops remembering (and looking up).
MAX_BLOCKS = 256
_DST = int(Rta.RTA_DST)
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


class _Shape(NamedTuple):
    unpack: struct.Struct
    headers: tuple[int, ...]  # each attribute's header as one u32 (len | type << 16)
    types: tuple[int, ...]
    cacheinfo: int  # position of RTA_CACHEINFO among the values, or -1
    dst: int  # position of RTA_DST among the values, or -1
    dst_at: int  # offset of RTA_DST's value in the block
    dst_size: int  # its length


class RouteShapes:
    """Learned route-attribute shapes; give one to :func:`decode_route_attrs` per stream."""

    __slots__ = ("shapes",)

    def __init__(self) -> None:
        #: block length << 32 | first header -> (unpack_from, headers, types, cacheinfo index,
        #: RTA_DST index, its value's offset and end in the block, remembered blocks or None),
        #: or () for a block we do not inline.
        self.shapes: dict[int, tuple[Any, ...]] = {}

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
                    learned.dst_at + learned.dst_size, {} if learned.dst >= 0 else None)
            return attrs
        if shape:
            unpack, headers, types, cacheinfo, dst, dst_at, dst_end, blocks = shape
            if blocks is not None:
                low = start + dst_at
                high = start + dst_end
                block = data[start:low] + data[high:end]
                halves: tuple[tuple[Attr, ...], tuple[Attr, ...]] | None = blocks.get(block)
                if halves is not None:
                    return halves[0] + ((_DST, data[low:high]),) + halves[1]
            values = unpack(data, start)
            if values[0::2] == headers:
                if cacheinfo < 0:
                    attrs = tuple(zip(types, values[1::2]))  # noqa: B905 - equal by construction
                else:
                    found = list(values[1::2])
                    found[cacheinfo] = _tuple_new(RouteCacheInfo, _unpack_cache(found[cacheinfo]))
                    attrs = tuple(zip(types, found))  # noqa: B905
                if blocks is not None:
                    if len(blocks) < MAX_BLOCKS:
                        blocks[block] = (attrs[:dst], attrs[dst + 1 :])
                    else:  # too many distinct blocks to be worth remembering
                        known[key] = (*shape[:-1], None)
                return attrs
    return decode_attrs(data, start, end, ROUTE_SPEC)
