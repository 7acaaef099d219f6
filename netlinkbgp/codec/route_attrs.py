"""Route attributes on the dump hot path.

A dump of 100,000 routes is 100,000 messages that almost all have the same *shape*: the same
attribute types, sizes and order (the kernel writes them in a fixed order per family). So the
first message of a shape is walked attribute by attribute, and the shape is learned: one
precompiled ``struct`` that unpacks every header and value of the block in one call. Later
messages of the same block length and first header are unpacked with it, and the unpacked
headers are compared with the learned ones, so a message that merely looks similar falls back
to the walk. The result is the same ``(type, value)`` tuple either way.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from netlinkbgp.codec.attrs import Attr, RouteCacheInfo, decode_attrs
from netlinkbgp.codec.constants import Rta
from netlinkbgp.codec.specs import ROUTE_SPEC

__all__ = ["MAX_SHAPES", "RouteShapes", "decode_route_attrs"]

#: Shapes remembered per cache: a routing table has a handful (per family, with or without
#: gateway, metric, preferred source); the bound keeps hostile input from growing it.
MAX_SHAPES = 64

_NLA_HDR = struct.Struct("=HH")
_U32 = struct.Struct("=I")
_RTA_CACHEINFO = struct.Struct("=IIiIIIII")
_tuple_new = tuple.__new__

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


class RouteShapes:
    """Learned route-attribute shapes; give one to :func:`decode_route_attrs` per stream."""

    __slots__ = ("shapes",)

    def __init__(self) -> None:
        self.shapes: dict[int, _Shape | None] = {}

    def learn(self, data: bytes, start: int, end: int) -> _Shape | None:
        """The shape of ``data[start:end]``, or None when it has an attribute we do not inline
        (nested, multipath, unknown, flagged)."""
        fmt = ["="]
        headers: list[int] = []
        types: list[int] = []
        cacheinfo = -1
        offset = start
        while offset < end:
            length, atype = _NLA_HDR.unpack_from(data, offset)
            sizes = _SIMPLE.get(atype)
            code = next((c for size, c in sizes or () if size == length), None)
            if code is None:
                return None
            if atype == _CACHEINFO:
                cacheinfo = len(types)
            fmt += ("I", code)
            headers.append(_U32.unpack(_NLA_HDR.pack(length, atype))[0])
            types.append(atype)
            offset += (length + 3) & ~3
        if offset != end:
            return None
        return _Shape(struct.Struct("".join(fmt)), tuple(headers), tuple(types), cacheinfo)


def decode_route_attrs(data: bytes, start: int, end: int, shapes: RouteShapes) -> tuple[Attr, ...]:
    """``decode_attrs(data, start, end, ROUTE_SPEC)``, fast for the shapes dumps repeat.

    Raises:
        netlinkbgp.errors.DecodeError: as :func:`~netlinkbgp.codec.attrs.decode_attrs`.
    """
    if end - start >= 4:
        key = (end - start) << 32 | _U32.unpack_from(data, start)[0]
        known = shapes.shapes
        if key not in known:
            # First sight of this key: validate the block the slow way, then learn it.
            attrs = decode_attrs(data, start, end, ROUTE_SPEC)
            if len(known) < MAX_SHAPES:
                known[key] = shapes.learn(data, start, end)
            return attrs
        shape = known[key]
        if shape is not None:
            values = shape.unpack.unpack_from(data, start)
            if values[0::2] == shape.headers:
                if shape.cacheinfo < 0:
                    return tuple(zip(shape.types, values[1::2], strict=True))
                found = list(values[1::2])
                at = shape.cacheinfo
                found[at] = _tuple_new(RouteCacheInfo, _RTA_CACHEINFO.unpack(found[at]))
                return tuple(zip(shape.types, found, strict=True))
    return decode_attrs(data, start, end, ROUTE_SPEC)

