"""The Speaker's outbound side, pure: local routes, export policy, Adj-RIB-Out and packing.

* :class:`LocalRib` holds what the application announced, compactly: a prefix is an integer
  key (:func:`~netlinkbgp.bgp.rib.prefix_key`) and routes with the same attributes share one
  :class:`LocalPath` (DESIGN §2: no million ``Route`` objects for a large table).
* :class:`PeerExport` is one established session's view: it turns a local path into the
  attribute block that peer gets (policy: AS_PATH prepend on eBGP, next hop, MED, LOCAL_PREF,
  added communities), encoded once per (family, path) and interned, keeps the Adj-RIB-Out
  (prefix -> what was sent) and the pending changes. Nothing unchanged is sent again: a
  pending change equal to the Adj-RIB-Out entry is dropped when the batch is cut.
* Batches are cut by :meth:`PeerExport.take`, which swaps the pending changes out at once
  (later changes go to the next batch, so their order per prefix is kept) and packs them as
  many NLRI per attribute set as fit (:func:`~netlinkbgp.bgp.packing.pack_encoded`).
* Nothing here runs long in one go (timer isolation, DESIGN §3): a walk over the whole local
  RIB (a session comes up, the policy changed, ROUTE-REFRESH) is scheduled by
  :meth:`PeerExport.offer_all` and done a slice at a time by :meth:`PeerExport.walk`, and
  :meth:`PeerExport.take` turns its pending changes into UPDATEs a slice at a time, yielding
  between slices; the caller lets the event loop run at each step.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Callable, Iterator
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import Any

from netlinkbgp.bgp.aspath import AsPath, split_as4_path
from netlinkbgp.bgp.attributes import (
    Attribute,
    Communities,
    ExtendedCommunities,
    LargeCommunities,
    LocalPref,
    MpReachNlri,
    MultiExitDisc,
    NextHopAttribute,
    OriginAttribute,
    encode_attribute,
)
from netlinkbgp.bgp.capabilities import Negotiated
from netlinkbgp.bgp.messages import Update, encode_message
from netlinkbgp.bgp.nlri import (
    IPV4_LABELED,
    IPV4_UNICAST,
    IPV6_LABELED,
    IPV6_UNICAST,
    VPNV4,
    VPNV6,
    Family,
    Nlri,
    NlriList,
    encode_nlri,
)
from netlinkbgp.bgp.packing import pack_encoded, pack_encoded_withdrawals
from netlinkbgp.bgp.rib import DEFAULT_LOCAL_PREF, Path, PeerInfo, prefix_key, split_key
from netlinkbgp.bgp.rib_wire import encode_unicast_keys
from netlinkbgp.errors import InvalidValueError, LocalProtocolError
from netlinkbgp.route import NextHop, Origin, Route
from netlinkbgp.speaker_config import PeerConfig, PrefixFilter

__all__ = ["TAKE_MESSAGES", "TAKE_SLICE", "TAKE_WINDOW", "WALK_SLICE", "LocalPath", "LocalRib",
           "Out", "PeerExport", "key_filter", "key_network", "route_family", "route_key"]

Address = IPv4Address | IPv6Address
#: Messages one :meth:`PeerExport.take` call yields before the caller writes them and lets
#: the event loop run (about 256 KiB at 4096-octet messages: timers never wait long).
TAKE_MESSAGES = 64
#: Prefixes one step of :meth:`PeerExport.walk` offers. Offering is a dict store per prefix
#: (the whole 1.17M-prefix table of ``benchmarks/gen_table.py`` took 0.76 s in one go on the
#: 2-core VM, about 0.65 us a prefix), so a step stays around 10 ms.
WALK_SLICE = 16384
#: Pending changes one step of :meth:`PeerExport.take` turns into Adj-RIB-Out entries before
#: it yields. The first prefix of an attribute set pays for encoding it (the full table,
#: 410k sets, took 10.4 s before its first UPDATE in one go, about 9 us a prefix), so a step
#: stays around 20-40 ms even when every prefix brings a new set.
TAKE_SLICE = 4096
#: Compared changes after which :meth:`PeerExport.take` packs and yields their UPDATEs (a
#: multiple of :data:`TAKE_SLICE`), so the first UPDATEs of a large table leave while the
#: rest is compared (the whole 1.17M-prefix table took ~3 s to compare). Prefixes of one
#: attribute set further apart than this in the pending changes go in separate UPDATEs.
TAKE_WINDOW = 16 * TAKE_SLICE


def route_family(route: Route) -> Family:
    """The BGP family a route belongs to: VPN with an RD, labelled with labels only."""
    v4 = route.prefix.version == 4
    if route.rd is not None:
        return VPNV4 if v4 else VPNV6
    if route.labels:
        return IPV4_LABELED if v4 else IPV6_LABELED
    return IPV4_UNICAST if v4 else IPV6_UNICAST


def route_key(route: Route, family: Family) -> int:
    """The prefix key of a route in ``family``."""
    return prefix_key(int(route.prefix.network_address), route.prefix.prefixlen, family,
                      route.rd)


class LocalPath:
    """The attributes of locally announced routes, shared by every prefix that has them."""

    __slots__ = ("as_path", "communities", "ext_communities", "ident", "labels",
                 "large_communities", "local_pref", "med", "next_hops", "origin")

    def __init__(self, route: Route, ident: tuple[Any, ...] | None = None) -> None:
        if ident is None:
            ident = self.identity(route)
        (self.origin, self.as_path, self.med, self.local_pref, self.communities,
         self.large_communities, self.ext_communities, self.labels, self.next_hops) = ident
        self.ident = ident

    @staticmethod
    def identity(route: Route) -> tuple[Any, ...]:
        """What makes two routes share a path (everything but the prefix and RD): origin,
        AS path, MED, LOCAL_PREF, communities, large and extended communities, labels and
        next hop addresses, in the order of the attributes of :class:`LocalPath`."""
        hops = route.next_hops
        # "this host" (0.0.0.0 / ::) is no next hop: the session's own address is used
        if not hops:
            own: tuple[Address, ...] = ()
        elif len(hops) == 1:  # the usual case, without a generator
            address = hops[0].address
            own = (address,) if int(address) else ()
        else:
            own = tuple(n.address for n in hops if int(n.address))
        return (route.origin, route.as_path, route.med, route.local_pref, route.communities,
                route.large_communities, route.ext_communities, route.labels, own)

    def route(self, family: Family, key: int) -> Route:
        """The route of one prefix with these attributes."""
        value, length, rd = split_key(family, key)
        prefix = _network(family, value, length)
        return Route(prefix, tuple(NextHop(a) for a in self.next_hops), Origin(self.origin),
                     self.as_path, self.med, self.local_pref, self.communities,
                     self.large_communities, self.ext_communities, rd, self.labels,
                     source="local")


def _network(family: Family, value: int, length: int) -> IPv4Network | IPv6Network:
    if family.max_length == 32:
        return IPv4Network((value, length))
    return IPv6Network((value, length))


def key_network(family: Family, key: int) -> IPv4Network | IPv6Network:
    """The network of a prefix key."""
    value, length, _ = split_key(family, key)
    return _network(family, value, length)


def key_filter(flt: PrefixFilter) -> Callable[[Family, int], bool] | None:
    """A prefix filter as a test on prefix keys (``AdjRibIn.accept``); ``None`` when empty."""
    if not flt:
        return None
    return lambda family, key: flt.allows(key_network(family, key))


def _strip_rds(nh: bytes) -> bytes:
    """The MP next hop without its route distinguishers (RFC 4364 §4.3.2: zeros)."""
    if len(nh) == 48:  # RD + global, RD + link-local
        return nh[8:24] + nh[32:]
    return nh[8:]


#: What a peer gets for a local path: (origin, AS path, MED, LOCAL_PREF, communities,
#: extended communities, large communities); see :meth:`PeerExport._policy`.
_Policy = tuple[int, tuple[int, ...], int | None, int | None, tuple[int, ...],
                tuple[bytes, ...], tuple[tuple[int, int, int], ...]]
_U32 = struct.Struct("!I")
#: Largest AS_PATH segment: its length is one octet (RFC 4271 §4.3).
_MAX_SEGMENT = 255
#: ``pack`` of ``n`` 32-bit numbers, for the usual counts (AS numbers of a segment,
#: communities); a format string per call costs as much as the packing.
_PACK_U32S = [struct.Struct(f"!{n}I").pack for n in range(_MAX_SEGMENT + 1)]
#: ORIGIN attributes: IGP, EGP, INCOMPLETE (RFC 4271 §5.1.1).
_ORIGINS = [bytes((0x40, 1, 1, origin)) for origin in range(3)]


def _u32s(values: tuple[int, ...]) -> bytes:
    n = len(values)
    return _PACK_U32S[n](*values) if n <= _MAX_SEGMENT else struct.pack(f"!{n}I", *values)


def _attribute(flags: int, code: int, value: bytes) -> bytes:
    """One attribute: flags, type code, length (two octets with Extended Length)."""
    if len(value) > 0xFF:
        return bytes((flags | 0x10, code)) + len(value).to_bytes(2, "big") + value
    return bytes((flags, code, len(value))) + value


def _plain_block(policy: _Policy, next_hop: bytes) -> bytes | None:
    """The attribute block of a path for a 4-octet-AS session, straight to bytes (the
    attribute objects and :func:`~netlinkbgp.bgp.attributes.encode_attribute` cost ~25 us
    per attribute set: 10 s for the 410k sets of a full table). The same octets as the
    general encoder, in type code order: ORIGIN, AS_PATH (one AS_SEQUENCE), NEXT_HOP (IPv4
    unicast), MULTI_EXIT_DISC, LOCAL_PREF, COMMUNITIES, EXTENDED_COMMUNITIES,
    LARGE_COMMUNITY, each with the RFC flags (Extended Length above 255 octets).

    Returns:
        The block, or ``None`` for what it does not cover (an AS path longer than one
        segment, a value out of range): the general encoder then decides.
    """
    origin, asns, med, pref, communities, ext, large = policy
    count = len(asns)
    if count > _MAX_SEGMENT or not 0 <= origin <= 2:
        return None
    try:
        if not count:
            as_path = b"\x40\x02\x00"
        elif count <= 63:  # 2 + 4 * 63 octets: the one-octet length still holds
            as_path = bytes((0x40, 2, 2 + 4 * count, 2, count)) + _PACK_U32S[count](*asns)
        else:
            as_path = _attribute(0x40, 2, bytes((2, count)) + _PACK_U32S[count](*asns))
        parts = [_ORIGINS[origin], as_path]
        if next_hop:
            parts.append(b"\x40\x03\x04" + next_hop)
        if med is not None:
            parts.append(b"\x80\x04\x04" + _U32.pack(med))
        if pref is not None:
            parts.append(b"\x40\x05\x04" + _U32.pack(pref))
        if communities:
            parts.append(_attribute(0xC0, 8, _u32s(communities)))
        if ext:
            if any(len(value) != 8 for value in ext):
                return None
            parts.append(_attribute(0xC0, 16, b"".join(ext)))
        if large:
            parts.append(_attribute(0xC0, 32, _u32s(tuple(itertools.chain.from_iterable(
                large)))))
    except (struct.error, ValueError, OverflowError):
        return None
    block = b"".join(parts)
    # every attribute fits its two length octets when the whole block does
    return block if len(block) <= 0xFFFF else None


class LocalRib:
    """Routes the application announced, by family and prefix key."""

    __slots__ = ("_interned", "tables")

    def __init__(self) -> None:
        self.tables: dict[Family, dict[int, LocalPath]] = {}
        self._interned: dict[tuple[Any, ...], LocalPath] = {}

    def set(self, route: Route) -> tuple[Family, int, LocalPath, bool]:
        """Announce (or replace) a route.

        Returns:
            ``(family, key, path, changed)``; ``changed`` is false when the route was
            already announced with the same attributes.

        Raises:
            InvalidValueError: a VPN route without labels, or host bits set.
        """
        prefix = route.prefix
        if route.rd is None and not route.labels:  # plain unicast: the key inline
            if prefix.version == 4:
                family, bits = IPV4_UNICAST, 32
            else:
                family, bits = IPV6_UNICAST, 128
            length = prefix.prefixlen
            key = length << bits | int(prefix.network_address) >> (bits - length)
        else:
            family = route_family(route)
            if family.has_rd and not route.labels:
                raise InvalidValueError(
                    f"VPN route {route.rd}:{route.prefix} needs an MPLS label")
            key = route_key(route, family)
        ident = LocalPath.identity(route)
        path = self._interned.get(ident)
        if path is None:
            path = self._interned[ident] = LocalPath(route, ident)
        table = self.tables.get(family)
        if table is None:
            table = self.tables[family] = {}
        old = table.get(key)
        table[key] = path
        return family, key, path, old is not path

    def remove(self, route: Route) -> tuple[Family, int] | None:
        """Withdraw a route (only its prefix, RD and labels matter).

        Returns:
            ``(family, key)``, or ``None`` when it was not announced.
        """
        family = route_family(route)
        key = route_key(route, family)
        table = self.tables.get(family)
        if table is None or table.pop(key, None) is None:
            return None
        return family, key

    def drop_unused(self) -> None:
        """Forget attribute sets no prefix uses any more."""
        used = {id(p) for table in self.tables.values() for p in table.values()}
        self._interned = {k: p for k, p in self._interned.items() if id(p) in used}

    def __len__(self) -> int:
        return sum(len(t) for t in self.tables.values())

    def items(self) -> Iterator[tuple[Family, int, LocalPath]]:
        """Every (family, key, path)."""
        for family, table in self.tables.items():
            for key, path in table.items():
                yield family, key, path

    def routes(self) -> list[Route]:
        """Every announced route as a :class:`Route`."""
        return [path.route(family, key) for family, key, path in self.items()]


#: What a peer was sent for a prefix: (attribute block, MP next hop octets, labels).
Out = tuple[bytes, bytes, tuple[int, ...]]
#: An Adj-RIB-Out entry to be sent again whatever it holds (never interned, so no encoded
#: path is identical to it).
_RESEND: Out = (bytes(1), b"", ())


class PeerExport:
    """One established session's Adj-RIB-Out, export policy and pending changes.

    Args:
        config: the peer's configuration (policy values are read from it).
        local_asn: our AS on this session.
        ctx: the negotiated session context.
        local_address: our address on the session's connection.
        ebgp: the peer is external.
    """

    def __init__(self, config: PeerConfig, local_asn: int, ctx: Negotiated,
                 local_address: Address | None, ebgp: bool) -> None:
        self._configure(config)
        self.local_asn = local_asn
        self.ctx = ctx
        self.local_address = local_address
        self.ebgp = ebgp
        self.out: dict[Family, dict[int, Out]] = {}
        self.pending: dict[Family, dict[int, LocalPath | None]] = {}
        #: walks over the local RIB scheduled by offer_all, done a step at a time by walk()
        self._walks: list[Iterator[None]] = []
        #: family -> local path -> what this peer gets (or why it gets nothing); per family,
        #: so a lookup hashes the path only (a Family is a dataclass: slow to hash)
        self._cache: dict[Family, dict[LocalPath, Out | str]] = {}
        self._outs: dict[Out, Out] = {}
        self._next_hop_octets: dict[tuple[Family, tuple[Address, ...]], bytes] = {}
        #: counters: prefixes announced and withdrawn, UPDATEs cut
        self.advertised = 0
        self.withdrawn = 0
        self.updates = 0
        #: problems that kept routes from this peer (no next hop...), latest first
        self.last_error = ""

    # -- policy --------------------------------------------------------------------------

    def reconfigure(self, config: PeerConfig) -> None:
        """New policy values (MED, communities, next hop, filters...): every cached block is
        recomputed; the caller re-offers the routes (:meth:`offer_all`)."""
        self._configure(config)
        self._cache.clear()

    def _configure(self, config: PeerConfig) -> None:
        """Take the policy values, parsed once (not once per attribute set)."""
        self.config = config
        self._added_communities = config.community_values
        self._added_large = config.large_community_values
        self._next_hop_v4 = IPv4Address(config.next_hop_v4) if config.next_hop_v4 else None
        self._next_hop_v6 = IPv6Address(config.next_hop_v6) if config.next_hop_v6 else None
        self._next_hop_v6_ll = (IPv6Address(config.next_hop_v6_link_local)
                                if config.next_hop_v6_link_local else None)

    def _next_hops(self, family: Family, path: LocalPath) -> tuple[Address, ...]:
        cfg = self.config
        local = self.local_address
        if family.afi == 1:
            if self._next_hop_v4 is not None:
                return (self._next_hop_v4,)
            own = [a for a in path.next_hops if a.version == 4] if path.next_hops else None
            if own:
                return (own[0],)
            if isinstance(local, IPv4Address):
                return (local,)
            if family in self.ctx.extended_next_hop:  # RFC 8950: IPv4 NLRI, IPv6 next hop
                return self._v6_next_hops(path, local)
            raise LocalProtocolError(
                f"no IPv4 next hop for {family} routes to {cfg.address}: the session runs over "
                "IPv6 without the extended next hop capability; set next_hop_v4")
        return self._v6_next_hops(path, local)

    def _v6_next_hops(self, path: LocalPath, local: Address | None) -> tuple[Address, ...]:
        cfg = self.config
        first: Address | None = None
        if self._next_hop_v6 is not None:
            first = self._next_hop_v6
        else:
            own = [a for a in path.next_hops if a.version == 6] if path.next_hops else None
            if own:
                first = own[0]
            elif isinstance(local, IPv6Address):
                first = local
        if first is None:
            raise LocalProtocolError(
                f"no IPv6 next hop for routes to {cfg.address}: the session runs over IPv4 "
                "(IPv4-mapped next hops are not used); set next_hop_v6")
        if self._next_hop_v6_ll is not None and not first.is_link_local:
            return first, self._next_hop_v6_ll
        return (first,)

    def _policy(self, path: LocalPath) -> _Policy:
        """The attribute values this peer gets for ``path``: (origin, AS path, MED,
        LOCAL_PREF or ``None`` towards an external peer, communities, extended communities,
        large communities)."""
        cfg = self.config
        asns = (self.local_asn, *path.as_path) if self.ebgp else path.as_path
        med = cfg.med if cfg.med is not None else path.med
        pref: int | None = None
        if not self.ebgp:  # RFC 4271 §5.1.5: LOCAL_PREF only towards internal peers
            pref = cfg.local_pref if cfg.local_pref is not None else path.local_pref
            if pref is None:
                pref = DEFAULT_LOCAL_PREF
        communities = path.communities
        if self._added_communities or len(communities) > 1:  # merged, without repeats
            communities = tuple(dict.fromkeys((*communities, *self._added_communities)))
        large = path.large_communities
        if self._added_large or len(large) > 1:
            large = tuple(dict.fromkeys((*large, *self._added_large)))
        return (int(path.origin), asns, med, pref, communities, path.ext_communities, large)

    def _attributes(self, family: Family, policy: _Policy,
                    next_hops: tuple[Address, ...]) -> list[Attribute]:
        """The attributes as objects: the general way (any session, any value), which
        :func:`_plain_block` must match byte for byte where it applies."""
        origin, asns, med, pref, communities, ext, large = policy
        as_path = AsPath.sequence(asns)
        attrs: list[Attribute] = [OriginAttribute(Origin(origin))]
        if self.ctx.asn4:
            attrs.append(as_path)
        else:  # RFC 6793 §4.2.2: AS_TRANS in AS_PATH, the true path in AS4_PATH
            narrow, wide = split_as4_path(as_path)
            attrs.append(narrow)
            if wide is not None:
                attrs.append(wide)
        if family == IPV4_UNICAST and isinstance(next_hops[0], IPv4Address):
            attrs.append(NextHopAttribute(next_hops[0]))
        if med is not None:
            attrs.append(MultiExitDisc(med))
        if pref is not None:
            attrs.append(LocalPref(pref))
        if communities:
            attrs.append(Communities(communities))
        if ext:
            attrs.append(ExtendedCommunities(ext))
        if large:
            attrs.append(LargeCommunities(large))
        # RFC 4271 §5: "the sender SHOULD order path attributes by type code"
        attrs.sort(key=lambda a: getattr(a, "TYPE", 0))
        return attrs

    def encode(self, family: Family, path: LocalPath) -> Out:
        """The (attribute block, MP next hop, labels) this peer gets for ``path``.

        Raises:
            LocalProtocolError: the route cannot be sent to this peer (no usable next hop,
                a value the session cannot carry); the message says why.
        """
        cache = self._cache.get(family)
        if cache is None:
            cache = self._cache[family] = {}
        cached = cache.get(path)
        if isinstance(cached, str):
            raise LocalProtocolError(cached)
        if cached is not None:
            return cached
        return self._encode(family, path, cache)

    def _encode(self, family: Family, path: LocalPath, cache: dict[LocalPath, Out | str]) -> Out:
        """Encode (the cache missed) and remember the result, or the reason there is none."""
        try:
            next_hops = self._next_hops(family, path)
            policy = self._policy(path)
            v4_hop = (family is IPV4_UNICAST or family == IPV4_UNICAST) and isinstance(
                next_hops[0], IPv4Address)
            block = None
            if self.ctx.asn4:  # the usual session: straight to bytes
                block = _plain_block(policy, next_hops[0].packed if v4_hop else b"")
            if block is None:
                attrs = self._attributes(family, policy, next_hops)
                block = b"".join(encode_attribute(a, self.ctx) for a in attrs)
            nh = b""
            if not v4_hop:
                nh = self._mp_next_hop(family, next_hops)
        except LocalProtocolError as exc:
            cache[path] = str(exc)
            raise
        out: Out = (block, nh, path.labels)
        out = self._outs.setdefault(out, out)
        cache[path] = out
        return out

    def _mp_next_hop(self, family: Family, next_hops: tuple[Address, ...]) -> bytes:
        """The MP_REACH_NLRI next hop octets (shared by most paths: encoded once)."""
        nh = self._next_hop_octets.get((family, next_hops))
        if nh is None:
            value = MpReachNlri(family, next_hops, NlriList(family)).encode_value(self.ctx)
            nh = value[4:-1]  # AFI, SAFI, length ... reserved octet, no NLRI
            self._next_hop_octets[(family, next_hops)] = nh
        return nh

    # -- changes -------------------------------------------------------------------------

    def allows(self, family: Family, key: int) -> bool:
        """Whether the export filter and the negotiated families let a prefix through."""
        if family not in self.ctx.families:
            return False
        flt = self.config.export_filter
        if not flt:
            return True
        value, length, _ = split_key(family, key)
        return flt.allows(_network(family, value, length))

    def offer(self, family: Family, key: int, path: LocalPath | None) -> None:
        """The local route of a prefix is now ``path`` (``None``: withdrawn)."""
        if path is not None and not self.allows(family, key):
            path = None
        pending = self.pending.get(family)
        if pending is None:
            pending = self.pending[family] = {}
        pending[key] = path

    def offer_all(self, rib: LocalRib, family: Family | None = None) -> None:
        """Schedule a re-evaluation of every prefix (of ``family``, or of all): the whole
        local RIB, plus what this peer holds (so that prefixes no longer exported are
        withdrawn). Nothing is offered yet: :meth:`walk` does it a slice at a time.

        A walk over every family replaces the walks not finished yet (it covers them)."""
        walk = self._walk(rib, family)
        if family is None:
            self._walks = [walk]
        else:
            self._walks.append(walk)

    def walking(self) -> bool:
        """Whether a walk scheduled by :meth:`offer_all` is not finished."""
        return bool(self._walks)

    def walk(self) -> bool:
        """One step of the scheduled walks: offer up to :data:`WALK_SLICE` prefixes.

        Returns:
            Whether there is more to walk (call again after letting the loop run).
        """
        while self._walks:
            try:
                next(self._walks[0])
            except StopIteration:
                self._walks.pop(0)
            else:
                return True
        return False

    def _walk(self, rib: LocalRib, family: Family | None) -> Iterator[None]:
        """Offer every prefix of the local RIB, then withdraw what this peer holds and the
        local RIB no longer has; yields after each :data:`WALK_SLICE` prefixes.

        The tables may change between steps (announce, withdraw): each family's keys are
        copied when its turn comes, and every prefix is offered with what the local RIB
        holds *when it is offered*. So a prefix announced or withdrawn meanwhile (offered
        at once by the Speaker) is never offered with an older state, and a prefix
        announced after the copy was offered by the Speaker already."""
        for fam in list(rib.tables):
            if (family is not None and fam != family) or fam not in self.ctx.families:
                continue
            keys = list(rib.tables[fam])
            for start in range(0, len(keys), WALK_SLICE):
                self._offer_current(fam, keys[start:start + WALK_SLICE], rib)
                yield
        for fam in list(self.out):
            if family is not None and fam != family:
                continue
            keys = list(self.out[fam])
            for start in range(0, len(keys), WALK_SLICE):
                table = rib.tables.get(fam, {})
                self._offer_current(fam, [k for k in keys[start:start + WALK_SLICE]
                                          if k not in table], rib)
                yield

    def _offer_current(self, family: Family, keys: list[int], rib: LocalRib) -> None:
        """:meth:`offer` each key with the local RIB's current path (``None``: withdrawn)."""
        if not keys:
            return
        table = rib.tables.get(family, {})
        pending = self.pending.get(family)
        if pending is None:
            pending = self.pending[family] = {}
        flt = self.config.export_filter
        if not flt:  # the usual case, at C speed
            pending.update(zip(keys, map(table.get, keys), strict=True))
            return
        for key in keys:
            path = table.get(key)
            if path is not None and not flt.allows(key_network(family, key)):
                path = None
            pending[key] = path

    def resend(self, family: Family) -> None:
        """Send every prefix of a family again (an answer to ROUTE-REFRESH, RFC 2918 §4):
        the Adj-RIB-Out entries are marked as differing from anything, then re-offered."""
        out = self.out.get(family, {})
        for key in out:
            out[key] = _RESEND

    def has_pending(self) -> bool:
        """Whether :meth:`walk` or :meth:`take` has something to do."""
        return bool(self._walks) or any(self.pending.values())

    def take(self) -> Iterator[list[bytes]]:
        """Cut the pending changes into UPDATEs, a slice at a time.

        The pending changes are swapped out at once, so changes made while the caller writes
        the slices go to the next call (their order per prefix is kept). Each change is
        compared with the Adj-RIB-Out, which is updated at once (:data:`TAKE_SLICE` changes
        per step); every :data:`TAKE_WINDOW` changes the UPDATEs are packed, as many
        prefixes per attribute set as fit, and yielded about :data:`TAKE_MESSAGES` at a time.

        Yields:
            Lists of whole UPDATE messages, possibly empty (a step with nothing to write
            yet); the caller writes each and lets the event loop run before the next.
        """
        pending, self.pending = self.pending, {}
        for family, changes in pending.items():
            out = self.out.setdefault(family, {})
            cache = self._cache.setdefault(family, {})
            withdraw: list[int] = []
            groups: dict[Out, list[int]] = {}
            budget = TAKE_SLICE
            window = TAKE_WINDOW
            for key, path in changes.items():
                new: Out | None = None
                if path is not None:
                    found = cache.get(path)
                    if found is None:
                        try:
                            found = self._encode(family, path, cache)
                        except LocalProtocolError as exc:
                            found = str(exc)
                    if isinstance(found, str):  # no route to this peer (no next hop...)
                        self.last_error = found
                    else:
                        new = found
                current = out.get(key)
                if new is not current:
                    if new is None:
                        del out[key]
                        withdraw.append(key)
                    else:
                        out[key] = new
                        keys = groups.get(new)
                        if keys is None:
                            groups[new] = [key]
                        else:
                            keys.append(key)
                budget -= 1
                if not budget:
                    budget = TAKE_SLICE
                    window -= TAKE_SLICE
                    if window <= 0:
                        window = TAKE_WINDOW
                        yield from self._pack(family, withdraw, groups)
                        withdraw, groups = [], {}
                    yield []
                    # reconfigure() may have dropped the cache meanwhile
                    cache = self._cache.setdefault(family, {})
            yield from self._pack(family, withdraw, groups)

    def _pack(self, family: Family, withdraw: list[int],
              groups: dict[Out, list[int]]) -> Iterator[list[bytes]]:
        """The UPDATEs of some changes of one family: withdrawals, then announcements
        grouped by attribute set; about :data:`TAKE_MESSAGES` at a time."""
        batch: list[bytes] = []
        if withdraw:
            self.withdrawn += len(withdraw)
            batch += pack_encoded_withdrawals(family, self._nlri(family, withdraw, (), True),
                                              self.ctx)
        plain, bits = not family.has_labels, family.max_length
        for (block, nh, labels), keys in groups.items():
            self.advertised += len(keys)
            nlri = encode_unicast_keys(keys, bits) if plain else self._nlri(family, keys, labels)
            batch += pack_encoded(family, block, nh, nlri, self.ctx)
            if len(batch) >= TAKE_MESSAGES:
                self.updates += len(batch)
                yield batch
                batch = []
        if batch:
            self.updates += len(batch)
            yield batch

    def _nlri(self, family: Family, keys: list[int], labels: tuple[int, ...],
              withdraw: bool = False) -> list[bytes]:
        if not family.has_labels:
            return encode_unicast_keys(keys, family.max_length)
        out = []
        for key in keys:
            value, length, rd = split_key(family, key)
            nlri = Nlri(family.afi, value, length, None, rd, () if withdraw else labels)
            out.append(encode_nlri(nlri, family, False, withdraw))
        return out

    def end_of_rib(self, family: Family) -> bytes:
        """The End-of-RIB marker of a family (RFC 4724 §2)."""
        return encode_message(Update.end_of_rib_marker(family), self.ctx)

    # -- reading -------------------------------------------------------------------------

    def count(self) -> int:
        """Prefixes in the Adj-RIB-Out."""
        return sum(len(t) for t in self.out.values())

    def routes(self, peer: PeerInfo) -> list[Route]:
        """The Adj-RIB-Out as routes, with the attributes this peer was sent."""
        routes = []
        paths: dict[Out, Path] = {}
        for family, table in self.out.items():
            for key, out in table.items():
                path = paths.get(out)
                if path is None:
                    block, nh, labels = out
                    plain = _strip_rds(nh) if family.has_rd else nh
                    path = paths[out] = Path(peer, self.ctx, block, plain, labels)
                routes.append(path.to_route(family, key))
        return routes

