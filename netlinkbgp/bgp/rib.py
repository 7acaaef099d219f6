"""Compact Adj-RIB-In / Loc-RIB storage and the RFC 4271 §9.1 decision process.

Storage (DESIGN §2: a full table is not a million ``Route`` objects)
    * A prefix is a **key**, a plain integer: ``length << bits | network`` where ``network``
      is the prefix's significant bits (``value >> (bits - length)``) and ``bits`` is 32 or
      128, with the route distinguisher (a 64-bit integer) above it for VPN families
      (``rd << (bits + 8) | length << bits | network``). :func:`prefix_key` /
      :func:`split_key` convert. The significant bits go low because a dict indexes by the
      low bits of an int's hash (the int itself): ``value << 8 | length`` put the length and
      the zero host bits there, and a full table spent a third of its dict time on
      probing. With ADD-PATH an Adj-RIB-In entry is keyed ``(key, path_id)``.
    * A received attribute set is one interned :class:`Path`, shared by every prefix that
      carries it: per peer and family, keyed by the attribute block bytes as received (minus
      MP_REACH/MP_UNREACH, which hold NLRI) plus the MP next hop, labels and path id. The
      attribute objects are built from those bytes only when asked for (decision process
      between several candidates, :meth:`Path.to_route`), and the bytes are re-sent as they
      are when the table is packed again for a session with the same AS width.
    * :class:`AdjRibIn` maps keys to paths per family for one peer; :class:`LocRib` maps keys
      to the best path (or, for prefixes several peers announce, a small contest object).

Decision process (:func:`select_best`), RFC 4271 §9.1.2.2 and RFC 4456 §9, in order:
highest LOCAL_PREF (100 when absent), shortest AS_PATH (AS_SET counts 1, confederation
segments 0), lowest ORIGIN, lowest MED among routes from the same neighbouring AS (missing MED
is 0), eBGP over iBGP, lowest router id (ORIGINATOR_ID when present), shortest CLUSTER_LIST,
lowest peer address, then lowest path id. There is no IGP cost step (no IGP here).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from netlinkbgp.bgp.attributes import Attribute, MpReachNlri, MpUnreachNlri
from netlinkbgp.bgp.capabilities import Negotiated
from netlinkbgp.bgp.constants import HEADER_SIZE, MARKER
from netlinkbgp.bgp.messages import Update, decode_message, split_messages
from netlinkbgp.bgp.nlri import IPV4_UNICAST, IPV6_UNICAST, Family, NlriList
from netlinkbgp.bgp.rib_path import (
    DEFAULT_LOCAL_PREF,
    Path,
    PeerInfo,
    RibChange,
    prefix_key,
    select_best,
    split_key,
)
from netlinkbgp.bgp.rib_wire import scan_update, strip_mp
from netlinkbgp.errors import LocalProtocolError
from netlinkbgp.route import Route

__all__ = [
    "DEFAULT_LOCAL_PREF",
    "AdjRibIn",
    "LocRib",
    "Path",
    "PeerInfo",
    "RibChange",
    "prefix_key",
    "select_best",
    "split_key",
]


class _Contest:
    """Candidates of a prefix that more than one peer (or path id) announces."""

    __slots__ = ("best", "paths")

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths
        self.best = select_best(paths)


def _same(path: Path, peer: PeerInfo, path_id: int | None) -> bool:
    return path.path_id == path_id and (path.peer is peer or path.peer == peer)


class LocRib:
    """The Loc-RIB: best path per prefix over every peer's Adj-RIB-In."""

    __slots__ = ("_tables",)

    def __init__(self) -> None:
        self._tables: dict[Family, dict[int, Path | _Contest]] = {}

    def table(self, family: Family) -> dict[int, Path | _Contest]:
        """The raw table of a family (key -> path or contest), created on demand.

        Reserved for :class:`AdjRibIn`'s fast path; use :meth:`best` / iteration otherwise.
        """
        table = self._tables.get(family)
        if table is None:
            table = self._tables[family] = {}
        return table

    def update(self, family: Family, key: int, peer: PeerInfo, path: Path | None,
               path_id: int | None = None) -> RibChange | None:
        """Set (or, with ``path=None``, remove) one peer's candidate for a prefix.

        Args:
            family: the family.
            key: the prefix key.
            peer: the peer the candidate comes from.
            path: its new path, or ``None`` when withdrawn.
            path_id: the ADD-PATH path id of the candidate.

        Returns:
            The change of best path, or ``None`` when the best path did not change.
        """
        table = self.table(family)
        current = table.get(key)
        if current is None:
            if path is None:
                return None
            table[key] = path
            return RibChange(family, key, None, path)
        if type(current) is Path:
            if _same(current, peer, path_id):
                if path is None:
                    del table[key]
                elif path is current:
                    return None
                else:
                    table[key] = path
                return RibChange(family, key, current, path)
            if path is None:
                return None
            contest = _Contest([current, path])
            table[key] = contest
            return None if contest.best is current else RibChange(family, key, current,
                                                                  contest.best)
        assert isinstance(current, _Contest)
        old = current.best
        paths = [p for p in current.paths if not _same(p, peer, path_id)]
        if path is not None:
            paths.append(path)
        if not paths:
            del table[key]
            return RibChange(family, key, old, None)
        if len(paths) == 1:
            new = table[key] = paths[0]
        else:
            current.paths = paths
            new = current.best = select_best(paths)
        return None if new is old else RibChange(family, key, old, new)

    def best(self, family: Family, key: int) -> Path | None:
        """The best path of a prefix, or ``None``."""
        entry = self._tables.get(family, {}).get(key)
        return entry.best if isinstance(entry, _Contest) else entry

    def candidates(self, family: Family, key: int) -> tuple[Path, ...]:
        """Every peer's path for a prefix (best first)."""
        entry = self._tables.get(family, {}).get(key)
        if entry is None:
            return ()
        if isinstance(entry, Path):
            return (entry,)
        return (entry.best, *(p for p in entry.paths if p is not entry.best))

    def best_items(self, family: Family) -> Iterator[tuple[int, Path]]:
        """Every (prefix key, best path) of one family."""
        for key, entry in self._tables.get(family, {}).items():
            yield key, entry.best if isinstance(entry, _Contest) else entry

    def families(self) -> list[Family]:
        """Families with at least one prefix."""
        return [f for f, t in self._tables.items() if t]

    def count(self, family: Family | None = None) -> int:
        """Prefixes with a best path, in one family or all."""
        if family is not None:
            return len(self._tables.get(family, {}))
        return sum(len(t) for t in self._tables.values())

    def __len__(self) -> int:
        return self.count()

    def __iter__(self) -> Iterator[tuple[Family, int, Path]]:
        """Every (family, key, best path)."""
        for family, table in self._tables.items():
            for key, entry in table.items():
                yield family, key, entry.best if isinstance(entry, _Contest) else entry

    def routes(self) -> Iterator[Route]:
        """Every best path as a :class:`~netlinkbgp.route.Route` (built on the fly)."""
        for family, key, path in self:
            yield path.to_route(family, key)


class AdjRibIn:
    """The routes one peer sent, after RFC 7606 handling, feeding a :class:`LocRib`.

    The Adj-RIB-In is a per-peer *view*: each prefix has one entry, in the Loc-RIB, holding
    every peer's candidate (a lone :class:`Path`, or a contest of several). Keeping a second
    dict per peer would double the dict work and memory of a full table for nothing: the
    peer's path for a prefix is found among the prefix's candidates (a handful at most).
    Peers sharing a Loc-RIB must therefore have distinct :class:`PeerInfo` values.

    Args:
        peer: the peer.
        ctx: the session context UPDATEs are decoded with.
        loc_rib: the Loc-RIB to keep up to date (a private one when omitted).
    """

    __slots__ = ("_counts", "_fast", "_interned", "_known", "_source", "_stale_sources",
                 "_unicast", "_unicast_counts", "accept", "ctx", "loc_rib", "peer", "received",
                 "rejected", "stale")

    def __init__(self, peer: PeerInfo, ctx: Negotiated, loc_rib: LocRib | None = None) -> None:
        self.peer = peer
        self.ctx = ctx
        self._source = (peer, ctx)  # shared by every Path of this peer
        self.loc_rib = loc_rib if loc_rib is not None else LocRib()
        self._interned: dict[Family, dict[object, Path]] = {}
        # Prefixes (paths, with ADD-PATH) held: IPv4/IPv6 unicast in a list the fast path
        # updates without hashing a Family; other families by family.
        self._unicast_counts = [0, 0]
        self._counts: dict[Family, int] = {}
        # Fast-path settings, read once: (4-octet AS, external, IPv6 unicast negotiated), or
        # None when ADD-PATH is on (path ids are left to the full decoder).
        self._fast = None if ctx.add_path_receive else (
            ctx.asn4, ctx.ebgp, IPV6_UNICAST in ctx.families)
        # (Loc-RIB table, intern table) of IPv4 and IPv6 unicast, held directly: hashing a
        # Family (a dataclass) per message is measurable on a full table.
        self._unicast = tuple(
            (self.loc_rib.table(f), self._interned.setdefault(f, {}))
            for f in (IPV4_UNICAST, IPV6_UNICAST)
        )
        # Blocks interned before were accepted before: the fast path does not validate
        # them again.
        self._known = (self._unicast[0][1], self._unicast[1][1])
        #: prefixes announced to this RIB so far, and those of them ``accept`` refused
        self.received = 0
        self.rejected = 0
        #: import policy: ``accept(family, key)`` decides whether an announced prefix is
        #: kept (``None``: all are); a refused prefix is treated as withdrawn
        self.accept: Callable[[Family, int], bool] | None = None
        #: prefixes still held from an earlier session (graceful restart, :meth:`inherit`)
        self.stale = 0
        self._stale_sources: tuple[object, ...] = ()

    # -- graceful restart ----------------------------------------------------------------

    def inherit(self, old: AdjRibIn) -> None:
        """Take over the routes of the peer's previous session as *stale* (RFC 4724 §4.2).

        They stay in the Loc-RIB until this session announces the prefix again (replacing
        them) or :meth:`purge_stale` removes what is left, at End-of-RIB or when the
        restart timer runs out. Both RIBs must have the same :class:`PeerInfo` and share
        the Loc-RIB.

        Raises:
            LocalProtocolError: different peer or Loc-RIB.
        """
        if old.peer != self.peer or old.loc_rib is not self.loc_rib:
            raise LocalProtocolError("inherit needs the same peer and Loc-RIB")
        self._unicast_counts = list(old._unicast_counts)
        self._counts = dict(old._counts)
        self.stale = old.count()
        self._stale_sources = (old._source, *old._stale_sources)

    def withdraw_key(self, family: Family, key: int,
                     path_id: int | None = None) -> list[RibChange]:
        """Remove this peer's path for one prefix (e.g. refused by a new import policy).

        Returns:
            The Loc-RIB best-path changes.
        """
        changes: list[RibChange] = []
        self._set(family, key, path_id, None, changes)
        return changes

    def purge_stale(self, family: Family | None = None) -> list[RibChange]:
        """Remove the stale routes left from the previous session (of one family or all).

        Returns:
            The Loc-RIB best-path changes.
        """
        changes: list[RibChange] = []
        if not self.stale:
            return changes
        sources = self._stale_sources
        for fam, key, path in list(self):
            if (family is None or fam == family) and any(path.source is s for s in sources):
                self._set(fam, key, path.path_id, None, changes)
        if family is None:
            self._stale_sources = ()
        return changes

    # -- interning ---------------------------------------------------------------------

    def _intern(self, family: Family, block: bytes | tuple[Attribute, ...], nh: bytes,
                labels: tuple[int, ...], path_id: int | None,
                interned: dict[object, Path] | None = None) -> Path:
        if interned is None:
            interned = self._interned.get(family)
            if interned is None:
                interned = self._interned[family] = {}
        key: object
        if isinstance(block, bytes) and not labels and path_id is None:
            key = bytes((len(nh),)) + nh + block if nh else block
        else:
            key = (block, nh, labels, path_id)
        path = interned.get(key)
        if path is None:
            if isinstance(block, bytes):
                path = Path.shared(self._source, block, nh, labels, path_id)
            else:
                path = Path.shared(self._source, None, nh, labels, path_id, block)
            interned[key] = path
        return path

    def _release(self, family: Family, path: Path, count: int = 1) -> None:
        path.refs -= count
        if path.refs <= 0:
            interned = self._interned.get(family)
            # a stale path of an earlier session is not in this RIB's table: leave that alone
            if interned is not None and interned.get(path.key) is path:
                del interned[path.key]

    @property
    def interned(self) -> int:
        """Distinct attribute sets held (one :class:`Path` each)."""
        return sum(len(t) for t in self._interned.values())

    # -- one prefix --------------------------------------------------------------------

    def _mine(self, entry: Path | _Contest | None, path_id: int | None) -> Path | None:
        """This peer's candidate (with ``path_id``) in a Loc-RIB entry."""
        if entry is None:
            return None
        if isinstance(entry, Path):
            return entry if _same(entry, self.peer, path_id) else None
        for path in entry.paths:
            if _same(path, self.peer, path_id):
                return path
        return None

    def _count(self, family: Family, delta: int) -> None:
        if family == IPV4_UNICAST:
            self._unicast_counts[0] += delta
        elif family == IPV6_UNICAST:
            self._unicast_counts[1] += delta
        else:
            self._counts[family] = self._counts.get(family, 0) + delta

    def _set(self, family: Family, key: int, path_id: int | None, path: Path | None,
             changes: list[RibChange]) -> None:
        old = self._mine(self.loc_rib.table(family).get(key), path_id)
        if old is path:
            return
        if path is not None:
            path.refs += 1
        if old is not None:
            self._release(family, old)
            if old.source is not self._source:
                self.stale -= 1
            if path is None:
                self._count(family, -1)
        else:
            self._count(family, 1)
        change = self.loc_rib.update(family, key, self.peer, path, path_id)
        if change is not None:
            changes.append(change)

    # -- UPDATE processing -------------------------------------------------------------

    def apply(self, update: Update) -> list[RibChange]:
        """Apply a decoded UPDATE: withdrawals, then announcements (implicit withdraw of
        the previous path of each prefix, RFC 4271 §9).

        RFC 7606 (:attr:`Update.errors`): treat-as-withdraw withdraws every NLRI the UPDATE
        carries; AFI/SAFI disable removes every route of that family from this peer; after an
        attribute discard the remaining attributes are kept as decoded objects (the received
        bytes would still hold the discarded attribute). End-of-RIB markers change nothing.

        Args:
            update: the UPDATE, decoded with this RIB's context.

        Returns:
            The Loc-RIB best-path changes, in order.
        """
        changes: list[RibChange] = []
        if update.end_of_rib is not None:
            return changes
        disabled = update.disabled_families
        for family in disabled:
            changes += self.clear(family)
        self._withdraw(update.withdrawn, changes)
        unreach = update.mp_unreach
        if unreach is not None and unreach.family not in disabled:
            self._withdraw(unreach.withdrawn, changes)
        reach = update.mp_reach
        reach_ok = reach is not None and reach.family not in disabled and len(reach.nlri) > 0
        if update.treat_as_withdraw:  # RFC 7606 §2: as if every NLRI were withdrawn
            self._withdraw(update.nlri, changes)
            if reach is not None and reach_ok:
                self._withdraw(reach.nlri, changes)
            return changes
        block: bytes | tuple[Attribute, ...]
        if update.errors or update.raw_attributes is None:
            block = tuple(a for a in update.attributes
                          if not isinstance(a, MpReachNlri | MpUnreachNlri))
        else:
            block = strip_mp(update.raw_attributes)
        if len(update.nlri):
            self._announce(update.nlri, block, b"", changes)
        if reach is not None and reach_ok:
            nh = b"".join(a.packed for a in reach.next_hops)
            self._announce(reach.nlri, block, nh, changes)
        return changes

    def _withdraw(self, nlri: NlriList, changes: list[RibChange]) -> None:
        family = nlri.family
        if not len(nlri):
            return
        if family.has_labels:
            for n in nlri:
                self._set(family, prefix_key(n.value, n.length, family, n.rd), n.path_id, None,
                          changes)
            return
        for value, length, path_id in nlri.packed():
            self._set(family, prefix_key(value, length, family), path_id, None, changes)

    def _announce(self, nlri: NlriList, block: bytes | tuple[Attribute, ...], nh: bytes,
                  changes: list[RibChange]) -> None:
        family = nlri.family
        accept = self.accept
        self.received += len(nlri)
        if family.has_labels:
            for n in nlri:
                key = prefix_key(n.value, n.length, family, n.rd)
                if accept is not None and not accept(family, key):
                    self.rejected += 1
                    self._set(family, key, n.path_id, None, changes)
                    continue
                path = self._intern(family, block, nh, n.labels, n.path_id)
                self._set(family, key, n.path_id, path, changes)
            return
        for value, length, path_id in nlri.packed():
            key = prefix_key(value, length, family)
            if accept is not None and not accept(family, key):
                self.rejected += 1
                self._set(family, key, path_id, None, changes)
                continue
            path = self._intern(family, block, nh, (), path_id)
            self._set(family, key, path_id, path, changes)

    def apply_message(self, data: bytes, collect: bool = True) -> list[RibChange]:
        """Apply one raw UPDATE (header included), taking the fast path when it can.

        Plain, well-formed IPv4/IPv6 unicast UPDATEs are read straight into the tables
        without building attribute or NLRI objects (:func:`~.rib_wire.scan_update`); every
        other message is decoded with :func:`~netlinkbgp.bgp.messages.decode_message` and
        goes through :meth:`apply`. Both give the same RIB.

        Args:
            data: one whole BGP message.
            collect: return the best-path changes (``False`` skips building them).

        Returns:
            The Loc-RIB best-path changes (empty when ``collect`` is false).

        Raises:
            RemoteProtocolError: the message calls for a session reset.
            LocalProtocolError: the message is not an UPDATE.
        """
        changes: list[RibChange] = []
        self._apply_at(data, 0, len(data), changes, collect)
        return changes

    def apply_stream(self, buffer: bytes, collect: bool = True) -> tuple[list[RibChange], bytes]:
        """Apply every whole UPDATE at the front of a byte stream, framing in place.

        The same as :func:`~netlinkbgp.bgp.messages.split_messages` followed by
        :meth:`apply_message` on each message, without copying each message out first
        (for table dumps and bulk loads).

        Args:
            buffer: the bytes received so far.
            collect: return the best-path changes.

        Returns:
            The changes and the unconsumed remainder (an incomplete last message).

        Raises:
            RemoteProtocolError: bad framing (as ``split_messages``) or a message that calls
                for a session reset.
            LocalProtocolError: a message is not an UPDATE.
        """
        changes: list[RibChange] = []
        max_size = self.ctx.max_message_size
        size = len(buffer)
        i = 0
        while size - i >= HEADER_SIZE:
            length = (buffer[i + 16] << 8) | buffer[i + 17]
            if length < HEADER_SIZE or length > max_size or not buffer.startswith(MARKER, i):
                split_messages(buffer[i : i + HEADER_SIZE], max_size)  # raises the §6.1 error
            if i + length > size:
                break
            self._apply_at(buffer, i, i + length, changes, collect)
            i += length
        return changes, buffer[i:]

    def _apply_at(self, data: bytes, base: int, end: int, changes: list[RibChange],
                  collect: bool) -> None:
        fast = self._fast
        scanned = None if fast is None else scan_update(data, *fast, base, end, self._known)
        if scanned is None:
            message = decode_message(data[base:end] if base or end != len(data) else data,
                                     self.ctx)
            if not isinstance(message, Update):
                raise LocalProtocolError(f"not an UPDATE: {type(message).__name__}")
            applied = self.apply(message)
            if collect:
                changes += applied
            return
        withdrawn, v6, keys, block, nh = scanned
        if withdrawn:
            sink = changes if collect else []
            for key in withdrawn:
                self._set(IPV4_UNICAST, key, None, None, sink)
        if not keys:
            return
        family = IPV6_UNICAST if v6 else IPV4_UNICAST
        if self.accept is not None:
            accept = self.accept
            refused = [k for k in keys if not accept(family, k)]
            if refused:
                sink = changes if collect else []
                self.received += len(refused)
                self.rejected += len(refused)
                for key in refused:  # a refused announcement withdraws what was there
                    self._set(family, key, None, None, sink)
                keys = [k for k in keys if accept(family, k)]
                if not keys:
                    return
        loc, interned = self._unicast[v6]
        intern_key = bytes((len(nh),)) + nh + block if nh else block
        path = interned.get(intern_key)
        source = self._source
        if path is None:  # as _intern, inline: nearly every UPDATE of a table dump
            path = interned[intern_key] = Path.received(source, block, nh)
        count = len(keys)
        path.refs += count
        self.received += count
        added = 0
        # The common cases inline (measured: a call per prefix costs a third of the time):
        # a prefix nobody has, or one whose only candidate is this peer's previous path.
        for key in keys:
            current = loc.get(key)
            if current is None:
                loc[key] = path
                added += 1
                if collect:
                    changes.append(RibChange(family, key, None, path))
            elif current is path:
                path.refs -= 1
            elif type(current) is Path and current.source is source and current._extra is None:
                loc[key] = path
                self._release(family, current)
                if collect:
                    changes.append(RibChange(family, key, current, path))
            else:
                path.refs -= 1  # _set counts its own reference
                self._set(family, key, None, path, changes if collect else [])
        self._unicast_counts[v6] += added

    def clear(self, family: Family | None = None) -> list[RibChange]:
        """Remove every route of one family (or all), e.g. when the session goes down.

        Returns:
            The Loc-RIB best-path changes.
        """
        changes: list[RibChange] = []
        for fam, key, path in list(self):
            if family is not None and fam != family:
                continue
            self._set(fam, key, path.path_id, None, changes)
        return changes

    # -- reading -----------------------------------------------------------------------

    def get(self, family: Family, key: int, path_id: int | None = None) -> Path | None:
        """The path of one prefix, or ``None``."""
        return self._mine(self.loc_rib._tables.get(family, {}).get(key), path_id)

    def count(self, family: Family | None = None) -> int:
        """Prefixes (with ADD-PATH: paths) held, in one family or all."""
        v4, v6 = self._unicast_counts
        if family is None:
            return v4 + v6 + sum(self._counts.values())
        if family == IPV4_UNICAST:
            return v4
        if family == IPV6_UNICAST:
            return v6
        return self._counts.get(family, 0)

    def __len__(self) -> int:
        return self.count()

    def __iter__(self) -> Iterator[tuple[Family, int, Path]]:
        """Every (family, prefix key, path) of this peer (a scan of the Loc-RIB)."""
        peer = self.peer
        for family, table in list(self.loc_rib._tables.items()):
            for key, entry in table.items():
                if isinstance(entry, Path):
                    if _same(entry, peer, entry.path_id):
                        yield family, key, entry
                    continue
                for path in entry.paths:
                    if _same(path, peer, path.path_id):
                        yield family, key, path
