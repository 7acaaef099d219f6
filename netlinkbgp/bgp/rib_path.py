"""Interned paths, peers, prefix keys and the decision process of the RIB.

See :mod:`netlinkbgp.bgp.rib` for the storage they serve. A :class:`Path` is one received
attribute set, shared by every prefix that carries it; :func:`select_best` is the RFC 4271
§9.1.2 decision process over paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

from netlinkbgp.bgp.aspath import As4Path, AsPath, path_length, reconstruct_as_path
from netlinkbgp.bgp.attributes import (
    Aggregator,
    As4Aggregator,
    Attribute,
    ClusterList,
    Communities,
    ExtendedCommunities,
    LargeCommunities,
    LocalPref,
    MultiExitDisc,
    NextHopAddress,
    NextHopAttribute,
    OriginatorId,
    OriginAttribute,
)
from netlinkbgp.bgp.capabilities import Negotiated
from netlinkbgp.bgp.constants import AsPathSegmentType
from netlinkbgp.bgp.nlri import IPV4_UNICAST, Family, Nlri
from netlinkbgp.bgp.rfc7606 import decode_attribute_block
from netlinkbgp.errors import LocalProtocolError
from netlinkbgp.route import NextHop, Origin, Route, RouteDistinguisher

__all__ = [
    "DEFAULT_LOCAL_PREF",
    "Path",
    "PeerInfo",
    "RibChange",
    "prefix_key",
    "select_best",
    "split_key",
]

#: LOCAL_PREF assumed for comparison when a route has none (common practice; RFC 4271 §5.1.5
#: leaves the degree of preference of such routes to the implementation).
DEFAULT_LOCAL_PREF = 100


@dataclass(frozen=True, slots=True)
class PeerInfo:
    """What the decision process needs to know about the peer a path came from.

    Attributes:
        address: the peer's address (last tie-break, RFC 4271 §9.1.2.2 g).
        asn: the peer's AS (neighbouring AS of a path with an empty AS_PATH).
        router_id: the peer's BGP Identifier (RFC 4271 §9.1.2.2 f).
        ebgp: the session is external (RFC 4271 §9.1.2.2 d).
        ifindex: the interface the session runs over, 0 when unknown. The peer's link-local
            next hops (RFC 2545 §3) are on that link: routes get it as their
            :attr:`~netlinkbgp.route.NextHop.ifindex` (the kernel needs a device for them).
    """

    address: IPv4Address | IPv6Address
    asn: int
    router_id: IPv4Address
    ebgp: bool
    ifindex: int = 0


@dataclass(frozen=True, slots=True)
class RibChange:
    """A change of one prefix: in the Loc-RIB, the best path; in an Adj-RIB-In, the path.

    Attributes:
        family: the family.
        key: the prefix key (see :func:`prefix_key`).
        old: the previous path, ``None`` for a new prefix.
        new: the new path, ``None`` for a withdrawal.
    """

    family: Family
    key: int
    old: Path | None
    new: Path | None


def prefix_key(value: int, length: int, family: Family = IPV4_UNICAST,
               rd: RouteDistinguisher | None = None) -> int:
    """The integer key of a prefix.

    Args:
        value: the network address as an integer, host bits zero.
        length: the prefix length.
        family: the family (VPN families put the route distinguisher above the prefix).
        rd: the route distinguisher of a VPN route.

    Returns:
        ``length << bits | value >> (bits - length)``, with ``rd`` as a 64-bit integer above
        it for VPN families.
    """
    bits = family.max_length
    key = length << bits | value >> (bits - length)
    if rd is not None and family.has_rd:
        key |= int.from_bytes(rd.to_bytes(), "big") << (family.max_length + 8)
    return key


def split_key(
    family: Family, key: int
) -> tuple[int, int, RouteDistinguisher | None]:
    """Inverse of :func:`prefix_key`.

    Returns:
        ``(value, length, rd)``: the network address as an integer, the length, and the
        route distinguisher (``None`` outside VPN families).
    """
    bits = family.max_length
    rd = None
    if family.has_rd:
        rd = RouteDistinguisher.from_bytes((key >> (bits + 8)).to_bytes(8, "big"))
    length = (key >> bits) & 0xFF
    return (key & ((1 << bits) - 1)) << (bits - length), length, rd


_Rank = tuple[int, int, int, int, int, int, int, int, int, int]
_new = object.__new__


class Path:
    """One interned attribute set as received from one peer, shared by all its prefixes.

    A plain ``__slots__`` class rather than a frozen dataclass: it is created once per
    attribute set on the UPDATE hot path (the dataclass ``__init__`` costs twice as much) and
    caches its decoded attributes and decision inputs on first use. Identity is the object:
    two prefixes share a path exactly when they share the object.

    Attributes:
        source: ``(peer, ctx)``: where it came from and the session context its bytes were
            received with (one tuple shared by every path of an Adj-RIB-In).
        raw: the attribute block as received, without MP_REACH/MP_UNREACH (``None`` when the
            path was built from decoded attributes, e.g. after an RFC 7606 attribute discard).
        next_hop_raw: the MP_REACH_NLRI next hop octets without RD (empty for IPv4 unicast,
            whose next hop is the NEXT_HOP attribute).
        refs: how many Adj-RIB-In entries point at this path.

    Six slots, no more: the cyclic garbage collector walks every slot of every interned path
    on each full pass while a table loads (measured: 10 slots cost 0.08 s per pass over a
    full table, 5 slots 0.05 s), so rarely used fields share one slot and the peer and
    context share another.
    """

    __slots__ = ("_decoded", "_extra", "next_hop_raw", "raw", "refs", "source")

    def __init__(self, peer: PeerInfo, ctx: Negotiated, raw: bytes | None,
                 next_hop_raw: bytes = b"", labels: tuple[int, ...] = (),
                 path_id: int | None = None,
                 attributes: tuple[Attribute, ...] | None = None) -> None:
        self._init((peer, ctx), raw, next_hop_raw, labels, path_id, attributes)

    def _init(self, source: tuple[PeerInfo, Negotiated], raw: bytes | None,
              next_hop_raw: bytes, labels: tuple[int, ...], path_id: int | None,
              attributes: tuple[Attribute, ...] | None) -> None:
        self.source = source
        self.raw = raw
        self.next_hop_raw = next_hop_raw
        self.refs = 0
        self._extra: tuple[tuple[int, ...], int | None] | None = (
            None if not labels and path_id is None else (labels, path_id))
        self._decoded: tuple[tuple[Attribute, ...], _Rank | None] | None = (
            None if attributes is None else (attributes, None))

    @classmethod
    def shared(cls, source: tuple[PeerInfo, Negotiated], raw: bytes | None,
               next_hop_raw: bytes = b"", labels: tuple[int, ...] = (),
               path_id: int | None = None,
               attributes: tuple[Attribute, ...] | None = None) -> Path:
        """A path whose ``(peer, ctx)`` tuple is shared with its Adj-RIB-In's other paths."""
        path = cls.__new__(cls)
        path._init(source, raw, next_hop_raw, labels, path_id, attributes)
        return path

    @classmethod
    def received(cls, source: tuple[PeerInfo, Negotiated], raw: bytes,
                 next_hop_raw: bytes) -> Path:
        """:meth:`shared` for the RIB's fast path (a plain block, no labels, no path id): one
        call per attribute set of a table load instead of three."""
        path = _new(cls)
        path.source = source
        path.raw = raw
        path.next_hop_raw = next_hop_raw
        path.refs = 0
        path._extra = None
        path._decoded = None
        return path

    @property
    def peer(self) -> PeerInfo:
        """The peer it came from."""
        return self.source[0]

    @property
    def ctx(self) -> Negotiated:
        """The session context its bytes were received with."""
        return self.source[1]

    @property
    def labels(self) -> tuple[int, ...]:
        """MPLS labels (labelled and VPN families)."""
        return () if self._extra is None else self._extra[0]

    @property
    def path_id(self) -> int | None:
        """RFC 7911 path identifier, ``None`` without ADD-PATH."""
        return None if self._extra is None else self._extra[1]

    @property
    def key(self) -> object:
        """The key this path is interned under in its Adj-RIB-In (per family)."""
        nh = self.next_hop_raw
        if self._extra is None and self.raw is not None:
            return bytes((len(nh),)) + nh + self.raw if nh else self.raw
        block = self.raw if self.raw is not None else self.attributes
        return (block, nh, self.labels, self.path_id)

    @property
    def attributes(self) -> tuple[Attribute, ...]:
        """The path attributes (without MP_REACH/MP_UNREACH), decoded on first use."""
        if self._decoded is None:
            raw = self.raw or b""
            attributes, _ = decode_attribute_block(raw, 0, len(raw), self.ctx)
            self._decoded = (attributes, None)
        return self._decoded[0]

    @property
    def next_hops(self) -> tuple[NextHopAddress, ...]:
        """The next hop: NEXT_HOP for IPv4 unicast, else the MP_REACH_NLRI one(s)."""
        raw = self.next_hop_raw
        if not raw:
            for attribute in self.attributes:
                if isinstance(attribute, NextHopAttribute):
                    return (attribute.address,)
            return ()
        if len(raw) == 4:
            return (IPv4Address(raw),)
        if len(raw) == 16:
            return (IPv6Address(raw),)
        return IPv6Address(raw[:16]), IPv6Address(raw[16:])

    def _get(self, kind: type) -> object:
        for attribute in self.attributes:
            if type(attribute) is kind:
                return attribute
        return None

    def as_path(self) -> AsPath:
        """The AS path, AS4_PATH merged in for a 2-octet AS session (RFC 6793 §4.2.3)."""
        path = self._get(AsPath)
        if not isinstance(path, AsPath):
            return AsPath()
        as4 = self._get(As4Path)
        aggregator = self._get(Aggregator)
        return reconstruct_as_path(
            path, as4 if isinstance(as4, As4Path) else None,
            aggregator.asn if isinstance(aggregator, Aggregator) else None,
            self._get(As4Aggregator) is not None,
        )

    @property
    def rank(self) -> _Rank:
        """Decision inputs: (local pref, AS path length, origin, MED, neighbour AS, eBGP,
        router id, cluster list length, peer address, path id), computed on first use."""
        attributes = self.attributes
        assert self._decoded is not None
        rank = self._decoded[1]
        if rank is None:
            local_pref = self._get(LocalPref)
            origin = self._get(OriginAttribute)
            med = self._get(MultiExitDisc)
            originator = self._get(OriginatorId)
            clusters = self._get(ClusterList)
            segments = self.as_path().segments
            # RFC 4271 §9.1.2.2 c: the neighbouring AS is the first AS of the path;
            # confederation segments are skipped (RFC 5065 §5.3); an empty path is our own AS.
            neighbour = self.peer.asn
            for segment in segments:
                if segment.type == AsPathSegmentType.AS_SEQUENCE:
                    neighbour = segment.asns[0]
                    break
                if segment.type == AsPathSegmentType.AS_SET:
                    break
            router_id = originator.address if isinstance(originator, OriginatorId) \
                else self.peer.router_id
            address = self.peer.address
            rank = (
                local_pref.value if isinstance(local_pref, LocalPref) else DEFAULT_LOCAL_PREF,
                path_length(segments),
                int(origin.origin) if isinstance(origin, OriginAttribute) else int(Origin.IGP),
                med.value if isinstance(med, MultiExitDisc) else 0,
                neighbour,
                int(self.peer.ebgp),
                int(router_id),
                len(clusters.ids) if isinstance(clusters, ClusterList) else 0,
                address.version << 128 | int(address),
                -1 if self.path_id is None else self.path_id,
            )
            self._decoded = (attributes, rank)
        return rank

    def to_route(self, family: Family, key: int) -> Route:
        """This path for one prefix as a neutral :class:`~netlinkbgp.route.Route`.

        Args:
            family: the prefix's family.
            key: the prefix key.

        Returns:
            The route; ``source`` is the peer address.
        """
        value, length, rd = split_key(family, key)
        prefix: IPv4Network | IPv6Network = (
            IPv4Network((value, length)) if family.max_length == 32
            else IPv6Network((value, length)))
        origin = self._get(OriginAttribute)
        med = self._get(MultiExitDisc)
        local_pref = self._get(LocalPref)
        communities = self._get(Communities)
        large = self._get(LargeCommunities)
        ext = self._get(ExtendedCommunities)
        hops = self.next_hops
        ifindex = self.peer.ifindex
        if ifindex and len(self.next_hop_raw) >= 16:  # IPv6 next hops: link-local ones
            next_hops = tuple(NextHop(a, ifindex if a.is_link_local else 0) for a in hops)
        else:
            next_hops = tuple(NextHop(a) for a in hops)
        return Route(
            prefix=prefix,
            next_hops=next_hops,
            origin=origin.origin if isinstance(origin, OriginAttribute) else Origin.IGP,
            as_path=self.as_path().asns(),
            med=med.value if isinstance(med, MultiExitDisc) else None,
            local_pref=local_pref.value if isinstance(local_pref, LocalPref) else None,
            communities=communities.values if isinstance(communities, Communities) else (),
            large_communities=large.values if isinstance(large, LargeCommunities) else (),
            ext_communities=ext.values if isinstance(ext, ExtendedCommunities) else (),
            rd=rd,
            labels=self.labels,
            source=str(self.peer.address),
        )

    def nlri(self, family: Family, key: int) -> Nlri:
        """The :class:`~netlinkbgp.bgp.nlri.Nlri` of one prefix with this path's id/labels."""
        value, length, rd = split_key(family, key)
        return Nlri(family.afi, value, length, self.path_id, rd, self.labels)

    def __repr__(self) -> str:
        return f"Path(peer={self.peer.address}, path_id={self.path_id}, refs={self.refs})"


def select_best(paths: list[Path]) -> Path:
    """The RFC 4271 §9.1.2 best path among candidates for one prefix.

    The result depends only on the set of candidates, not their order.

    Args:
        paths: one or more candidates (distinct peer/path id pairs).

    Returns:
        The best path.

    Raises:
        LocalProtocolError: ``paths`` is empty.
    """
    if not paths:
        raise LocalProtocolError("no candidate paths")
    if len(paths) == 1:
        return paths[0]
    ranked = [(p.rank, p) for p in paths]
    # a) highest LOCAL_PREF, b) shortest AS_PATH, c) lowest ORIGIN
    top = max(r[0] for r, _ in ranked)
    ranked = [x for x in ranked if x[0][0] == top]
    low = min(r[1] for r, _ in ranked)
    ranked = [x for x in ranked if x[0][1] == low]
    low = min(r[2] for r, _ in ranked)
    ranked = [x for x in ranked if x[0][2] == low]
    # c) lowest MED among routes from the same neighbouring AS only (RFC 4271 §9.1.2.2 c)
    best_med: dict[int, int] = {}
    for r, _ in ranked:
        if r[4] not in best_med or r[3] < best_med[r[4]]:
            best_med[r[4]] = r[3]
    ranked = [x for x in ranked if x[0][3] == best_med[x[0][4]]]
    # d) eBGP over iBGP
    if any(r[5] for r, _ in ranked):
        ranked = [x for x in ranked if x[0][5]]
    # f) lowest router id, RFC 4456 §9 shorter CLUSTER_LIST, g) lowest peer address, path id
    return min(ranked, key=lambda x: x[0][6:])[1]
