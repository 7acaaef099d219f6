"""Network Layer Reachability Information: what a route *is*, never where it goes.

An :class:`Nlri` is identity only: address family, prefix (as a packed integer and a length),
ADD-PATH path identifier (RFC 7911), route distinguisher (RFC 4364) and MPLS labels
(RFC 8277). Next hops and announce/withdraw live in the attributes and the message.

Prefix representation
    A prefix is ``(value, length)`` where ``value`` is the network address as an unsigned
    integer with every host bit zero. ``ipaddress`` objects are built only on request
    (:attr:`Nlri.network`), because building them costs more than decoding the wire form.

Trailing bits
    RFC 4271 §4.3 says the bits after the prefix length, up to the octet boundary, are
    "irrelevant". The decoder therefore *normalises* them to zero (it never rejects them),
    and the :class:`Nlri` constructor *rejects* host bits given by a caller, so one prefix has
    exactly one value. A prefix length above the family's maximum (32 or 128) makes the whole
    field syntactically incorrect (RFC 7606 §5.3); the decoder raises :class:`DecodeError` and
    the message layer turns that into the RFC 7606 action (session reset for the NLRI and
    Withdrawn Routes fields, AFI/SAFI disable for MP_REACH/MP_UNREACH).

Speed
    Plain unicast NLRI fields are only *scanned* when a message is decoded (lengths checked,
    trailing bits tested); :class:`NlriList` keeps the canonical wire bytes and builds
    :class:`Nlri` objects lazily on first use. :meth:`NlriList.packed` gives
    ``(value, length, path_id)`` tuples without building objects, for RIBs keyed by integers.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network
from typing import Any, ClassVar, overload

from netlinkbgp.bgp.constants import AFI, SAFI
from netlinkbgp.errors import DecodeError, InvalidValueError, LocalProtocolError
from netlinkbgp.route import RouteDistinguisher

__all__ = [
    "IPV4_LABELED",
    "IPV4_UNICAST",
    "IPV6_LABELED",
    "IPV6_UNICAST",
    "SUPPORTED_FAMILIES",
    "VPNV4",
    "VPNV6",
    "Family",
    "Nlri",
    "NlriList",
]

_U32 = struct.Struct("!I")
# Plain ints for the hot paths: reading an IntEnum member costs more than the comparison.
_IPV4 = int(AFI.IPV4)
_UNICAST = int(SAFI.UNICAST)
_MULTICAST = int(SAFI.MULTICAST)
_LABELED = int(SAFI.LABELED_UNICAST)
_VPN = int(SAFI.MPLS_VPN)

#: RFC 8277 §2.4: the label field a withdrawal carries (RFC 3107's "compatibility" value).
WITHDRAW_LABEL = 0x800000
#: MPLS labels are 20 bits (RFC 3032 §2.1).
MAX_LABEL = 0xFFFFF
#: Bits of one label stack entry in an NLRI (RFC 8277 §2: label 20, TC 3, S 1).
_LABEL_BITS = 24
#: Bits of a route distinguisher (RFC 4364 §4.2).
_RD_BITS = 64


@dataclass(frozen=True, slots=True)
class Family:
    """An address family: AFI and SAFI (RFC 4760 §3).

    Attributes:
        afi: Address Family Identifier.
        safi: Subsequent Address Family Identifier.
    """

    afi: int
    safi: int

    IPV4_UNICAST: ClassVar[Family]
    IPV6_UNICAST: ClassVar[Family]

    @property
    def max_length(self) -> int:
        """Bits in an address of this family (32 for IPv4, 128 for IPv6)."""
        return 32 if self.afi == AFI.IPV4 else 128

    @property
    def has_rd(self) -> bool:
        """True for the VPN families, whose NLRI carry a route distinguisher."""
        return self.safi == SAFI.MPLS_VPN

    @property
    def has_labels(self) -> bool:
        """True for the families whose NLRI carry an MPLS label stack."""
        return self.safi in (SAFI.LABELED_UNICAST, SAFI.MPLS_VPN)

    def __str__(self) -> str:
        names = {
            (1, 1): "ipv4-unicast",
            (2, 1): "ipv6-unicast",
            (1, 4): "ipv4-labeled-unicast",
            (2, 4): "ipv6-labeled-unicast",
            (1, 128): "l3vpn-ipv4-unicast",
            (2, 128): "l3vpn-ipv6-unicast",
        }
        return names.get((self.afi, self.safi), f"afi{self.afi}-safi{self.safi}")


IPV4_UNICAST = Family(AFI.IPV4, SAFI.UNICAST)  #: RFC 4271 / RFC 4760
IPV6_UNICAST = Family(AFI.IPV6, SAFI.UNICAST)  #: RFC 2545 / RFC 4760
IPV4_LABELED = Family(AFI.IPV4, SAFI.LABELED_UNICAST)  #: RFC 8277
IPV6_LABELED = Family(AFI.IPV6, SAFI.LABELED_UNICAST)  #: RFC 8277
VPNV4 = Family(AFI.IPV4, SAFI.MPLS_VPN)  #: RFC 4364
VPNV6 = Family(AFI.IPV6, SAFI.MPLS_VPN)  #: RFC 4659
Family.IPV4_UNICAST = IPV4_UNICAST
Family.IPV6_UNICAST = IPV6_UNICAST

#: The families this codec can decode and encode.
SUPPORTED_FAMILIES = frozenset(
    {IPV4_UNICAST, IPV6_UNICAST, IPV4_LABELED, IPV6_LABELED, VPNV4, VPNV6}
)


@dataclass(frozen=True, slots=True)
class Nlri:
    """One route's identity.

    Attributes:
        afi: address family (:class:`~netlinkbgp.bgp.constants.AFI`).
        value: the network address as an unsigned integer, host bits zero.
        length: the prefix length in bits.
        path_id: RFC 7911 path identifier, or ``None`` without ADD-PATH.
        rd: route distinguisher of a VPN route (RFC 4364), else ``None``.
        labels: MPLS labels (20-bit values), outermost first (RFC 8277); empty for unicast
            routes and for withdrawals of labelled routes, whose label field has no meaning.
        compat: the 24-bit label field a received withdrawal carried (RFC 8277 §2.4: ignored
            on receipt). Not part of the identity (excluded from equality); kept only so a
            received withdrawal re-encodes byte for byte. ``None`` writes 0x800000.

    Raises:
        InvalidValueError: a field is out of range or host bits are set.
    """

    afi: int
    value: int
    length: int
    path_id: int | None = None
    rd: RouteDistinguisher | None = None
    labels: tuple[int, ...] = ()
    compat: int | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.afi not in (AFI.IPV4, AFI.IPV6):
            raise InvalidValueError(f"NLRI afi {self.afi} is not IPv4 or IPv6")
        bits = 32 if self.afi == AFI.IPV4 else 128
        if not 0 <= self.length <= bits:
            raise InvalidValueError(f"prefix length {self.length} is not in 0..{bits}")
        if not 0 <= self.value < (1 << bits):
            raise InvalidValueError(f"prefix value {self.value:#x} does not fit {bits} bits")
        if self.value & ((1 << (bits - self.length)) - 1):
            raise InvalidValueError(f"prefix {self.value:#x}/{self.length} has host bits set")
        if self.path_id is not None and not 0 <= self.path_id <= 0xFFFFFFFF:
            raise InvalidValueError(f"path id {self.path_id} is not a 32-bit number")
        for label in self.labels:
            if not 0 <= label <= MAX_LABEL:
                raise InvalidValueError(f"MPLS label {label} is not a 20-bit number")

    @classmethod
    def from_network(
        cls,
        network: IPv4Network | IPv6Network | str,
        *,
        path_id: int | None = None,
        rd: RouteDistinguisher | None = None,
        labels: Iterable[int] = (),
    ) -> Nlri:
        """Build an NLRI from an ``ipaddress`` network or its text form.

        Raises:
            InvalidValueError: the text is not a network or has host bits set.
        """
        if isinstance(network, str):
            try:
                network = IPv6Network(network) if ":" in network else IPv4Network(network)
            except ValueError as exc:
                raise InvalidValueError(f"{network!r} is not a network: {exc}") from None
        afi = AFI.IPV4 if network.version == 4 else AFI.IPV6
        return cls(afi, int(network.network_address), network.prefixlen, path_id, rd,
                   tuple(labels))

    @property
    def network(self) -> IPv4Network | IPv6Network:
        """The prefix as an ``ipaddress`` network (built on each call)."""
        if self.afi == AFI.IPV4:
            return IPv4Network((self.value, self.length))
        return IPv6Network((self.value, self.length))

    def __str__(self) -> str:
        text = str(self.network)
        if self.rd is not None:
            text = f"{self.rd}:{text}"
        if self.labels:
            text += " label " + "/".join(str(label) for label in self.labels)
        if self.path_id is not None:
            text += f" path-id {self.path_id}"
        return text


# -- trusted construction ------------------------------------------------------------------
# Validated wire data builds Nlri objects without __init__/__post_init__: the frozen
# dataclass __init__ costs several times the decoding itself (see docs/bgp.rst, Speed).

_new = object.__new__


def _slot_setter(cls: type, name: str) -> Callable[[object, Any], None]:
    """The slot descriptor's setter: writes a frozen dataclass field of a new object."""
    setter: Callable[[object, Any], None] = cls.__dict__[name].__set__
    return setter


_set_afi = _slot_setter(Nlri, "afi")
_set_value = _slot_setter(Nlri, "value")
_set_length = _slot_setter(Nlri, "length")
_set_path_id = _slot_setter(Nlri, "path_id")
_set_rd = _slot_setter(Nlri, "rd")
_set_labels = _slot_setter(Nlri, "labels")
_set_compat = _slot_setter(Nlri, "compat")


def _trusted(
    afi: int, value: int, length: int, path_id: int | None,
    rd: RouteDistinguisher | None, labels: tuple[int, ...], compat: int | None = None,
) -> Nlri:
    obj = _new(Nlri)
    _set_afi(obj, afi)
    _set_value(obj, value)
    _set_length(obj, length)
    _set_path_id(obj, path_id)
    _set_rd(obj, rd)
    _set_labels(obj, labels)
    _set_compat(obj, compat)
    return obj


#: Mask of the irrelevant trailing bits in the last octet, by ``length % 8``.
_TRAILING = (0x00, 0x7F, 0x3F, 0x1F, 0x0F, 0x07, 0x03, 0x01)


def _scan_unicast(
    buf: bytes | memoryview, start: int, end: int, max_length: int, add_path: bool
) -> tuple[int, bool]:
    """Check a plain prefix field. Returns (count, needs_normalising).

    Raises:
        DecodeError: a length beyond ``max_length``, or a prefix running past ``end``.
    """
    i = start
    count = 0
    dirty = False
    trailing = _TRAILING
    if add_path:
        while i < end:
            if i + 5 > end:
                raise DecodeError("ADD-PATH prefix truncated", i)
            plen = buf[i + 4]
            if plen > max_length:
                raise DecodeError(f"prefix length {plen} exceeds {max_length}", i + 4)
            i += 5 + ((plen + 7) >> 3)
            if i > end:
                raise DecodeError("prefix runs past the end of its field", end)
            if plen & 7 and buf[i - 1] & trailing[plen & 7]:
                dirty = True
            count += 1
        return count, dirty
    while i < end:
        plen = buf[i]
        if plen > max_length:
            raise DecodeError(f"prefix length {plen} exceeds {max_length}", i)
        i += 1 + ((plen + 7) >> 3)
        if i > end:
            raise DecodeError("prefix runs past the end of its field", end)
        if plen & 7 and buf[i - 1] & trailing[plen & 7]:
            dirty = True
        count += 1
    return count, dirty


def _masks(bits: int) -> tuple[int, ...]:
    full = (1 << bits) - 1
    return tuple(full ^ ((1 << (bits - n)) - 1) for n in range(bits + 1))


#: Network masks by prefix length, as integers.
_MASKS_V4 = _masks(32)
_MASKS_V6 = _masks(128)


def _packed_unicast(
    wire: bytes, max_length: int, add_path: bool
) -> list[tuple[int, int, int | None]]:
    """(value, length, path_id) for every prefix of a field already scanned."""
    out: list[tuple[int, int, int | None]] = []
    append = out.append
    from_bytes = int.from_bytes
    masks = _MASKS_V4 if max_length == 32 else _MASKS_V6
    i = 0
    end = len(wire)
    path_id: int | None = None
    while i < end:
        if add_path:
            path_id = _U32.unpack_from(wire, i)[0]
            i += 4
        plen = wire[i]
        nbytes = (plen + 7) >> 3
        j = i + 1 + nbytes
        value = from_bytes(wire[i + 1 : j], "big") << (max_length - (nbytes << 3))
        append((value & masks[plen], plen, path_id))
        i = j
    return out


def _decode_labelled(
    buf: bytes | memoryview, start: int, end: int, family: Family, add_path: bool,
    withdraw: bool,
) -> tuple[Nlri, ...]:
    """Decode labelled (RFC 8277) or VPN (RFC 4364/4659) NLRI.

    Raises:
        DecodeError: the field is syntactically incorrect.
    """
    out: list[Nlri] = []
    max_length = family.max_length
    has_rd = family.has_rd
    afi = family.afi
    i = start
    path_id: int | None = None
    while i < end:
        if add_path:
            if i + 4 > end:
                raise DecodeError("ADD-PATH path id truncated", i)
            path_id = _U32.unpack_from(buf, i)[0]
            i += 4
        if i >= end:
            raise DecodeError("NLRI length octet missing", i)
        bits = buf[i]
        j = i + 1 + ((bits + 7) >> 3)
        if j > end:
            raise DecodeError("NLRI runs past the end of its field", end)
        i += 1
        labels: list[int] = []
        compat: int | None = None
        if withdraw:
            # RFC 8277 §2.4: a withdrawal's label field is ignored on receipt (0x800000 or 0);
            # it is kept aside only to re-encode the same bytes.
            if bits < _LABEL_BITS:
                raise DecodeError("labelled NLRI shorter than one label", i - 1)
            compat = (buf[i] << 16) | (buf[i + 1] << 8) | buf[i + 2]
            bits -= _LABEL_BITS
            i += 3
        else:
            while True:
                if bits < _LABEL_BITS:
                    raise DecodeError("label stack without bottom-of-stack bit", i)
                entry = (buf[i] << 16) | (buf[i + 1] << 8) | buf[i + 2]
                labels.append(entry >> 4)
                bits -= _LABEL_BITS
                i += 3
                if entry & 1:
                    break
        rd: RouteDistinguisher | None = None
        if has_rd:
            if bits < _RD_BITS:
                raise DecodeError("VPN NLRI shorter than a route distinguisher", i)
            try:
                rd = RouteDistinguisher.from_bytes(bytes(buf[i : i + 8]))
            except InvalidValueError as exc:
                raise DecodeError(str(exc), i) from None
            bits -= _RD_BITS
            i += 8
        if bits > max_length:
            raise DecodeError(f"prefix length {bits} exceeds {max_length}", i)
        nbytes = j - i
        value = int.from_bytes(buf[i:j], "big") << (max_length - (nbytes << 3))
        value &= (_MASKS_V4 if max_length == 32 else _MASKS_V6)[bits]
        out.append(_trusted(afi, value, bits, path_id, rd, tuple(labels), compat))
        i = j
    return tuple(out)


def encode_nlri(nlri: Nlri, family: Family, add_path: bool, withdraw: bool = False) -> bytes:
    """Encode one NLRI in the wire form of ``family``.

    Args:
        nlri: the route identity.
        family: the family whose encoding to use.
        add_path: write the RFC 7911 path identifier (required when true, refused when false).
        withdraw: labelled families write the RFC 8277 §2.4 withdrawal label instead of the
            label stack.

    Returns:
        The encoded NLRI.

    Raises:
        LocalProtocolError: the NLRI does not fit the family or the ADD-PATH setting.
    """
    if nlri.afi != family.afi:
        raise LocalProtocolError(f"{nlri} is not in family {family}")
    head = b""
    if add_path:
        if nlri.path_id is None:
            raise LocalProtocolError(f"{nlri} needs a path id: ADD-PATH is on for {family}")
        head = _U32.pack(nlri.path_id)
    elif nlri.path_id is not None:
        raise LocalProtocolError(f"{nlri} has a path id but ADD-PATH is off for {family}")
    max_length = family.max_length
    nbytes = (nlri.length + 7) >> 3
    prefix = (nlri.value >> (max_length - (nbytes << 3))).to_bytes(nbytes, "big")
    if not family.has_labels:
        if nlri.rd is not None or nlri.labels:
            raise LocalProtocolError(f"{nlri} has an RD or labels; {family} carries neither")
        return head + bytes((nlri.length,)) + prefix
    body = bytearray()
    if withdraw:
        compat = WITHDRAW_LABEL if nlri.compat is None else nlri.compat
        body += compat.to_bytes(3, "big")
    else:
        if not nlri.labels:
            raise LocalProtocolError(f"{nlri} needs at least one label for {family}")
        last = len(nlri.labels) - 1
        for index, label in enumerate(nlri.labels):
            body += ((label << 4) | (index == last)).to_bytes(3, "big")
    if family.has_rd:
        if nlri.rd is None:
            raise LocalProtocolError(f"{nlri} needs a route distinguisher for {family}")
        body += nlri.rd.to_bytes()
    elif nlri.rd is not None:
        raise LocalProtocolError(f"{nlri} has an RD; {family} carries none")
    bits = len(body) * 8 + nlri.length
    if bits > 255:
        raise LocalProtocolError(f"{nlri} does not fit one NLRI (length {bits} bits > 255)")
    return head + bytes((bits,)) + bytes(body) + prefix


class NlriList(Sequence[Nlri]):
    """An immutable sequence of NLRI of one family, as carried by one field or attribute.

    Built either from :class:`Nlri` values (``NlriList(family, items)``) or by the decoder
    from validated wire bytes; in the second case the items are built on first access.
    Equality and hashing are by family and items, in order.

    Args:
        family: the family of every item.
        items: the NLRI.

    Raises:
        LocalProtocolError: an item's AFI differs from the family's.
    """

    __slots__ = ("_add_path", "_count", "_family", "_hash", "_items", "_wire")

    def __init__(self, family: Family, items: Iterable[Nlri] = ()) -> None:
        self._family = family
        self._items: tuple[Nlri, ...] | None = tuple(items)
        for item in self._items:
            if item.afi != family.afi:
                raise LocalProtocolError(f"{item} is not in family {family}")
        self._count = len(self._items)
        self._wire: bytes | None = None
        self._add_path = False
        self._hash: int | None = None

    @classmethod
    def decode(
        cls, data: bytes | memoryview, family: Family, *, add_path: bool = False,
        withdraw: bool = False, start: int = 0, end: int | None = None,
    ) -> NlriList:
        """Decode an NLRI field (or the NLRI part of MP_REACH/MP_UNREACH).

        Args:
            data: the buffer.
            family: the family of the field.
            add_path: whether each NLRI starts with an RFC 7911 path identifier.
            withdraw: the field lists withdrawals (labelled families ignore the label).
            start: offset of the field in ``data``.
            end: offset just past the field (default: end of ``data``).

        Returns:
            The list.

        Raises:
            DecodeError: the field is syntactically incorrect (RFC 7606 §5.3).
        """
        if end is None:
            end = len(data)
        safi = family.safi
        if safi in (_LABELED, _VPN):
            items = _decode_labelled(data, start, end, family, add_path, withdraw)
            self = _new(cls)
            self._family = family
            self._hash = None
            self._add_path = add_path
            self._items = items
            self._count = len(items)
            self._wire = None
            return self
        if safi not in (_UNICAST, _MULTICAST):
            raise DecodeError(f"family {family} is not supported", start)
        if start == end:
            return _EMPTY_V4 if family is IPV4_UNICAST else cls(family)
        max_length = 32 if family.afi == _IPV4 else 128
        count, dirty = _scan_unicast(data, start, end, max_length, add_path)
        self = _new(cls)
        self._family = family
        self._hash = None
        self._add_path = add_path
        self._count = count
        self._items = None
        self._wire = bytes(data[start:end])
        if dirty:  # normalise trailing bits once, so the stored wire form is canonical
            self._wire = b"".join(
                (_U32.pack(p) if add_path and p is not None else b"")
                + bytes((length,))
                + (value >> (family.max_length - (((length + 7) >> 3) << 3))).to_bytes(
                    (length + 7) >> 3, "big"
                )
                for value, length, p in _packed_unicast(self._wire, family.max_length, add_path)
            )
        return self

    @property
    def family(self) -> Family:
        """The family of every item."""
        return self._family

    def packed(self) -> list[tuple[int, int, int | None]]:
        """Every NLRI as ``(value, length, path_id)`` without building objects.

        Intended for RIBs keyed by integers; ``rd`` and ``labels`` are not included.

        Returns:
            One tuple per NLRI, in order; ``path_id`` is ``None`` without ADD-PATH.
        """
        if self._wire is not None:
            return _packed_unicast(self._wire, self._family.max_length, self._add_path)
        return [(n.value, n.length, n.path_id) for n in self._materialise()]

    def _materialise(self) -> tuple[Nlri, ...]:
        items = self._items
        if items is None:
            afi = self._family.afi
            out: list[Nlri] = []
            append = out.append
            new, set_afi, set_value, set_length = _new, _set_afi, _set_value, _set_length
            set_path_id, set_rd, set_labels = _set_path_id, _set_rd, _set_labels
            for value, length, path_id in self.packed():
                obj = new(Nlri)
                set_afi(obj, afi)
                set_value(obj, value)
                set_length(obj, length)
                set_path_id(obj, path_id)
                set_rd(obj, None)
                set_labels(obj, ())
                append(obj)
            items = self._items = tuple(out)
        return items

    def encode(self, *, add_path: bool = False, withdraw: bool = False) -> bytes:
        """The wire form of every NLRI, concatenated.

        Args:
            add_path: write RFC 7911 path identifiers.
            withdraw: use the withdrawal form (RFC 8277 §2.4 label for labelled families).

        Raises:
            LocalProtocolError: an NLRI cannot be encoded with these settings.
        """
        if self._wire is not None and add_path == self._add_path:
            return self._wire
        family = self._family
        return b"".join(encode_nlri(n, family, add_path, withdraw) for n in self._materialise())

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Nlri]:
        return iter(self._materialise())

    @overload
    def __getitem__(self, index: int) -> Nlri: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[Nlri, ...]: ...

    def __getitem__(self, index: int | slice) -> Nlri | tuple[Nlri, ...]:
        return self._materialise()[index]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NlriList):
            return NotImplemented
        if self._family != other._family or self._count != other._count:
            return False
        if (
            self._wire is not None
            and other._wire is not None
            and self._add_path == other._add_path
        ):
            return self._wire == other._wire
        return self._materialise() == other._materialise()

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash((self._family, self._materialise()))
        return self._hash

    def __repr__(self) -> str:
        return f"NlriList({self._family!s}, [{', '.join(str(n) for n in self)}])"


#: The empty IPv4 unicast list, shared: nearly every UPDATE has an empty Withdrawn Routes field.
_EMPTY_V4 = NlriList(IPV4_UNICAST)
