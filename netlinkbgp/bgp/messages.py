"""BGP messages (RFC 4271 §4) as frozen values, and their codec.

``decode_message(data, ctx)`` takes one whole message (header included) and returns an
:class:`Open`, :class:`Update`, :class:`Notification`, :class:`Keepalive` or
:class:`RouteRefresh`; ``encode_message(msg, ctx)`` is the inverse. ``split_messages`` cuts a TCP
byte stream into whole messages. Bad input raises only
:class:`~netlinkbgp.errors.RemoteProtocolError` (carrying the NOTIFICATION to send).

UPDATE errors follow RFC 7606 (see :mod:`netlinkbgp.bgp.rfc7606`): only session-reset cases
raise; the others are recorded on :attr:`Update.errors`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Address

from netlinkbgp.bgp.aspath import As4Path, AsPath, reconstruct_as_path
from netlinkbgp.bgp.attributes import (
    Aggregator,
    As4Aggregator,
    Attribute,
    MpReachNlri,
    MpUnreachNlri,
    encode_attribute,
)
from netlinkbgp.bgp.capabilities import (
    Capability,
    FourOctetAs,
    Negotiated,
    decode_capability,
    encode_capability,
)
from netlinkbgp.bgp.constants import (
    BGP_VERSION,
    HEADER_SIZE,
    MARKER,
    MAX_MESSAGE_SIZE,
    ErrorCode,
    MessageHeaderSubcode,
    MessageType,
    OpenSubcode,
    RouteRefreshErrorSubcode,
    RouteRefreshSubtype,
    UpdateSubcode,
)
from netlinkbgp.bgp.nlri import IPV4_UNICAST, Family, NlriList
from netlinkbgp.bgp.rfc7606 import (
    ErrorAction,
    MalformedAttribute,
    decode_attribute_block,
)
from netlinkbgp.errors import DecodeError, LocalProtocolError, RemoteProtocolError

__all__ = [
    "Keepalive",
    "Message",
    "Notification",
    "Open",
    "RouteRefresh",
    "Update",
    "decode_message",
    "encode_message",
    "split_messages",
]

_HEADER = struct.Struct("!16sHB")
_LENGTH = struct.Struct("!H")
_OPEN = struct.Struct("!BHH4sB")
_ROUTE_REFRESH = struct.Struct("!HBB")
_NOTIFICATION = struct.Struct("!BB")

# Plain ints for the hot path: reading an IntEnum member costs more than the comparison.
_UPDATE = int(MessageType.UPDATE)
_KEEPALIVE = int(MessageType.KEEPALIVE)
_OPEN_TYPE = int(MessageType.OPEN)
_NOTIFICATION_TYPE = int(MessageType.NOTIFICATION)
_ROUTE_REFRESH_TYPE = int(MessageType.ROUTE_REFRESH)

#: RFC 4271 §4.2: minimum OPEN length (header + 10 octets).
_MIN_OPEN = 29
#: RFC 4271 §4.3: minimum UPDATE length (header + two 2-octet length fields).
_MIN_UPDATE = 23
#: RFC 4271 §4.5: minimum NOTIFICATION length (header + code + subcode).
_MIN_NOTIFICATION = 21
#: RFC 2918 §3: a ROUTE-REFRESH is the header + 4 octets.
_ROUTE_REFRESH_SIZE = 23
#: RFC 9072 §2: Non-Ext OP Len and Non-Ext OP Type of 255 announce extended parameters.
_EXTENDED_PARAMS = 255
#: RFC 5492 §4: Optional Parameter type 2 holds capabilities.
_PARAM_CAPABILITIES = 2


@dataclass(frozen=True, slots=True)
class Open:
    """OPEN (RFC 4271 §4.2).

    Attributes:
        my_as: the 2-octet My Autonomous System field (AS_TRANS for a 4-octet AS, whose real
            value is in the :class:`~netlinkbgp.bgp.capabilities.FourOctetAs` capability).
        hold_time: proposed hold time in seconds (0 or >= 3).
        bgp_id: BGP Identifier.
        capabilities: capabilities, in order (RFC 5492).
        version: protocol version (4).
    """

    my_as: int
    hold_time: int
    bgp_id: IPv4Address
    capabilities: tuple[Capability, ...] = ()
    version: int = BGP_VERSION

    @property
    def asn(self) -> int:
        """The speaker's AS: from the 4-octet AS capability when present (RFC 6793 §3)."""
        for capability in self.capabilities:
            if isinstance(capability, FourOctetAs):
                return capability.asn
        return self.my_as


@dataclass(frozen=True, slots=True)
class Update:
    """UPDATE (RFC 4271 §4.3).

    Attributes:
        withdrawn: IPv4 unicast routes withdrawn in the Withdrawn Routes field.
        attributes: path attributes that decoded (malformed ones are in ``errors``).
        nlri: IPv4 unicast routes announced in the NLRI field.
        errors: RFC 7606 errors found while decoding, each with its action.
        raw_attributes: the Path Attributes field as received, for interning attribute sets
            by bytes (excluded from equality; ``None`` for a locally built UPDATE).
    """

    withdrawn: NlriList = field(default_factory=lambda: NlriList(IPV4_UNICAST))
    attributes: tuple[Attribute, ...] = ()
    nlri: NlriList = field(default_factory=lambda: NlriList(IPV4_UNICAST))
    errors: tuple[MalformedAttribute, ...] = ()
    raw_attributes: bytes | None = field(default=None, compare=False, repr=False)

    @property
    def action(self) -> ErrorAction | None:
        """The strongest RFC 7606 action among ``errors`` (RFC 7606 §3 h), or ``None``."""
        return max((e.action for e in self.errors), default=None)

    @property
    def treat_as_withdraw(self) -> bool:
        """True when every NLRI of this UPDATE must be handled as withdrawn (RFC 7606 §2)."""
        return any(e.action == ErrorAction.TREAT_AS_WITHDRAW for e in self.errors)

    @property
    def disabled_families(self) -> frozenset[Family]:
        """Families RFC 7606 / RFC 4760 §7 say to disable for the session."""
        return frozenset(
            e.family for e in self.errors
            if e.action == ErrorAction.AFI_SAFI_DISABLE and e.family is not None
        )

    @property
    def mp_reach(self) -> MpReachNlri | None:
        """The MP_REACH_NLRI attribute, if any."""
        return next((a for a in self.attributes if isinstance(a, MpReachNlri)), None)

    @property
    def mp_unreach(self) -> MpUnreachNlri | None:
        """The MP_UNREACH_NLRI attribute, if any."""
        return next((a for a in self.attributes if isinstance(a, MpUnreachNlri)), None)

    @property
    def as_path(self) -> AsPath | None:
        """The AS path, reconstructed from AS_PATH and AS4_PATH when a 2-octet AS peer sent
        both (RFC 6793 §4.2.3); ``None`` when the UPDATE has no AS_PATH."""
        found: dict[type, object] = {type(a): a for a in self.attributes}
        path = found.get(AsPath)
        if not isinstance(path, AsPath):
            return None
        as4 = found.get(As4Path)
        aggregator = found.get(Aggregator)
        return reconstruct_as_path(
            path, as4 if isinstance(as4, As4Path) else None,
            aggregator.asn if isinstance(aggregator, Aggregator) else None,
            As4Aggregator in found,
        )

    @property
    def end_of_rib(self) -> Family | None:
        """The family this UPDATE marks End-of-RIB for (RFC 4724 §2), else ``None``.

        IPv4 unicast: an UPDATE with nothing in it. Other families: an UPDATE whose only
        attribute is an empty MP_UNREACH_NLRI.
        """
        if self.errors or self.withdrawn or self.nlri:
            return None
        if not self.attributes:
            return IPV4_UNICAST
        if len(self.attributes) == 1:
            only = self.attributes[0]
            if isinstance(only, MpUnreachNlri) and not only.withdrawn:
                return only.family
        return None

    @classmethod
    def end_of_rib_marker(cls, family: Family) -> Update:
        """The End-of-RIB UPDATE for ``family`` (RFC 4724 §2)."""
        if family == IPV4_UNICAST:
            return cls()
        return cls(attributes=(MpUnreachNlri(family, NlriList(family)),))


@dataclass(frozen=True, slots=True)
class Notification:
    """NOTIFICATION (RFC 4271 §4.5).

    Attributes:
        code: error code (:class:`~netlinkbgp.bgp.constants.ErrorCode`).
        subcode: error subcode.
        data: diagnostic data.
    """

    code: int
    subcode: int = 0
    data: bytes = b""

    @classmethod
    def from_error(cls, error: RemoteProtocolError) -> Notification:
        """The NOTIFICATION that reports ``error`` to the peer."""
        return cls(error.code, error.subcode, error.data)


@dataclass(frozen=True, slots=True)
class Keepalive:
    """KEEPALIVE (RFC 4271 §4.4): a header and nothing else."""


@dataclass(frozen=True, slots=True)
class RouteRefresh:
    """ROUTE-REFRESH (RFC 2918 §3), with the RFC 7313 §3.2 subtype (BoRR/EoRR markers).

    Attributes:
        family: the family to refresh.
        subtype: 0 request, 1 Beginning of Route Refresh, 2 End of Route Refresh.
    """

    family: Family
    subtype: int = RouteRefreshSubtype.NORMAL


Message = Open | Update | Notification | Keepalive | RouteRefresh


# -- framing ------------------------------------------------------------------------------


def _bad_length(length: int, why: str) -> RemoteProtocolError:
    """RFC 4271 §6.1: Bad Message Length, "the Data field MUST contain the erroneous Length"."""
    return RemoteProtocolError(f"bad message length {length}: {why}",
                               ErrorCode.MESSAGE_HEADER_ERROR,
                               MessageHeaderSubcode.BAD_MESSAGE_LENGTH, _LENGTH.pack(length))


def _not_synchronized() -> RemoteProtocolError:
    return RemoteProtocolError("marker is not all ones", ErrorCode.MESSAGE_HEADER_ERROR,
                               MessageHeaderSubcode.CONNECTION_NOT_SYNCHRONIZED)


def split_messages(
    buffer: bytes | bytearray | memoryview, max_size: int = MAX_MESSAGE_SIZE
) -> tuple[list[bytes], bytes]:
    """Cut whole messages off the front of a TCP byte stream.

    Args:
        buffer: bytes received so far.
        max_size: the largest acceptable message: 4096, or 65535 with Extended Message
            (``ctx.max_message_size``).

    Returns:
        The complete messages (header included) and the unconsumed remainder.

    Raises:
        RemoteProtocolError: a marker is not all ones (Connection Not Synchronized) or a length
            is outside 19..``max_size`` (Bad Message Length, with the length as data).
    """
    view = memoryview(buffer).cast("B") if not isinstance(buffer, bytes) else buffer
    messages: list[bytes] = []
    i = 0
    size = len(view)
    while size - i >= HEADER_SIZE:
        if view[i : i + 16] != MARKER:
            raise _not_synchronized()
        (length,) = _LENGTH.unpack_from(view, i + 16)
        if length < HEADER_SIZE or length > max_size:
            raise _bad_length(length, f"not in {HEADER_SIZE}..{max_size}")
        if i + length > size:
            break
        messages.append(bytes(view[i : i + length]))
        i += length
    return messages, bytes(view[i:])


# -- decoding -----------------------------------------------------------------------------


def decode_message(data: bytes | bytearray | memoryview, ctx: Negotiated) -> Message:
    """Decode one whole BGP message, header included.

    Args:
        data: exactly one message.
        ctx: the session context.

    Returns:
        The message. An :class:`Update` may carry RFC 7606 errors whose action is weaker than
        session reset.

    Raises:
        RemoteProtocolError: the message is malformed in a way that resets the session; its
            code, subcode and data are the NOTIFICATION to send.
    """
    buf = data if type(data) is bytes else bytes(data)
    size = len(buf)
    if size < HEADER_SIZE:
        raise _bad_length(size, "shorter than a header")
    if not buf.startswith(MARKER):
        raise _not_synchronized()
    length = (buf[16] << 8) | buf[17]
    kind = buf[18]
    if length != size:
        raise _bad_length(length, f"the message has {size} octets")
    if length > MAX_MESSAGE_SIZE and not ctx.extended_message:  # RFC 8654 §4
        raise _bad_length(length, f"larger than {MAX_MESSAGE_SIZE}")
    if kind == _UPDATE:
        if length < _MIN_UPDATE:
            raise _bad_length(length, "too short for UPDATE")
        return _decode_update(buf, ctx)
    if kind == _KEEPALIVE:
        if length != HEADER_SIZE:
            raise _bad_length(length, "KEEPALIVE is exactly 19 octets")
        return Keepalive()
    if kind == _OPEN_TYPE:
        if length < _MIN_OPEN or length > MAX_MESSAGE_SIZE:  # RFC 8654 §4: OPEN stays <= 4096
            raise _bad_length(length, "OPEN must be 29..4096 octets")
        return _decode_open(buf)
    if kind == _NOTIFICATION_TYPE:
        if length < _MIN_NOTIFICATION:
            raise _bad_length(length, "too short for NOTIFICATION")
        code, subcode = _NOTIFICATION.unpack_from(buf, HEADER_SIZE)
        return Notification(code, subcode, buf[HEADER_SIZE + 2 :])
    if kind == _ROUTE_REFRESH_TYPE:
        if length != _ROUTE_REFRESH_SIZE:
            if ctx.enhanced_route_refresh:  # RFC 7313 §5: the data is the whole message
                raise RemoteProtocolError(
                    f"ROUTE-REFRESH of {length} octets", ErrorCode.ROUTE_REFRESH_MESSAGE_ERROR,
                    RouteRefreshErrorSubcode.INVALID_MESSAGE_LENGTH, buf,
                )
            raise _bad_length(length, "ROUTE-REFRESH is exactly 23 octets")
        afi, subtype, safi = _ROUTE_REFRESH.unpack_from(buf, HEADER_SIZE)
        return RouteRefresh(Family(afi, safi), subtype)
    raise RemoteProtocolError(f"unknown message type {kind}", ErrorCode.MESSAGE_HEADER_ERROR,
                              MessageHeaderSubcode.BAD_MESSAGE_TYPE, bytes((kind,)))


def _open_error(message: str, subcode: int = OpenSubcode.UNSPECIFIC,
                data: bytes = b"") -> RemoteProtocolError:
    return RemoteProtocolError(message, ErrorCode.OPEN_MESSAGE_ERROR, subcode, data)


def _decode_open(buf: bytes) -> Open:
    version, my_as, hold_time, bgp_id, params_len = _OPEN.unpack_from(buf, HEADER_SIZE)
    if version != BGP_VERSION:  # RFC 4271 §6.2: data is the largest supported version
        raise _open_error(f"version {version}", OpenSubcode.UNSUPPORTED_VERSION_NUMBER,
                          _LENGTH.pack(BGP_VERSION))
    if hold_time in (1, 2):
        raise _open_error(f"hold time {hold_time}", OpenSubcode.UNACCEPTABLE_HOLD_TIME)
    if bgp_id == b"\x00\x00\x00\x00":  # RFC 6286 §2.2: a non-zero 32-bit number
        raise _open_error("BGP identifier 0", OpenSubcode.BAD_BGP_IDENTIFIER)
    if my_as == 0:  # RFC 7607 §2: AS 0 in OPEN is Bad Peer AS
        raise _open_error("my AS is 0", OpenSubcode.BAD_PEER_AS)
    i = _MIN_OPEN
    wide = params_len == _EXTENDED_PARAMS and len(buf) > i and buf[i] == _EXTENDED_PARAMS
    if wide:  # RFC 9072 §2
        if len(buf) < i + 3:
            raise _open_error("extended optional parameters length missing")
        (params_len,) = _LENGTH.unpack_from(buf, i + 1)
        i += 3
    end = i + params_len
    if end != len(buf):
        raise _open_error(f"optional parameters length {params_len} does not match the message")
    capabilities: list[Capability] = []
    head = 3 if wide else 2
    while i < end:
        if i + head > end:
            raise _open_error("optional parameter header truncated")
        kind = buf[i]
        size = _LENGTH.unpack_from(buf, i + 1)[0] if wide else buf[i + 1]
        start = i + head
        i = start + size
        if i > end:
            raise _open_error("optional parameter overruns the message")
        if kind != _PARAM_CAPABILITIES:
            raise _open_error(f"optional parameter type {kind}",
                              OpenSubcode.UNSUPPORTED_OPTIONAL_PARAMETER)
        j = start
        while j < i:
            if j + 2 > i:
                raise _open_error("capability header truncated")
            code, cap_len = buf[j], buf[j + 1]
            if j + 2 + cap_len > i:
                raise _open_error(f"capability {code} overruns its parameter")
            try:
                capabilities.append(decode_capability(code, buf[j + 2 : j + 2 + cap_len]))
            except DecodeError as exc:
                raise _open_error(f"capability {code}: {exc.reason}") from None
            j += 2 + cap_len
    return Open(my_as, hold_time, IPv4Address(bgp_id), tuple(capabilities), version)


def _decode_update(buf: bytes, ctx: Negotiated) -> Update:
    end = len(buf)
    (withdrawn_len,) = _LENGTH.unpack_from(buf, HEADER_SIZE)
    withdrawn_end = HEADER_SIZE + 2 + withdrawn_len
    if withdrawn_end + 2 > end:  # RFC 4271 §6.3 / RFC 7606 §3 b
        raise RemoteProtocolError("withdrawn routes length overruns the message",
                                  ErrorCode.UPDATE_MESSAGE_ERROR,
                                  UpdateSubcode.MALFORMED_ATTRIBUTE_LIST)
    (attributes_len,) = _LENGTH.unpack_from(buf, withdrawn_end)
    attributes_start = withdrawn_end + 2
    attributes_end = attributes_start + attributes_len
    if attributes_end > end:  # RFC 7606 §3 b: still a session reset
        raise RemoteProtocolError("total path attribute length overruns the message",
                                  ErrorCode.UPDATE_MESSAGE_ERROR,
                                  UpdateSubcode.MALFORMED_ATTRIBUTE_LIST)
    receive = ctx.add_path_receive
    add_path = bool(receive) and IPV4_UNICAST in receive
    try:
        withdrawn = _NO_ROUTES if not withdrawn_len else NlriList.decode(
            buf, IPV4_UNICAST, add_path=add_path, withdraw=True, start=HEADER_SIZE + 2,
            end=withdrawn_end)
        nlri = NlriList.decode(buf, IPV4_UNICAST, add_path=add_path, start=attributes_end,
                               end=end)
    except DecodeError as exc:  # RFC 7606 §5.3: syntactically incorrect: session reset
        raise RemoteProtocolError(exc.reason, ErrorCode.UPDATE_MESSAGE_ERROR,
                                  UpdateSubcode.INVALID_NETWORK_FIELD) from None
    attributes: tuple[Attribute, ...] = ()
    errors: tuple[MalformedAttribute, ...] = ()
    if attributes_len or len(nlri):
        attributes, errors = decode_attribute_block(buf, attributes_start, attributes_end, ctx,
                                                    bool(len(nlri)))
    update = _new(Update)
    _set_withdrawn(update, withdrawn)
    _set_attributes(update, attributes)
    _set_nlri(update, nlri)
    _set_errors(update, errors)
    _set_raw(update, buf[attributes_start:attributes_end])
    return update


_new = object.__new__
#: The empty Withdrawn Routes field, shared (NlriList values are immutable).
_NO_ROUTES = NlriList(IPV4_UNICAST)
_set_withdrawn = Update.__dict__["withdrawn"].__set__
_set_attributes = Update.__dict__["attributes"].__set__
_set_nlri = Update.__dict__["nlri"].__set__
_set_errors = Update.__dict__["errors"].__set__
_set_raw = Update.__dict__["raw_attributes"].__set__


# -- encoding -----------------------------------------------------------------------------


def _frame(kind: int, body: bytes, max_size: int) -> bytes:
    length = HEADER_SIZE + len(body)
    if length > max_size:
        raise LocalProtocolError(f"message of {length} octets exceeds {max_size}")
    return _HEADER.pack(MARKER, length, kind) + body


def _encode_params(capabilities: Iterable[Capability]) -> bytes:
    caps = b"".join(encode_capability(c) for c in capabilities)
    if not caps:
        return b"\x00"
    if len(caps) + 2 <= 255:
        return bytes((len(caps) + 2, _PARAM_CAPABILITIES, len(caps))) + caps
    # RFC 9072 §2: 255, 255, then a 2-octet length; parameter lengths become 2 octets.
    param = bytes((_PARAM_CAPABILITIES,)) + _LENGTH.pack(len(caps)) + caps
    return bytes((_EXTENDED_PARAMS, _EXTENDED_PARAMS)) + _LENGTH.pack(len(param)) + param


def encode_update_body(update: Update, ctx: Negotiated) -> bytes:
    """The UPDATE message body (everything after the header).

    Attributes are written in the order given, so a received UPDATE re-encodes byte for byte
    even from a peer that does not put MP_REACH_NLRI first, and a test harness can send exactly
    the order it wants. :func:`~netlinkbgp.bgp.packing.pack_updates` (what the speaker uses)
    puts MP_REACH_NLRI / MP_UNREACH_NLRI first, as RFC 7606 §5.1 asks of a sender.

    Raises:
        LocalProtocolError: something cannot be encoded for this session.
    """
    add_path = IPV4_UNICAST in ctx.add_path_send
    for part in (update.withdrawn, update.nlri):
        if part.family != IPV4_UNICAST:
            raise LocalProtocolError(f"UPDATE NLRI fields carry IPv4 unicast, not {part.family}")
    withdrawn = update.withdrawn.encode(add_path=add_path, withdraw=True)
    attributes = b"".join(encode_attribute(a, ctx) for a in update.attributes)
    nlri = update.nlri.encode(add_path=add_path)
    if len(withdrawn) > 0xFFFF or len(attributes) > 0xFFFF:
        raise LocalProtocolError("UPDATE field longer than 65535 octets")
    return b"".join((_LENGTH.pack(len(withdrawn)), withdrawn,
                     _LENGTH.pack(len(attributes)), attributes, nlri))


def encode_message(message: Message, ctx: Negotiated) -> bytes:
    """Encode one message, header included.

    Args:
        message: the message.
        ctx: the session context.

    Returns:
        The bytes to send.

    Raises:
        LocalProtocolError: the message cannot be encoded for this session (too large, an AS
            that does not fit, a next hop the family does not allow...).
    """
    max_size = ctx.max_message_size
    if isinstance(message, Update):
        return _frame(MessageType.UPDATE, encode_update_body(message, ctx), max_size)
    if isinstance(message, Keepalive):
        return _frame(MessageType.KEEPALIVE, b"", max_size)
    if isinstance(message, Notification):
        if not (0 <= message.code <= 255 and 0 <= message.subcode <= 255):
            raise LocalProtocolError(f"NOTIFICATION code/subcode {message.code}/{message.subcode}")
        body = _NOTIFICATION.pack(message.code, message.subcode) + message.data
        return _frame(MessageType.NOTIFICATION, body, max_size)
    if isinstance(message, RouteRefresh):
        try:
            body = _ROUTE_REFRESH.pack(message.family.afi, message.subtype, message.family.safi)
        except struct.error as exc:
            raise LocalProtocolError(f"ROUTE-REFRESH field out of range: {exc}") from None
        return _frame(MessageType.ROUTE_REFRESH, body, max_size)
    if isinstance(message, Open):
        if not (0 <= message.my_as <= 0xFFFF and 0 <= message.hold_time <= 0xFFFF
                and 0 <= message.version <= 255):
            raise LocalProtocolError("OPEN field out of range (my AS is 2 octets: use AS_TRANS)")
        if message.hold_time in (1, 2):  # RFC 4271 §4.2: zero or at least three seconds
            raise LocalProtocolError(f"hold time {message.hold_time} is not 0 or >= 3")
        body = _OPEN.pack(message.version, message.my_as, message.hold_time,
                          message.bgp_id.packed, 0)[:-1] + _encode_params(message.capabilities)
        return _frame(MessageType.OPEN, body, MAX_MESSAGE_SIZE)
    raise LocalProtocolError(f"not a BGP message: {message!r}")
