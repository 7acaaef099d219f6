"""AS_PATH and AS4_PATH values, their segment codec, and RFC 6793 AS4 handling.

An AS path is a tuple of :class:`AsPathSegment`; AS_PATH carries 2- or 4-octet AS numbers
depending on the session (RFC 6793), AS4_PATH always 4-octet ones. :func:`split_as4_path` and
:func:`reconstruct_as_path` translate between a 4-octet path and the AS_PATH + AS4_PATH pair a
2-octet AS peer sees (RFC 6793 §4.2.2, §4.2.3).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from netlinkbgp.bgp.capabilities import Negotiated
from netlinkbgp.bgp.constants import AS_TRANS, AsPathSegmentType, AttrFlag, AttrType
from netlinkbgp.errors import DecodeError, LocalProtocolError

__all__ = [
    "MAX_SEGMENT_ASNS",
    "As4Path",
    "AsPath",
    "AsPathSegment",
    "decode_segments",
    "encode_segments",
    "path_length",
    "reconstruct_as_path",
    "split_as4_path",
]

_WELL_KNOWN = int(AttrFlag.TRANSITIVE)  # well-known attributes: Optional 0, Transitive 1
_OPT_TRANS = int(AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE)
#: RFC 4271 §4.3: a path segment holds at most 255 AS numbers (one-octet count).
MAX_SEGMENT_ASNS = 255


@dataclass(frozen=True, slots=True)
class AsPathSegment:
    """One AS_PATH segment (RFC 4271 §4.3, RFC 5065 §3).

    Attributes:
        type: AS_SET, AS_SEQUENCE, AS_CONFED_SEQUENCE or AS_CONFED_SET.
        asns: the AS numbers, 1..255 of them.
    """

    type: AsPathSegmentType
    asns: tuple[int, ...]


_SEGMENT_TYPES = {int(t): t for t in AsPathSegmentType}
#: Precompiled unpackers for the common short AS paths and community lists.
_U16_STRUCTS = tuple(struct.Struct(f"!{n}H") for n in range(MAX_SEGMENT_ASNS + 1))
_U32_STRUCTS = tuple(struct.Struct(f"!{n}I") for n in range(MAX_SEGMENT_ASNS + 1))
_SET_SEGMENT_TYPE = AsPathSegment.__dict__["type"].__set__
_SET_SEGMENT_ASNS = AsPathSegment.__dict__["asns"].__set__


def decode_segments(
    value: bytes | memoryview, width: int, name: str
) -> tuple[AsPathSegment, ...]:
    """Parse AS path segments of ``width``-octet AS numbers.

    Raises:
        DecodeError: a malformed segment, as RFC 7606 §7.2 defines it.
    """
    segments: list[AsPathSegment] = []
    i = 0
    end = len(value)
    new, set_type, set_asns = object.__new__, _SET_SEGMENT_TYPE, _SET_SEGMENT_ASNS
    types = _SEGMENT_TYPES
    structs = _U16_STRUCTS if width == 2 else _U32_STRUCTS
    while i < end:
        if i + 2 > end:  # "only a single octet remaining" (RFC 7606 §7.2)
            raise DecodeError(f"{name}: truncated segment header", i)
        kind = types.get(value[i])
        count = value[i + 1]
        if kind is None:
            raise DecodeError(f"{name}: unknown segment type {value[i]}", i)
        if count == 0:  # "a Path Segment Length field of zero" (RFC 7606 §7.2)
            raise DecodeError(f"{name}: empty segment", i)
        j = i + 2 + count * width
        if j > end:  # overrun of the attribute length (RFC 7606 §7.2)
            raise DecodeError(f"{name}: segment overruns the attribute", i)
        segment = new(AsPathSegment)
        set_type(segment, kind)
        set_asns(segment, structs[count].unpack_from(value, i + 2))
        segments.append(segment)
        i = j
    return tuple(segments)


def encode_segments(segments: Sequence[AsPathSegment], width: int, name: str) -> bytes:
    """Encode AS path segments.

    Raises:
        LocalProtocolError: a segment is empty or too long, or an AS does not fit.
    """
    out = bytearray()
    limit = 0xFFFF if width == 2 else 0xFFFFFFFF
    fmt = "!%dH" if width == 2 else "!%dI"
    for segment in segments:
        count = len(segment.asns)
        if not 1 <= count <= MAX_SEGMENT_ASNS:
            raise LocalProtocolError(f"{name}: a segment holds 1..255 AS numbers, not {count}")
        for asn in segment.asns:
            if not 0 <= asn <= limit:
                raise LocalProtocolError(
                    f"{name}: AS {asn} does not fit {width} octets"
                    + (" (use split_as4_path for a 2-octet AS peer)" if width == 2 else "")
                )
        out += bytes((segment.type, count)) + struct.pack(fmt % count, *segment.asns)
    return bytes(out)


def path_length(segments: Sequence[AsPathSegment]) -> int:
    """Path length for the decision process (RFC 4271 §9.1.2.2 a).

    An AS_SET counts 1 and confederation segments count 0 (RFC 5065 §5.3).
    """
    total = 0
    for segment in segments:
        if segment.type == AsPathSegmentType.AS_SEQUENCE:
            total += len(segment.asns)
        elif segment.type == AsPathSegmentType.AS_SET:
            total += 1
    return total


@dataclass(frozen=True, slots=True)
class AsPath:
    """AS_PATH (RFC 4271 §5.1.2), 2- or 4-octet AS numbers per the session (RFC 6793).

    Attributes:
        segments: the path segments, nearest AS first.
    """

    TYPE: ClassVar[int] = AttrType.AS_PATH
    FLAGS: ClassVar[int] = _WELL_KNOWN
    segments: tuple[AsPathSegment, ...] = ()
    wire_flags: int = field(default=0, compare=False, repr=False, kw_only=True)

    @classmethod
    def sequence(cls, asns: Sequence[int]) -> AsPath:
        """An AS_PATH of one AS_SEQUENCE (none when ``asns`` is empty), split every 255 ASes."""
        return cls(tuple(
            AsPathSegment(AsPathSegmentType.AS_SEQUENCE, tuple(asns[i : i + MAX_SEGMENT_ASNS]))
            for i in range(0, len(asns), MAX_SEGMENT_ASNS)
        ))

    @property
    def length(self) -> int:
        """The path length used by the decision process (RFC 4271 §9.1.2.2)."""
        return path_length(self.segments)

    def asns(self) -> tuple[int, ...]:
        """Every AS number in order, segments flattened."""
        return tuple(asn for segment in self.segments for asn in segment.asns)

    def encode_value(self, ctx: Negotiated) -> bytes:
        """The attribute value (4-octet ASes when ``ctx.asn4``)."""
        return encode_segments(self.segments, 4 if ctx.asn4 else 2, "AS_PATH")


@dataclass(frozen=True, slots=True)
class As4Path:
    """AS4_PATH (RFC 6793 §3): the 4-octet path sent alongside a 2-octet AS_PATH."""

    TYPE: ClassVar[int] = AttrType.AS4_PATH
    FLAGS: ClassVar[int] = _OPT_TRANS
    segments: tuple[AsPathSegment, ...] = ()
    wire_flags: int = field(default=0, compare=False, repr=False, kw_only=True)

    def encode_value(self, ctx: Negotiated) -> bytes:
        """The attribute value (always 4-octet ASes)."""
        return encode_segments(self.segments, 4, "AS4_PATH")


def split_as4_path(as_path: AsPath) -> tuple[AsPath, As4Path | None]:
    """The AS_PATH and AS4_PATH a 4-octet speaker sends to a 2-octet peer (RFC 6793 §4.2.2).

    Returns:
        ``(as_path, None)`` when every AS fits 2 octets; otherwise the AS_PATH with AS_TRANS
        in place of each large AS, and the AS4_PATH holding the true path (confederation
        segments are not carried in AS4_PATH).
    """
    if all(asn <= 0xFFFF for segment in as_path.segments for asn in segment.asns):
        return as_path, None
    narrow = tuple(
        AsPathSegment(s.type, tuple(a if a <= 0xFFFF else AS_TRANS for a in s.asns))
        for s in as_path.segments
    )
    wide = tuple(
        s for s in as_path.segments
        if s.type in (AsPathSegmentType.AS_SEQUENCE, AsPathSegmentType.AS_SET)
    )
    return AsPath(narrow), As4Path(wide)


def reconstruct_as_path(
    as_path: AsPath, as4_path: As4Path | None,
    aggregator_asn: int | None = None, has_as4_aggregator: bool = False,
) -> AsPath:
    """The true path from a 2-octet peer's AS_PATH and AS4_PATH (RFC 6793 §4.2.3).

    Args:
        as_path: AS_PATH as received (2-octet AS numbers, AS_TRANS standing in).
        as4_path: AS4_PATH as received, or ``None``.
        aggregator_asn: the AS of the AGGREGATOR attribute received, if any.
        has_as4_aggregator: an AS4_AGGREGATOR attribute was received.

    Returns:
        The reconstructed AS_PATH.
    """
    if as4_path is None:
        return as_path
    # "If the AGGREGATOR attribute ... carries an AS number other than AS_TRANS, then the
    # AS4_AGGREGATOR and AS4_PATH attributes ... MUST be ignored" (RFC 6793 §4.2.3).
    if has_as4_aggregator and aggregator_asn is not None and aggregator_asn != AS_TRANS:
        return as_path
    keep = path_length(as_path.segments) - path_length(as4_path.segments)
    if keep < 0:  # AS4_PATH longer than AS_PATH: ignore AS4_PATH (RFC 6793 §4.2.3)
        return as_path
    leading: list[AsPathSegment] = []
    for segment in as_path.segments:
        if keep <= 0 and segment.type in (AsPathSegmentType.AS_SEQUENCE,
                                          AsPathSegmentType.AS_SET):
            break
        if segment.type == AsPathSegmentType.AS_SEQUENCE:
            take = segment.asns[:keep]
            keep -= len(take)
            leading.append(AsPathSegment(segment.type, take))
        elif segment.type == AsPathSegmentType.AS_SET:
            keep -= 1
            leading.append(segment)
        else:  # confederation segments count 0 and stay where they were
            leading.append(segment)
    return AsPath(tuple(leading) + as4_path.segments)
