"""Packing a RIB back into UPDATE messages, grouping prefixes by interned attribute set.

Every prefix whose best path is the same :class:`~netlinkbgp.bgp.rib.Path` object goes out
under one attribute block, cut into as few messages as fit. For IPv4/IPv6 unicast the block
is the one received (re-sent byte for byte when the session has the same AS width, encoded
from the decoded attributes otherwise) and the NLRI are written straight from the integer
keys; other families (labelled, VPN) and ADD-PATH sessions go through
:func:`~netlinkbgp.bgp.packing.pack_updates`.

Policy (next hop self, AS_PATH prepend, attribute filtering) is the speaker's business: this
module packs paths as they are stored.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator

from netlinkbgp.bgp.attributes import encode_attribute
from netlinkbgp.bgp.capabilities import Negotiated
from netlinkbgp.bgp.constants import HEADER_SIZE, MARKER, MessageType
from netlinkbgp.bgp.nlri import IPV4_UNICAST, IPV6_UNICAST, Family
from netlinkbgp.bgp.packing import pack_updates
from netlinkbgp.bgp.rib import LocRib, Path
from netlinkbgp.bgp.rib_wire import encode_unicast_keys
from netlinkbgp.errors import LocalProtocolError

__all__ = ["pack_loc_rib", "pack_paths"]

_HEADER = struct.Struct("!16sHB")
_U16 = struct.Struct("!H")
_MP_HEAD = struct.Struct("!HBB")
#: MP_REACH_NLRI flags: optional, non-transitive, Extended Length (RFC 4760 §3).
_MP_FLAGS = 0x90
_MP_REACH = 14
_UPDATE = int(MessageType.UPDATE)


def _block(path: Path, ctx: Negotiated) -> bytes:
    """The attribute block of ``path`` for a session with context ``ctx``."""
    raw = path.raw
    if raw is not None and path.ctx.asn4 == ctx.asn4:
        return raw
    return b"".join(encode_attribute(a, ctx) for a in path.attributes)


def _chunks(encoded: list[bytes], room: int) -> Iterator[bytes]:
    total = sum(map(len, encoded))
    if total <= room:  # the common case: the whole group fits one message
        yield b"".join(encoded)
        return
    current: list[bytes] = []
    size = 0
    for item in encoded:
        if size + len(item) > room and current:
            yield b"".join(current)
            current, size = [], 0
        current.append(item)
        size += len(item)
    if current:
        yield b"".join(current)


def pack_paths(family: Family, path: Path, keys: list[int], ctx: Negotiated) -> list[bytes]:
    """UPDATEs announcing ``keys`` of ``family`` with the attributes of ``path``.

    Args:
        family: the family of the keys.
        path: the path they share.
        keys: prefix keys (see :func:`~netlinkbgp.bgp.rib.prefix_key`).
        ctx: the session the messages are for.

    Returns:
        Whole UPDATE messages, header included.

    Raises:
        LocalProtocolError: the attributes cannot be encoded for ``ctx`` or do not fit.
    """
    block = _block(path, ctx)
    fast = family in (IPV4_UNICAST, IPV6_UNICAST) and family not in ctx.add_path_send
    if not fast:
        path_id = 1 if family in ctx.add_path_send else None  # the best path only: one id
        nlri = []
        for key in keys:
            n = path.nlri(family, key)
            nlri.append(type(n)(n.afi, n.value, n.length, path_id, n.rd, n.labels))
        return pack_updates(path.attributes, nlri, ctx, family, next_hops=path.next_hops)
    room = ctx.max_message_size - HEADER_SIZE - 4 - len(block)
    out: list[bytes] = []
    if family == IPV4_UNICAST:
        head = b"\x00\x00" + _U16.pack(len(block)) + block
        for chunk in _chunks(encode_unicast_keys(keys, 32), room):
            body = head + chunk
            out.append(_HEADER.pack(MARKER, HEADER_SIZE + len(body), _UPDATE) + body)
        return out
    nh = path.next_hop_raw
    mp_head = _MP_HEAD.pack(family.afi, family.safi, len(nh)) + nh + b"\x00"
    room -= 4 + len(mp_head)
    if room <= 0:
        raise LocalProtocolError("the attributes leave no room for NLRI")
    for chunk in _chunks(encode_unicast_keys(keys, 128), room):
        value = mp_head + chunk
        attrs = bytes((_MP_FLAGS, _MP_REACH)) + _U16.pack(len(value)) + value + block
        body = b"\x00\x00" + _U16.pack(len(attrs)) + attrs
        out.append(_HEADER.pack(MARKER, HEADER_SIZE + len(body), _UPDATE) + body)
    return out


def pack_loc_rib(
    rib: LocRib, ctx: Negotiated, families: Iterable[Family] | None = None
) -> Iterator[bytes]:
    """Every best path of the Loc-RIB as UPDATEs, one attribute set at a time.

    Args:
        rib: the Loc-RIB.
        ctx: the session the messages are for.
        families: the families to pack (default: every family with routes).

    Yields:
        Whole UPDATE messages, header included.

    Raises:
        LocalProtocolError: a path cannot be encoded for ``ctx``.
    """
    for family in rib.families() if families is None else families:
        groups: dict[Path, list[int]] = {}
        for key, path in rib.best_items(family):
            keys = groups.get(path)
            if keys is None:
                groups[path] = [key]
            else:
                keys.append(key)
        for path, keys in groups.items():
            yield from pack_paths(family, path, keys, ctx)
