"""Revised error handling for UPDATE messages (RFC 7606), as values.

Walking the path attribute block yields the attributes that decoded and one
:class:`MalformedAttribute` per problem, each carrying the action RFC 7606 prescribes:

========================  =====================================================================
action                    meaning (RFC 7606 §2)
========================  =====================================================================
``ATTRIBUTE_DISCARD``     the attribute is dropped; the UPDATE is otherwise processed
``TREAT_AS_WITHDRAW``     every NLRI of the UPDATE is treated as withdrawn
``AFI_SAFI_DISABLE``      the family (``family``) is disabled for the session (RFC 4760 §7)
``SESSION_RESET``         a NOTIFICATION is sent and the session closed
========================  =====================================================================

Session resets are raised as :class:`~netlinkbgp.errors.RemoteProtocolError` by the message
decoder; the other actions are recorded on the :class:`~netlinkbgp.bgp.messages.Update` so the
speaker can act. When several errors occur the strongest action wins (RFC 7606 §3 h).
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, replace
from ipaddress import IPv4Address

from netlinkbgp.bgp.attributes import (
    _ORIGINS,
    _U32_STRUCTS,
    DECODERS,
    Attribute,
    AttributeValueError,
    UnknownAttribute,
    _decode_as_path,
    _new_communities,
    _new_med,
    _new_next_hop,
)
from netlinkbgp.bgp.capabilities import Negotiated
from netlinkbgp.bgp.constants import AttrFlag, AttrType, ErrorCode, UpdateSubcode
from netlinkbgp.bgp.nlri import Family
from netlinkbgp.errors import RemoteProtocolError

__all__ = ["ErrorAction", "MalformedAttribute", "decode_attribute_block"]


class ErrorAction(enum.IntEnum):
    """RFC 7606 §2 error-handling approaches, weakest first (so ``max`` is the strongest)."""

    ATTRIBUTE_DISCARD = 1  #: RFC 7606 §2 "attribute discard"
    TREAT_AS_WITHDRAW = 2  #: RFC 7606 §2 "treat-as-withdraw"
    AFI_SAFI_DISABLE = 3  #: RFC 7606 §2 "AFI/SAFI disable" (RFC 4760 §7)
    SESSION_RESET = 4  #: RFC 7606 §2 "session reset"


@dataclass(frozen=True, slots=True)
class MalformedAttribute:
    """One UPDATE error and what to do about it.

    Attributes:
        type_code: the attribute concerned (0 when the attribute block itself is broken).
        action: the RFC 7606 action.
        reason: human-readable description.
        subcode: UPDATE Message Error subcode a NOTIFICATION would carry (RFC 4271 §6.3).
        data: NOTIFICATION data (the erroneous attribute: flags, type, length, value).
        family: the family to disable, for ``AFI_SAFI_DISABLE``.
    """

    type_code: int
    action: ErrorAction
    reason: str
    subcode: int = UpdateSubcode.UNSPECIFIC
    data: bytes = b""
    family: Family | None = None

    @property
    def code(self) -> int:
        """NOTIFICATION error code: always UPDATE Message Error (RFC 4271 §6.3)."""
        return ErrorCode.UPDATE_MESSAGE_ERROR

    def to_exception(self) -> RemoteProtocolError:
        """The error as the exception a session reset raises."""
        return RemoteProtocolError(self.reason, self.code, self.subcode, self.data)


_DISCARD = ErrorAction.ATTRIBUTE_DISCARD
_WITHDRAW = ErrorAction.TREAT_AS_WITHDRAW

#: Action for a malformed value, by type code (RFC 7606 §7; RFC 6793 §6; RFC 8092 §6).
_ON_MALFORMED: dict[int, ErrorAction] = {
    AttrType.ORIGIN: _WITHDRAW,  # RFC 7606 §7.1
    AttrType.AS_PATH: _WITHDRAW,  # RFC 7606 §7.2
    AttrType.NEXT_HOP: _WITHDRAW,  # RFC 7606 §7.3
    AttrType.MULTI_EXIT_DISC: _WITHDRAW,  # RFC 7606 §7.4
    AttrType.LOCAL_PREF: _WITHDRAW,  # RFC 7606 §7.5 (internal peer)
    AttrType.ATOMIC_AGGREGATE: _DISCARD,  # RFC 7606 §7.6
    AttrType.AGGREGATOR: _DISCARD,  # RFC 7606 §7.7
    AttrType.COMMUNITIES: _WITHDRAW,  # RFC 7606 §7.8
    AttrType.ORIGINATOR_ID: _WITHDRAW,  # RFC 7606 §7.9 (internal peer)
    AttrType.CLUSTER_LIST: _WITHDRAW,  # RFC 7606 §7.10 (internal peer)
    AttrType.MP_REACH_NLRI: ErrorAction.AFI_SAFI_DISABLE,  # RFC 7606 §7.11, RFC 4760 §7
    AttrType.MP_UNREACH_NLRI: ErrorAction.AFI_SAFI_DISABLE,  # RFC 7606 §5.3, RFC 4760 §7
    AttrType.EXTENDED_COMMUNITIES: _WITHDRAW,  # RFC 7606 §7.14
    AttrType.AS4_PATH: _DISCARD,  # RFC 6793 §6
    AttrType.AS4_AGGREGATOR: _DISCARD,  # RFC 6793 §6
    AttrType.LARGE_COMMUNITY: _WITHDRAW,  # RFC 8092 §6
}

#: "If received from an external neighbor, it SHALL be discarded" (RFC 7606 §7.5, §7.9, §7.10).
_EXTERNAL_DISCARD = frozenset({int(AttrType.LOCAL_PREF), int(AttrType.ORIGINATOR_ID),
                               int(AttrType.CLUSTER_LIST)})
#: Sent only to 2-octet AS speakers; a 4-octet AS speaker discards them (RFC 6793 §4.1).
_AS4_ONLY = frozenset({int(AttrType.AS4_PATH), int(AttrType.AS4_AGGREGATOR)})
_MP = frozenset({int(AttrType.MP_REACH_NLRI), int(AttrType.MP_UNREACH_NLRI)})
_MP_REACH = int(AttrType.MP_REACH_NLRI)
_MANDATORY = frozenset({int(AttrType.ORIGIN), int(AttrType.AS_PATH), int(AttrType.NEXT_HOP)})
_ORIGIN = int(AttrType.ORIGIN)
_AS_PATH = int(AttrType.AS_PATH)
_NEXT_HOP = int(AttrType.NEXT_HOP)
_MED = int(AttrType.MULTI_EXIT_DISC)
_COMMUNITIES = int(AttrType.COMMUNITIES)
_WELL_KNOWN_FLAGS = int(AttrFlag.TRANSITIVE)
_OPT_TRANS_FLAGS = int(AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE)
_OPT_NON_TRANS_FLAGS = int(AttrFlag.OPTIONAL)
#: Community lists up to this many octets take the fast path (precompiled unpackers).
_FAST_COMMUNITIES = 4 * len(_U32_STRUCTS)
_U32 = struct.Struct("!I")
#: Per type code: value decoder, RFC-mandated Optional/Transitive flags, and whether the code
#: has session-dependent rules (external peer, 4-octet AS) checked before decoding.
_TABLE = {
    code: (decoder, flags, code in _EXTERNAL_DISCARD or code in _AS4_ONLY)
    for code, (decoder, flags) in DECODERS.items()
}
_OPTIONAL = int(AttrFlag.OPTIONAL)
_EXTENDED = int(AttrFlag.EXTENDED_LENGTH)
_OT_MASK = int(AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE)
_KEPT = int(AttrFlag.PARTIAL | AttrFlag.EXTENDED_LENGTH)


def decode_attribute_block(
    data: bytes | memoryview, start: int, end: int, ctx: Negotiated,
    has_nlri_field: bool = False,
) -> tuple[tuple[Attribute, ...], tuple[MalformedAttribute, ...]]:
    """Decode the Path Attributes field of an UPDATE, applying RFC 7606.

    Args:
        data: the message buffer.
        start: offset of the first attribute.
        end: offset just past the field (from Total Path Attribute Length).
        ctx: the session context.
        has_nlri_field: the UPDATE's NLRI field is not empty (NEXT_HOP is then mandatory).

    Returns:
        The attributes that decoded (first occurrence of each type, in wire order) and the
        errors found, each with its action. Malformed attributes are not in the first tuple.

    Raises:
        RemoteProtocolError: an error whose action is session reset: MP_REACH_NLRI or
            MP_UNREACH_NLRI twice or unparseable (RFC 7606 §3 g, §3 j), or an unrecognised
            well-known attribute (RFC 4271 §6.3).
    """
    attributes: list[Attribute] = []
    errors: list[MalformedAttribute] = []
    seen: set[int] = set()
    table = _TABLE
    origins, u32, u32s = _ORIGINS, _U32, _U32_STRUCTS
    new_next_hop, new_med, new_communities = _new_next_hop, _new_med, _new_communities
    as_path = _decode_as_path
    reach = has_nlri_field
    i = start
    while i < end:
        # RFC 7606 §4: fewer than 3 (or 4) octets left, or an attribute overrunning the
        # block: treat-as-withdraw, and rely on Total Attribute Length to find the NLRI.
        flags = data[i]
        if flags & _EXTENDED:
            if i + 4 > end:
                errors.append(_truncated(data[i + 1] if i + 2 <= end else 0))
                break
            length = (data[i + 2] << 8) | data[i + 3]
            value_start = i + 4
        else:
            if i + 3 > end:
                errors.append(_truncated(data[i + 1] if i + 2 <= end else 0))
                break
            length = data[i + 2]
            value_start = i + 3
        code = data[i + 1]
        next_i = value_start + length
        if next_i > end:
            errors.append(MalformedAttribute(code, _WITHDRAW,
                                             f"attribute {code} overruns the attribute block",
                                             UpdateSubcode.ATTRIBUTE_LENGTH_ERROR))
            break
        i_attr = i
        i = next_i
        if code in seen:
            if code in _MP:  # RFC 7606 §3 g
                raise RemoteProtocolError(
                    f"attribute {code} appears twice", ErrorCode.UPDATE_MESSAGE_ERROR,
                    UpdateSubcode.MALFORMED_ATTRIBUTE_LIST,
                )
            errors.append(MalformedAttribute(code, _DISCARD, f"duplicate attribute {code}"))
            continue  # RFC 7606 §3 g: later occurrences are discarded
        seen.add(code)
        # Fast paths for the attributes nearly every UPDATE carries, when their flags are
        # exactly the RFC ones and the length is right. Anything else (including every error)
        # goes through the general path below, which owns the RFC 7606 decisions.
        if flags == _WELL_KNOWN_FLAGS:
            if code == _ORIGIN and length == 1:
                origin = origins.get(data[value_start])
                if origin is not None:
                    attributes.append(origin)
                    continue
            elif code == _NEXT_HOP and length == 4:
                attributes.append(new_next_hop(IPv4Address(u32.unpack_from(data, value_start)[0])))
                continue
            elif code == _AS_PATH:
                try:
                    attributes.append(as_path(data[value_start:next_i], ctx))
                    continue
                except AttributeValueError:
                    pass  # decoded again below, where the error is recorded
        elif code == _MED and flags == _OPT_NON_TRANS_FLAGS and length == 4:
            attributes.append(new_med(u32.unpack_from(data, value_start)[0]))
            continue
        elif (code == _COMMUNITIES and flags == _OPT_TRANS_FLAGS and length
              and not length & 3 and length < _FAST_COMMUNITIES):
            attributes.append(new_communities(u32s[length >> 2].unpack_from(data, value_start)))
            continue
        entry = table.get(code)
        if entry is None:
            if not flags & _OPTIONAL:  # RFC 4271 §6.3, not revised by RFC 7606
                raise RemoteProtocolError(
                    f"unrecognized well-known attribute {code}", ErrorCode.UPDATE_MESSAGE_ERROR,
                    UpdateSubcode.UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE, bytes(data[i_attr:next_i]),
                )
            attributes.append(UnknownAttribute(code, flags, bytes(data[value_start:next_i])))
            continue
        decoder, expected, special = entry
        if special:
            if code in _EXTERNAL_DISCARD and ctx.ebgp:
                errors.append(MalformedAttribute(code, _DISCARD,
                                                 f"attribute {code} from an external peer"))
                continue
            if code in _AS4_ONLY and ctx.asn4:
                errors.append(MalformedAttribute(code, _DISCARD,
                                                 f"attribute {code} from a 4-octet AS speaker"))
                continue
        if flags & _OT_MASK != expected:
            # RFC 7606 §3 c: treat-as-withdraw, unless the attribute's own rules say otherwise
            # (the attribute-discard ones); MP attributes are still parsed for their NLRI.
            action = _ON_MALFORMED[code] if _ON_MALFORMED[code] == _DISCARD else _WITHDRAW
            errors.append(MalformedAttribute(code, action, f"attribute {code} flags {flags:#x}",
                                             UpdateSubcode.ATTRIBUTE_FLAGS_ERROR,
                                             bytes(data[i_attr:next_i])))
            if code not in _MP:
                continue
        try:
            attribute = decoder(data[value_start:next_i], ctx)
        except AttributeValueError as exc:
            raw = bytes(data[i_attr:next_i])
            if exc.unlocatable:  # RFC 7606 §3 j: the NLRI cannot be found
                raise RemoteProtocolError(exc.reason, ErrorCode.UPDATE_MESSAGE_ERROR,
                                          exc.subcode, raw) from None
            errors.append(MalformedAttribute(code, _ON_MALFORMED[code], exc.reason,
                                             exc.subcode, raw, exc.family))
            continue
        if flags & _KEPT:
            if code == _ORIGIN:  # ORIGIN values are shared: make a new one
                attribute = replace(attribute, wire_flags=flags & _KEPT)  # type: ignore[arg-type]
            else:  # a value built just now for this message
                object.__setattr__(attribute, "wire_flags", flags & _KEPT)
        if code == _MP_REACH and len(attribute.nlri):  # type: ignore[union-attr]
            reach = True
        attributes.append(attribute)
    if reach:
        missing = _missing(seen, has_nlri_field)
        if missing is not None:
            errors.append(missing)
    return tuple(attributes), tuple(errors)


def _truncated(code: int) -> MalformedAttribute:
    return MalformedAttribute(code, _WITHDRAW, "attribute header truncated",
                              UpdateSubcode.MALFORMED_ATTRIBUTE_LIST)


def _missing(present: set[int], has_nlri_field: bool) -> MalformedAttribute | None:
    """RFC 7606 §3 d: a missing well-known mandatory attribute means treat-as-withdraw.

    ORIGIN and AS_PATH are needed when the UPDATE carries NLRI (NLRI field or MP_REACH_NLRI);
    NEXT_HOP only when the NLRI field is used (RFC 4760 §3).
    """
    if present >= _MANDATORY:
        return None
    for code in (AttrType.ORIGIN, AttrType.AS_PATH, AttrType.NEXT_HOP):
        if code not in present and (has_nlri_field or code != AttrType.NEXT_HOP):
            return MalformedAttribute(code, _WITHDRAW, f"missing well-known attribute {code.name}",
                                      UpdateSubcode.MISSING_WELL_KNOWN_ATTRIBUTE, bytes((code,)))
    return None
