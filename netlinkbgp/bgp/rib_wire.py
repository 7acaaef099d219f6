"""Wire-level helpers of the RIB: a fast UPDATE scanner and prefix-key codecs.

A full table is ~400k UPDATEs with nearly one attribute set each, so the RIB cannot afford to
build attribute objects for every message. :func:`scan_update` reads an UPDATE straight into
what the RIB stores -- prefix keys and the attribute block bytes -- and *validates* the block
without building anything. It accepts only the plain, well-formed case: every attribute known,
sent with exactly its RFC flags (Extended Length allowed), the right length, no duplicates, the
mandatory ones present, unicast NLRI. For anything else it returns ``None`` and the caller
decodes the message with :func:`~netlinkbgp.bgp.messages.decode_message`, which owns every
RFC 7606 decision. So the fast path never accepts what the full decoder would flag; the tests
check that both paths give the same RIB.

Prefix keys (see :mod:`netlinkbgp.bgp.rib`): ``length << bits | network`` for unicast, where
``network`` is the prefix's significant bits.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Container

from netlinkbgp.bgp.constants import HEADER_SIZE, MARKER, AttrType

__all__ = [
    "ScannedUpdate", "encode_unicast_keys", "scan_update", "strip_mp", "validate_block",
    "walk_block",
]

_ORIGIN = int(AttrType.ORIGIN)
_AS_PATH = int(AttrType.AS_PATH)
_NEXT_HOP = int(AttrType.NEXT_HOP)
_MED = int(AttrType.MULTI_EXIT_DISC)
_LOCAL_PREF = int(AttrType.LOCAL_PREF)
_ATOMIC = int(AttrType.ATOMIC_AGGREGATE)
_AGGREGATOR = int(AttrType.AGGREGATOR)
_COMMUNITIES = int(AttrType.COMMUNITIES)
_ORIGINATOR = int(AttrType.ORIGINATOR_ID)
_CLUSTER = int(AttrType.CLUSTER_LIST)
_MP_REACH = int(AttrType.MP_REACH_NLRI)
_MP_UNREACH = int(AttrType.MP_UNREACH_NLRI)
_EXT_COMMUNITIES = int(AttrType.EXTENDED_COMMUNITIES)
_LARGE = int(AttrType.LARGE_COMMUNITY)

_EXTENDED = 0x10
_UPDATE_TYPE = 2
#: After the marker: message length, type, and an UPDATE's Withdrawn Routes Length.
_HEAD = struct.Struct("!HBH")
_U16 = struct.Struct("!H")
#: How an attribute's value is checked: fixed length, non-zero multiple of, AS_PATH segments.
_FIXED, _MULTIPLE, _SEGMENTS = 0, 1, 2
#: Attributes an external peer's UPDATE must not carry (RFC 7606 §7.5, §7.9, §7.10).
_INTERNAL_ONLY = frozenset({_LOCAL_PREF, _ORIGINATOR, _CLUSTER})


def _specs(asn4: bool, ebgp: bool) -> dict[int, tuple[int, int, int]]:
    """``flags << 8 | code`` -> (check, argument, seen bit) of the attributes the fast path
    accepts: exactly their RFC Optional/Transitive flags, Partial clear, Extended Length
    either way. Anything else (AS4_PATH, AS4_AGGREGATOR, unknown codes, other flags,
    internal-only attributes from an external peer) goes to the full decoder."""
    table = {
        _ORIGIN: (0x40, _FIXED, 1), _AS_PATH: (0x40, _SEGMENTS, 4 if asn4 else 2),
        _NEXT_HOP: (0x40, _FIXED, 4), _MED: (0x80, _FIXED, 4), _LOCAL_PREF: (0x40, _FIXED, 4),
        _ATOMIC: (0x40, _FIXED, 0), _AGGREGATOR: (0xC0, _FIXED, 8 if asn4 else 6),
        _COMMUNITIES: (0xC0, _MULTIPLE, 4), _ORIGINATOR: (0x80, _FIXED, 4),
        _CLUSTER: (0x80, _MULTIPLE, 4), _EXT_COMMUNITIES: (0xC0, _MULTIPLE, 8),
        _LARGE: (0xC0, _MULTIPLE, 12),
    }
    if ebgp:
        for code in _INTERNAL_ONLY:
            del table[code]
    specs = {}
    for code, (flags, check, argument) in table.items():
        for extended in (0, _EXTENDED):
            specs[(flags | extended) << 8 | code] = (check, argument, 1 << code)
    return specs


#: Precomputed per (4-octet AS, external peer).
_SPECS = {(a, e): _specs(a, e) for a in (False, True) for e in (False, True)}


def _lengths(code: int, flags: int, size: int, most: int) -> bytes:
    """Pattern: attribute ``code`` holding 1..``most`` items of ``size`` octets."""
    head = re.escape(bytes((flags, code)))
    items = b"|".join(re.escape(bytes((size * n,))) + b".{%d}" % (size * n)
                      for n in range(1, most + 1))
    return b"(?:" + head + b"(?:" + items + b"))?+"


def _fixed(code: int, flags: int, length: int, optional: bool = True) -> bytes:
    body = re.escape(bytes((flags, code, length))) + (b".{%d}" % length if length else b"")
    return b"(?:" + body + b")?+" if optional else body


def _canonical(asn4: bool, ebgp: bool, next_hop: bool) -> re.Pattern[bytes]:
    """The attribute block of a typical UPDATE as one regular expression (matched in C).

    It accepts only blocks :func:`validate_block` accepts, in a stricter form: attributes in
    ascending type code (so none twice), no Extended Length bit, an AS_PATH of one
    AS_SEQUENCE, ORIGIN and AS_PATH (and NEXT_HOP when required) present. Blocks it does
    not match are checked attribute by attribute.

    The optional attributes are possessive (``?+``, Python 3.11): each starts with its own
    flags and type code, so once one matched, skipping it cannot lead to a match (what
    follows expects a higher code), and the engine need not remember how to go back (about
    0.15 against 0.22 µs a block on a full table).
    """
    width = 4 if asn4 else 2
    most = (255 - 2) // width  # ASes of one AS_SEQUENCE in a one-octet attribute length
    as_path = b"(?:" + b"|".join(
        re.escape(bytes((0x40, _AS_PATH, 2 + width * n, 2, n))) + b".{%d}" % (width * n)
        for n in range(1, most + 1)) + b")"
    parts = [
        re.escape(bytes((0x40, _ORIGIN, 1))) + b"[\x00-\x02]",
        as_path,
        _fixed(_NEXT_HOP, 0x40, 4, optional=not next_hop),
        _fixed(_MED, 0x80, 4),
        b"" if ebgp else _fixed(_LOCAL_PREF, 0x40, 4),
        _fixed(_ATOMIC, 0x40, 0),
        _fixed(_AGGREGATOR, 0xC0, 8 if asn4 else 6),
        _lengths(_COMMUNITIES, 0xC0, 4, 63),
        b"" if ebgp else _fixed(_ORIGINATOR, 0x80, 4),
        b"" if ebgp else _lengths(_CLUSTER, 0x80, 4, 63),
        _lengths(_EXT_COMMUNITIES, 0xC0, 8, 31),
        _lengths(_LARGE, 0xC0, 12, 21),
    ]
    return re.compile(b"".join(parts), re.DOTALL)


#: Per (4-octet AS, external peer, NEXT_HOP required).
_CANONICAL = {(a, e, n): _canonical(a, e, n)
              for a in (False, True) for e in (False, True) for n in (False, True)}


def validate_block(
    data: bytes, start: int, end: int, asn4: bool, ebgp: bool | None, next_hop: bool
) -> bool:
    """True when the attribute block is plainly well formed (see the module docstring).

    Args:
        data: the buffer.
        start: offset of the first attribute.
        end: offset just past the block.
        asn4: AS_PATH carries 4-octet AS numbers.
        ebgp: the session is external (``None``: unknown), so internal-only attributes are
            left to the full decoder.
        next_hop: NEXT_HOP is mandatory (the UPDATE uses the NLRI field).

    Returns:
        ``True`` when the full decoder would accept the block without any RFC 7606 error;
        ``False`` means "not known to be clean", never "malformed".
    """
    if _CANONICAL[asn4, ebgp is True, next_hop].fullmatch(data, start, end):
        return True
    return walk_block(data, start, end, asn4, ebgp, next_hop)


def walk_block(
    data: bytes, start: int, end: int, asn4: bool, ebgp: bool | None, next_hop: bool
) -> bool:
    """:func:`validate_block` attribute by attribute, for blocks the pattern does not match
    (any order, Extended Length, several AS_PATH segments). Same arguments and result."""
    specs = _SPECS[asn4, ebgp is True]
    seen = 0
    i = start
    while i < end:
        if i + 3 > end:
            return False
        flags = data[i]
        spec = specs.get(flags << 8 | data[i + 1])
        if spec is None:
            return False
        if flags & _EXTENDED:
            if i + 4 > end:
                return False
            length = (data[i + 2] << 8) | data[i + 3]
            j = i + 4
        else:
            length = data[i + 2]
            j = i + 3
        nxt = j + length
        check, argument, bit = spec
        if nxt > end or seen & bit:
            return False
        seen |= bit
        if check == _FIXED:
            if length != argument or (bit == _ORIGIN_BIT and data[j] > 2):  # RFC 4271 §5.1.1
                return False
        elif check == _MULTIPLE:
            if not length or length % argument:
                return False
        else:
            while j < nxt:  # RFC 7606 §7.2: known type, non-zero count, no overrun
                if j + 2 > nxt or not 1 <= data[j] <= 4 or not data[j + 1]:
                    return False
                j += 2 + data[j + 1] * argument
            if j != nxt:
                return False
        i = nxt
    need = _ORIGIN_BIT | _AS_PATH_BIT | (_NEXT_HOP_BIT if next_hop else 0)
    return seen & need == need


_ORIGIN_BIT = 1 << _ORIGIN
_AS_PATH_BIT = 1 << _AS_PATH
_NEXT_HOP_BIT = 1 << _NEXT_HOP


def _key_steps(bits: int) -> tuple[tuple[int, int, int], ...]:
    """Per length octet: (octets to the next prefix, right shift, ``length << bits``).

    A length above ``bits`` gets a step no field can hold, so the bounds check rejects it.
    """
    steps = []
    for plen in range(256):
        nbytes = (plen + 7) >> 3
        if plen > bits:
            steps.append((1 << 16, 0, 0))  # longer than any message
        else:
            steps.append((1 + nbytes, (nbytes << 3) - plen, plen << bits))
    return tuple(steps)


_KEY_STEPS = {32: _key_steps(32), 128: _key_steps(128)}


def _unicast_keys(data: bytes, start: int, end: int, bits: int) -> list[int] | None:
    """``length << bits | network`` of every prefix of a plain field, or ``None`` if malformed.

    Shifting the octets right by the unused bits drops the "irrelevant" trailing bits
    (RFC 4271 §4.3), so a prefix has one key however they were sent.
    """
    keys: list[int] = []
    append = keys.append
    from_bytes = int.from_bytes
    steps = _KEY_STEPS[bits]
    i = start
    while i < end:
        step, shift, high = steps[data[i]]
        j = i + step
        if j > end:  # truncated, or a length over ``bits``
            return None
        append(high | from_bytes(data[i + 1 : j], "big") >> shift)
        i = j
    return keys


def strip_mp(raw: bytes) -> bytes:
    """The attribute block without MP_REACH_NLRI / MP_UNREACH_NLRI (they hold NLRI, which is
    per message, not per attribute set). Walks headers only; the block is assumed decoded."""
    i = 0
    end = len(raw)
    pieces: list[bytes] = []
    keep = 0
    while i + 3 <= end:
        flags, code = raw[i], raw[i + 1]
        extended = flags & _EXTENDED
        nxt = i + 4 + ((raw[i + 2] << 8) | raw[i + 3]) if extended else i + 3 + raw[i + 2]
        if code in (_MP_REACH, _MP_UNREACH):
            pieces.append(raw[keep:i])
            keep = nxt
        i = nxt
    if not pieces:
        return raw
    pieces.append(raw[keep:])
    return b"".join(pieces)


#: What :func:`scan_update` found: withdrawn IPv4 keys, the announced family (``None``: IPv4
#: unicast), announced keys, the attribute block without MP attributes, the MP next hop bytes.
ScannedUpdate = tuple[list[int], bool, list[int], bytes, bytes]


def scan_update(
    data: bytes, asn4: bool, ebgp: bool | None, ipv6: bool, base: int = 0,
    end: int | None = None, known: tuple[Container[object], Container[object]] = ((), ()),
) -> ScannedUpdate | None:
    """Read a plain unicast UPDATE straight into RIB keys, or say it needs the full decoder.

    Args:
        data: the buffer holding the message.
        asn4: the session has 4-octet AS numbers.
        ebgp: the session is external (``None``: unknown).
        ipv6: IPv6 unicast was negotiated. The caller makes sure ADD-PATH is off: such
            sessions, and MP families other than IPv6 unicast, go to the full decoder.
        base: offset of the message (header included) in ``data``.
        end: offset just past the message (default: the end of ``data``).
        known: intern keys (IPv4, IPv6) of attribute blocks already accepted on this
            session: a block found there is not validated again (a repeated block is not
            re-parsed). An IPv4 key is the block; an IPv6 key is the next hop length octet,
            the next hop, then the block.

    Returns:
        ``(withdrawn_v4_keys, is_ipv6, announced_keys, block, next_hop)`` where ``block`` is
        the attribute block without MP_REACH_NLRI and ``next_hop`` the MP_REACH_NLRI next hop
        bytes (empty for IPv4); or ``None`` when the message is anything but a well-formed
        plain IPv4/IPv6 unicast UPDATE.
    """
    size = len(data) if end is None else end
    if size - base < 23:
        return None
    length, mtype, wlen = _HEAD.unpack_from(data, base + 16)
    if length != size - base or mtype != _UPDATE_TYPE or not data.startswith(MARKER, base):
        return None
    wstart = base + HEADER_SIZE + 2
    wend = wstart + wlen
    if wend + 2 > size:
        return None
    alen = _U16.unpack_from(data, wend)[0]
    astart = wend + 2
    aend = astart + alen
    if aend > size:
        return None
    withdrawn = _unicast_keys(data, wstart, wend, 32) if wlen else []
    if withdrawn is None:
        return None
    if aend == size:  # no NLRI field
        if not alen:
            return withdrawn, False, [], b"", b""
        # MP_REACH_NLRI first (as RFC 7606 §5.1 recommends), IPv6 unicast, then the rest.
        if astart + 4 > aend or data[astart + 1] != _MP_REACH or data[astart] & 0xEF != 0x80:
            return None
        if data[astart] & _EXTENDED:
            mp_end = astart + 4 + ((data[astart + 2] << 8) | data[astart + 3])
            v = astart + 4
        else:
            mp_end = astart + 3 + data[astart + 2]
            v = astart + 3
        if mp_end > aend or v + 5 > mp_end or data[v : v + 3] != b"\x00\x02\x01":
            return None
        nh_len = data[v + 3]
        if nh_len not in (16, 32) or v + 5 + nh_len > mp_end or not ipv6:
            return None
        keys = _unicast_keys(data, v + 5 + nh_len, mp_end, 128)
        if not keys:
            return None
        block = data[mp_end:aend]
        nh = data[v + 4 : v + 4 + nh_len]
        if (bytes((nh_len,)) + nh + block not in known[1]
                and not validate_block(data, mp_end, aend, asn4, ebgp, False)):
            return None
        return withdrawn, True, keys, block, nh
    keys = _unicast_keys(data, aend, size, 32)
    if keys is None:
        return None
    block = data[astart:aend]
    if block not in known[0] and not validate_block(data, astart, aend, asn4, ebgp, True):
        return None
    return withdrawn, False, keys, block, b""


def encode_unicast_keys(keys: list[int], bits: int) -> list[bytes]:
    """The wire form of each unicast prefix key (length octet + significant octets)."""
    out: list[bytes] = []
    append = out.append
    mask = (1 << bits) - 1
    for key in keys:
        plen = key >> bits
        nbits = ((plen + 7) >> 3) << 3
        # length octet and significant octets as one integer: one allocation per prefix
        append((plen << nbits | (key & mask) << (nbits - plen)).to_bytes((nbits >> 3) + 1,
                                                                          "big"))
    return out
