"""UPDATE packing: as many NLRI per attribute set as fit in one message.

The attribute block is encoded once; NLRI are encoded one by one and cut into messages of at
most ``ctx.max_message_size`` octets. IPv4 unicast uses the classic NLRI / Withdrawn Routes
fields; every other family uses MP_REACH_NLRI / MP_UNREACH_NLRI, written as the first
attribute (RFC 7606 §5.1). Each message carries only one of: withdrawn routes, NLRI field,
MP_REACH_NLRI, MP_UNREACH_NLRI (RFC 7606 §5.1).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence

from netlinkbgp.bgp.attributes import (
    Attribute,
    MpReachNlri,
    MpUnreachNlri,
    NextHopAddress,
    NextHopAttribute,
    encode_attribute,
)
from netlinkbgp.bgp.capabilities import Negotiated
from netlinkbgp.bgp.constants import HEADER_SIZE, MARKER, AttrFlag, AttrType, MessageType
from netlinkbgp.bgp.nlri import IPV4_UNICAST, Family, Nlri, NlriList, encode_nlri
from netlinkbgp.errors import LocalProtocolError

__all__ = ["pack_encoded", "pack_encoded_withdrawals", "pack_updates", "pack_withdrawals"]

_HEADER = struct.Struct("!16sHB")
_U16 = struct.Struct("!H")
_MP_REACH_HEAD = struct.Struct("!HBB")
_MP_UNREACH_HEAD = struct.Struct("!HB")
#: Flags of MP_REACH/MP_UNREACH with Extended Length: optional, non-transitive (RFC 4760).
_MP_FLAGS = int(AttrFlag.OPTIONAL | AttrFlag.EXTENDED_LENGTH)


def _chunks(encoded: Iterable[bytes], budget: int) -> list[bytes]:
    """Concatenate encoded NLRI greedily into pieces of at most ``budget`` octets."""
    out: list[bytes] = []
    current: list[bytes] = []
    size = 0
    for item in encoded:
        if len(item) > budget:
            raise LocalProtocolError(f"one NLRI ({len(item)} octets) does not fit a message")
        if size + len(item) > budget:
            out.append(b"".join(current))
            current, size = [], 0
        current.append(item)
        size += len(item)
    if current:
        out.append(b"".join(current))
    return out


def _message(body: bytes) -> bytes:
    return _HEADER.pack(MARKER, HEADER_SIZE + len(body), MessageType.UPDATE) + body


def _mp_attribute(code: int, value: bytes) -> bytes:
    return bytes((_MP_FLAGS, code)) + _U16.pack(len(value)) + value


def pack_updates(
    attributes: Sequence[Attribute],
    nlri: Sequence[Nlri],
    ctx: Negotiated,
    family: Family = IPV4_UNICAST,
    *,
    next_hops: Sequence[NextHopAddress] = (),
) -> list[bytes]:
    """Encode announcements of ``nlri`` with one attribute set into as few UPDATEs as fit.

    Args:
        attributes: the path attributes, without MP_REACH_NLRI / MP_UNREACH_NLRI. For IPv4
            unicast they include NEXT_HOP.
        nlri: the routes to announce, all of ``family``.
        ctx: the session context (message size, ADD-PATH, 4-octet AS, extended next hop).
        family: the family; IPv4 unicast uses the NLRI field, others MP_REACH_NLRI.
        next_hops: for MP families, the next hop(s) of MP_REACH_NLRI.

    Returns:
        Whole UPDATE messages, header included.

    Raises:
        LocalProtocolError: the attributes or one NLRI cannot fit a message, or a value cannot
            be encoded for this session.
    """
    if any(isinstance(a, MpReachNlri | MpUnreachNlri) for a in attributes):
        raise LocalProtocolError("pass MP_REACH/MP_UNREACH content as nlri and next_hops")
    block = b"".join(encode_attribute(a, ctx) for a in attributes)
    add_path = family in ctx.add_path_send
    encoded = [encode_nlri(n, family, add_path) for n in nlri]
    room = ctx.max_message_size - HEADER_SIZE - 4 - len(block)
    if family == IPV4_UNICAST:
        if not any(isinstance(a, NextHopAttribute) for a in attributes):
            raise LocalProtocolError("IPv4 unicast NLRI need a NEXT_HOP attribute")
        head = b"\x00\x00" + _U16.pack(len(block)) + block
        if sum(map(len, encoded)) <= room:  # the usual few prefixes: one message
            return [_message(head + b"".join(encoded))]
        return [_message(head + chunk) for chunk in _chunks(encoded, room)]
    probe = MpReachNlri(family, tuple(next_hops), NlriList(family))
    mp_fixed = len(probe.encode_value(ctx))  # AFI, SAFI, next hop, reserved
    room -= 4 + mp_fixed
    messages = []
    for chunk in _chunks(encoded, room):
        value = probe.encode_value(ctx) + chunk
        attrs = _mp_attribute(AttrType.MP_REACH_NLRI, value) + block
        messages.append(_message(b"\x00\x00" + _U16.pack(len(attrs)) + attrs))
    return messages


def pack_withdrawals(nlri: Sequence[Nlri], ctx: Negotiated,
                     family: Family = IPV4_UNICAST) -> list[bytes]:
    """Encode withdrawals of ``nlri`` into as few UPDATEs as fit.

    Args:
        nlri: the routes to withdraw, all of ``family``.
        ctx: the session context.
        family: IPv4 unicast uses Withdrawn Routes; others MP_UNREACH_NLRI.

    Returns:
        Whole UPDATE messages, header included.

    Raises:
        LocalProtocolError: an NLRI cannot be encoded for this session.
    """
    add_path = family in ctx.add_path_send
    encoded = [encode_nlri(n, family, add_path, withdraw=True) for n in nlri]
    return pack_encoded_withdrawals(family, encoded, ctx)


def pack_encoded(family: Family, block: bytes, next_hop: bytes, encoded: Sequence[bytes],
                 ctx: Negotiated) -> list[bytes]:
    """Announcements of already encoded NLRI under an already encoded attribute block.

    The speaker's Adj-RIB-Out keeps each attribute set encoded once per session; this packs
    any number of prefixes under it without building attribute or NLRI objects.

    Args:
        family: the NLRI family.
        block: the path attributes, encoded for ``ctx``, without MP_REACH/MP_UNREACH (for
            IPv4 unicast with an IPv4 next hop it includes NEXT_HOP).
        next_hop: the MP_REACH_NLRI next hop field (route distinguishers included for VPN
            families); empty to use the classic NLRI field (IPv4 unicast only).
        encoded: each NLRI in wire form (:func:`~netlinkbgp.bgp.nlri.encode_nlri`).
        ctx: the session context (message size).

    Returns:
        Whole UPDATE messages, header included.

    Raises:
        LocalProtocolError: the attributes or one NLRI cannot fit a message.
    """
    room = ctx.max_message_size - HEADER_SIZE - 4 - len(block)
    if not next_hop:
        if family is not IPV4_UNICAST and family != IPV4_UNICAST:
            raise LocalProtocolError(f"{family} NLRI need an MP_REACH_NLRI next hop")
        head = b"\x00\x00" + _U16.pack(len(block)) + block
        if sum(map(len, encoded)) <= room:  # the usual few prefixes: one message
            return [_message(head + b"".join(encoded))]
        return [_message(head + chunk) for chunk in _chunks(encoded, room)]
    mp_head = _MP_REACH_HEAD.pack(family.afi, family.safi, len(next_hop)) + next_hop + b"\x00"
    room -= 4 + len(mp_head)
    if room <= 0:
        raise LocalProtocolError("the attributes leave no room for NLRI")
    # the usual few prefixes go in one message
    fits = sum(map(len, encoded)) <= room
    chunks = [b"".join(encoded)] if fits else _chunks(encoded, room)
    messages = []
    for chunk in chunks:
        attrs = _mp_attribute(AttrType.MP_REACH_NLRI, mp_head + chunk) + block
        messages.append(_message(b"\x00\x00" + _U16.pack(len(attrs)) + attrs))
    return messages


def pack_encoded_withdrawals(family: Family, encoded: Sequence[bytes],
                             ctx: Negotiated) -> list[bytes]:
    """Withdrawals of already encoded NLRI (``encode_nlri(..., withdraw=True)``).

    Returns:
        Whole UPDATE messages, header included.
    """
    room = ctx.max_message_size - HEADER_SIZE - 4
    if family == IPV4_UNICAST:
        return [_message(_U16.pack(len(chunk)) + chunk + b"\x00\x00")
                for chunk in _chunks(encoded, room)]
    room -= 4 + 3
    head = _MP_UNREACH_HEAD.pack(family.afi, family.safi)
    return [_message(b"\x00\x00" + _U16.pack(4 + 3 + len(chunk))
                     + _mp_attribute(AttrType.MP_UNREACH_NLRI, head + chunk))
            for chunk in _chunks(encoded, room)]
