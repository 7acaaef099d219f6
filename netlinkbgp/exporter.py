"""The Exporter: Loc-RIB best paths -> Linux routing tables (DESIGN §3, §4, §6).

It consumes :class:`~netlinkbgp.route.RouteEvent` batches (``apply``), matches each route
against the export rules, validates its next hop in the target table, and installs it with its
own protocol number, in batches.

Tracking is compact (a million routes must fit in ~150 bytes each): one dict keyed by a packed
integer of the prefix (a tuple with the RD and VRF for VPN/VRF routes) whose value is an
*interned* ``(attributes, installed)`` pair, shared by every route with the same attributes and
the same installation. Nothing per route but the dict slot and the key.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import socket
import time
from collections.abc import Iterable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network
from typing import Any, Protocol

from netlinkbgp.aio import cancel_and_wait
from netlinkbgp.codec.constants import NlmFlag, RtmType, RtTable
from netlinkbgp.codec.messages import LinkMessage, Message, RouteMessage
from netlinkbgp.codec.route_requests import PackedRoutes, RouteRest, RouteSpec
from netlinkbgp.errors import LocalProtocolError, NetlinkBGPError, NetlinkError
from netlinkbgp.export_config import (
    ExportConfig,
    ExportedRoute,
    ExportRule,
    ExportStats,
    ExportVrf,
)
from netlinkbgp.export_io import attach_own_route_filter, load_state, save_state
from netlinkbgp.export_tracking import V6 as _V6
from netlinkbgp.export_tracking import Attrs as _Attrs
from netlinkbgp.export_tracking import Entry as _Entry
from netlinkbgp.export_tracking import Install as _Install
from netlinkbgp.export_tracking import Key as _Key
from netlinkbgp.export_tracking import Target as _Target
from netlinkbgp.export_tracking import prefix_key as _prefix_key
from netlinkbgp.export_tracking import unkey as _unkey
from netlinkbgp.netlink_io import DEFAULT_RCVBUF, EventSocket, NetlinkSocket, Overrun
from netlinkbgp.nexthop_cache import NextHopCache
from netlinkbgp.route import (
    NextHop,
    RouteDistinguisher,
    RouteEvent,
    parse_community,
    parse_large_community,
    parse_route_target,
)

__all__ = [
    "ExportConfig",
    "ExportRule",
    "ExportStats",
    "ExportVrf",
    "ExportedRoute",
    "Exporter",
]

_MAIN = int(RtTable.RT_TABLE_MAIN)
_NEW = int(RtmType.RTM_NEWROUTE)
_DEL = int(RtmType.RTM_DELROUTE)
#: New routes never overwrite someone else's route with the same key (table, prefix, metric).
_CREATE = int(NlmFlag.NLM_F_CREATE | NlmFlag.NLM_F_EXCL)
#: A next-hop change of a route we installed is one atomic replace (DESIGN §4).
_REPLACE = int(NlmFlag.NLM_F_CREATE | NlmFlag.NLM_F_REPLACE)
#: No previous announcement (apply's identity tests against the previous route's tuples).
_NOTHING = object()
#: (key, install) pairs as two parallel lists: a batch of routes without a tuple per route.
_Pairs = tuple[list[_Key], list[_Install]]
#: Routes planned per step: ~10 ms of Python work, so the event loop is never held longer.
CHUNK = 8192
class _RouteIO(Protocol):
    """What the Exporter needs of the command socket (NetlinkSocket, or a fake in tests)."""

    async def routes(
        self, msg_type: int, specs: Sequence[RouteSpec], flags: int = 0
    ) -> list[NetlinkError | None]: ...

    async def dump_routes(self, family: int = ..., table: int = ...) -> list[RouteMessage]: ...

    async def dump_links(self) -> list[LinkMessage]: ...

    def close(self) -> None: ...


# -- the Exporter ------------------------------------------------------------------------------


def _plain(key: _Key) -> int:
    """The prefix part of a tracking key (VPN and VRF keys also carry RD and VRF)."""
    return key if isinstance(key, int) else key[0]


class Exporter:
    """Installs Loc-RIB best paths into Linux routing tables (a :class:`RouteSink`).

    Use ``async with Exporter(config) as exporter:`` (or ``start()`` / ``stop()``) and feed it
    with ``apply(events)``; ``await drain()`` waits until the kernel has everything applied.

    Args:
        config: the export configuration.
        netlink: a command socket to use instead of opening one (tests, benchmarks); with one,
            ``start`` still opens the event socket unless ``events=False``.
        events: whether ``start`` follows kernel events (route/link changes, overruns).

    Raises:
        LocalProtocolError: an invalid configuration.
    """

    def __init__(
        self, config: ExportConfig, *, netlink: _RouteIO | None = None, events: bool = True
    ) -> None:
        self._config = config
        self._nl: _RouteIO | None = netlink
        self._own_socket = netlink is None
        self._follow_events = events
        self._events: EventSocket | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False
        #: prefix key -> interned (attributes, installed).
        self._tracked: dict[_Key, _Entry] = {}
        self._intern: dict[Any, Any] = {}
        self._attrs_intern: dict[tuple[Any, ...], _Attrs] = {}
        self._targets_cache: dict[_Attrs, tuple[_Target, ...]] = {}
        #: Pending changes: key -> (route attributes or None for a withdraw), coalesced, or a
        #: list of the same in order when dampening is off.
        self._pending: dict[_Key, _Attrs | None] = {}
        self._queue: list[tuple[_Key, _Attrs | None]] = []
        self._first_pending = 0.0
        self._flush_now = False
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._busy = False
        self._revalidate = False
        self._resync = False
        self._nh = NextHopCache()
        #: Tables newly viewed (a rule or VRF appeared): to be filled from a dump.
        self._new_views: list[int] = []
        #: VRF name -> (table, device ifindex) learned from the kernel's VRF devices.
        self._kernel_vrfs: dict[str, tuple[int, int]] = {}
        self._vrf_rts: dict[str, frozenset[bytes]] = {}
        self._rules: list[tuple[ExportRule, frozenset[int], frozenset[tuple[int, int, int]]]]
        self._recorded: set[tuple[int, str, int]] | None = None
        #: While a graceful restart is in progress: our routes found in the kernel that no
        #: best path has claimed yet, (prefix key, table, metric) -> (gateway, oif, onlink).
        #: They stay (forwarding goes on) until :meth:`purge_stale`; a best path arriving for
        #: one adopts it as it is, or replaces it in place. ``None`` when not holding.
        self._held: dict[tuple[int, int, int], tuple[bytes, int, bool]] | None = None
        self._state_dirty = False
        self._counters: dict[str, Any] = {
            "exported": 0, "withdrawn": 0, "errors": 0, "nexthop_validation_attempts": 0,
            "nexthop_validation_failures": 0, "dampened": 0, "resyncs": 0,
            "last_export_time": None, "last_withdraw_time": None, "last_error": "",
        }
        self._configure(config)

    # -- configuration ---------------------------------------------------------------------

    def _configure(self, config: ExportConfig) -> None:
        self._config = config
        self._rules = [
            (rule, frozenset(parse_community(c) for c in rule.community_list),
             frozenset(parse_large_community(c) for c in rule.large_community_list))
            for rule in config.rules
        ]
        self._vrf_rts = {v.name: frozenset(parse_route_target(t) for t in v.import_route_targets)
                         for v in config.vrfs}
        self._targets_cache.clear()
        self._new_views.extend(self._nh.set_tables(self.tables()))

    def vrf_table(self, name: str) -> int | None:
        """The table of a VRF: its kernel device's (IFLA_VRF_TABLE) when there is one, else
        the configured one; ``None`` when unknown."""
        kernel = self._kernel_vrfs.get(name)
        if kernel is not None:
            return kernel[0]
        for vrf in self._config.vrfs:
            if vrf.name == name and vrf.table_id:
                return vrf.table_id
        return None

    def tables(self) -> list[int]:
        """The tables the current rules export to (where startup cleanup looks)."""
        out = set()
        for rule in self._config.rules:
            table = rule.table_id or (self.vrf_table(rule.vrf) if rule.vrf else _MAIN)
            if table:
                out.add(table)
        return sorted(out)

    def handle_link(self, msg: LinkMessage) -> None:
        """Learn from a link message: up/down state, and VRF devices' tables (kind ``vrf``,
        IFLA_VRF_TABLE). Called for the dump and for every link event."""
        deleted = msg.msg_type == RtmType.RTM_DELLINK
        self._nh.link_event(msg.ifindex, None if deleted else msg.up)
        name = msg.ifname
        if name is None:
            return
        table = msg.vrf_table
        known = self._kernel_vrfs.get(name)
        if deleted or table is None:
            if known is not None and known[1] == msg.ifindex:
                del self._kernel_vrfs[name]
                self._vrfs_changed()
            return
        if known != (table, msg.ifindex):
            self._kernel_vrfs[name] = (table, msg.ifindex)
            self._vrfs_changed()

    def _vrfs_changed(self) -> None:
        self._targets_cache.clear()
        self._new_views.extend(self._nh.set_tables(self.tables()))
        self._revalidate = True
        self._wake.set()

    # -- RouteSink --------------------------------------------------------------------------

    def apply(self, events: Sequence[RouteEvent]) -> None:
        """Consume route events (Loc-RIB best paths): announce, withdraw, end-of-rib.

        Never blocks: changes are queued and applied by the Exporter's task (after the
        dampening interval, when one is configured).
        """
        if not self._config.enabled:
            return
        dampening = self._config.dampening_interval > 0
        pending = self._pending
        queue = self._queue
        intern = self._attrs_intern
        memo: dict[tuple[int, int, int, int, bool, str], _Attrs] = {}
        # The previous announcement's attribute tuples and what they gave: consecutive routes
        # of a batch usually share them, and four identity tests are cheaper than a lookup.
        last_hops: object = _NOTHING
        last_communities: object = _NOTHING
        last_large: object = _NOTHING
        last_ext: object = _NOTHING
        last_vpn = False
        last_vrf = ""
        last_attrs: _Attrs | None = None
        before = len(pending)
        coalesced = 0
        for event in events:
            route = event.route
            if route is None:
                if event.kind == "end-of-rib":
                    self._flush_now = True
                continue
            prefix = route.prefix
            # pack_prefix, inline; for the stdlib's own classes, from their attributes
            # (``int()`` and ``prefixlen`` are Python-level calls: a third of this loop).
            if type(prefix) is IPv4Network:
                plain = (prefix._prefixlen << 32) | prefix.network_address._ip  # type: ignore[attr-defined]
            elif type(prefix) is IPv6Network:
                plain = (_V6 | (prefix._prefixlen << 128)  # type: ignore[attr-defined]
                         | prefix.network_address._ip)  # type: ignore[attr-defined]
            else:
                plain = _prefix_key(prefix)
            vpn = route.rd is not None
            key: _Key = plain
            if vpn or route.vrf:
                key = (plain, route.rd.to_bytes() if route.rd is not None else b"", route.vrf)
            attrs: _Attrs | None = None
            if event.kind == "announce":
                hops, communities = route.next_hops, route.communities
                large, ext = route.large_communities, route.ext_communities
                if (hops is last_hops and communities is last_communities
                        and large is last_large and ext is last_ext and vpn is last_vpn
                        and route.vrf == last_vrf):
                    attrs = last_attrs
                else:
                    # Look the tuples up by identity next (the events keep them alive, so ids
                    # are stable meanwhile), by value last.
                    fast = (id(hops), id(communities), id(large), id(ext), vpn, route.vrf)
                    attrs = memo.get(fast)
                    if attrs is None:
                        ident = (hops, communities, large, ext, vpn, route.vrf)
                        attrs = intern.get(ident)
                        if attrs is None:
                            attrs = intern[ident] = self._make_attrs(hops, ident)
                        memo[fast] = attrs
                    last_hops, last_communities = hops, communities
                    last_large, last_ext = large, ext
                    last_vpn, last_vrf, last_attrs = vpn, route.vrf, attrs
            if dampening:
                pending[key] = attrs
                coalesced += 1
            else:
                queue.append((key, attrs))
        # Every change to a key already pending superseded one: the dict grew by the others.
        superseded = coalesced - (len(pending) - before)
        if superseded:
            self._counters["dampened"] += superseded
        if not pending and not queue and not self._flush_now:
            return
        if not self._first_pending:
            self._first_pending = time.monotonic()
        self._idle.clear()
        self._wake.set()

    @staticmethod
    def _make_attrs(next_hops: tuple[NextHop, ...], ident: tuple[Any, ...]) -> _Attrs:
        gateway: bytes | None = None
        ifindex = 0
        for hop in next_hops:
            if not hop.address.is_unspecified:
                gateway, ifindex = hop.address.packed, hop.ifindex
                break
        return _Attrs(gateway, ifindex, frozenset(ident[1]), frozenset(ident[2]),
                      frozenset(ident[3]), ident[4], ident[5])

    # -- lifecycle ----------------------------------------------------------------------------

    async def __aenter__(self) -> Exporter:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self, keep_stale: bool = False) -> None:
        """Open the sockets, learn links and tables, clean up stale routes of ours, and start
        applying changes.

        Args:
            keep_stale: for a graceful restart (RFC 4724 §4.1: forwarding state is kept while
                the routes are learned again): leave our routes found in the kernel in place
                instead of deleting them; each is replaced atomically when its best path
                arrives, and :meth:`purge_stale` removes those still unclaimed (call it once
                the peers have sent End-of-RIB).

        Raises:
            TransportError: the netlink sockets cannot be opened.
        """
        if self._started or not self._config.enabled:
            return
        if keep_stale:
            self._held = {}
        if self._nl is None:
            self._nl = NetlinkSocket()
        if self._follow_events:
            self._events = EventSocket(rcvbuf=self._config.event_rcvbuf or DEFAULT_RCVBUF)
            attach_own_route_filter(self._events.fileno(), self._config.route_protocol)
        self._recorded = self._load_state()
        self._started = True
        await self._full_resync(startup=True)
        self._tasks.append(asyncio.create_task(self._worker()))
        if self._events is not None:
            self._tasks.append(asyncio.create_task(self._event_reader()))

    async def stop(self) -> None:
        """Stop following events and applying changes; installed routes stay (the next start,
        or ``flush()`` before this, removes them)."""
        await cancel_and_wait(self._tasks)
        self._tasks.clear()
        if self._events is not None:
            self._events.close()
            self._events = None
        if self._nl is not None and self._own_socket:
            self._nl.close()
            self._nl = None
        self._started = False

    async def drain(self) -> None:
        """Apply everything pending now (ending the dampening interval early) and wait until
        the kernel has it. Without ``start`` (offline use), the work runs in this call."""
        if not self._started or not self._tasks:
            await self._cycle()
            return
        worker = self._tasks[0]
        while self._has_work():
            self._flush_now = True
            self._idle.clear()
            self._wake.set()
            idle = asyncio.ensure_future(self._idle.wait())
            await asyncio.wait((idle, worker), return_when=asyncio.FIRST_COMPLETED)
            if worker.done():  # it died of a bug: say so rather than wait for ever
                idle.cancel()
                worker.result()
                raise LocalProtocolError("the exporter has been stopped")

    def _has_work(self) -> bool:
        return bool(self._pending or self._queue or self._revalidate or self._resync
                    or self._busy or self._flush_now or self._new_views)

    async def purge_stale(self) -> int:
        """End a graceful restart: delete our routes from before it that no best path has
        claimed since (see ``start(keep_stale=True)``). Returns how many were deleted."""
        await self.drain()
        held, self._held = self._held, None
        if not held:
            return 0
        stale: list[tuple[_Key, _Install]] = [
            (prefix, _Install(table, metric, b"", 0, False)) for prefix, table, metric in held]
        return len(await self._delete(stale))

    @property
    def holding_stale(self) -> int:
        """How many routes from before a graceful restart are still held (0 when none)."""
        return len(self._held or ())

    async def reload(self, config: ExportConfig) -> None:
        """Switch to a new configuration: every route is re-evaluated against the new rules
        and only the difference reaches the kernel."""
        self._configure(config)
        self._revalidate = True
        await self.drain()

    async def flush(self) -> None:
        """Remove every route we installed and forget the tracked best paths."""
        await self.drain()
        deletes: list[tuple[_Key, _Install]] = [
            (key, install) for key, (_attrs, installed) in self._tracked.items()
            for install in installed
        ]
        self._tracked.clear()
        await self._delete(deletes)
        self._save_state()

    # -- worker -------------------------------------------------------------------------------

    async def _worker(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            interval = self._config.dampening_interval / 1000
            if interval and self._pending and not self._flush_now and not self._resync:
                left = self._first_pending + interval - time.monotonic()
                if left > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), left)
                    self._wake.set()  # look again: more may have come, or drain() asked
                    if self._first_pending + interval > time.monotonic() and not self._flush_now:
                        continue
            self._busy = True
            try:
                await self._cycle()
            except NetlinkBGPError as exc:
                self._error(str(exc))
            finally:
                self._busy = False
            if not self._has_work():
                self._idle.set()

    async def _cycle(self) -> None:
        # As NetlinkSocket.dump does: a big batch creates hundreds of thousands of small
        # tuples, and collections triggered meanwhile cost a fifth of the time. Nothing the
        # Exporter builds is cyclic, so the collector is paused for the cycle.
        paused = gc.isenabled()
        gc.disable()
        try:
            await self._cycle_inner()
        finally:
            if paused:
                gc.enable()

    async def _cycle_inner(self) -> None:
        self._flush_now = False
        if self._resync:
            await self._full_resync()
        if self._new_views and self._nl is not None and self._started:
            tables, self._new_views = self._new_views, []
            for table in tables:
                if table in self._nh.views:
                    routes = await self._nl.dump_routes(socket.AF_UNSPEC, table)
                    self._nh.load(table, routes, self._config.route_protocol)
            self._revalidate = True
        pending, self._pending = self._pending, {}
        queue, self._queue = self._queue, []
        self._first_pending = 0.0
        if pending:
            await self._apply_changes(list(pending.items()))
        # Without dampening every change is applied, in order: one round per repeat of a key.
        while queue:
            seen: set[_Key] = set()
            now: list[tuple[_Key, _Attrs | None]] = []
            later: list[tuple[_Key, _Attrs | None]] = []
            for item in queue:
                if item[0] in seen:
                    later.append(item)
                else:
                    seen.add(item[0])
                    now.append(item)
            await self._apply_changes(now)
            queue = later
        if self._revalidate:
            self._revalidate = False
            await self._revalidate_all()
        if self._state_dirty:
            self._save_state()

    async def _revalidate_all(self) -> None:
        keys = list(self._tracked)
        for start in range(0, len(keys), CHUNK * 4):
            chunk = keys[start : start + CHUNK * 4]
            tracked = self._tracked
            changes = [(k, tracked[k][0]) for k in chunk if k in tracked]
            await self._apply_changes(changes)

    # -- planning and committing -------------------------------------------------------------

    def _targets(self, attrs: _Attrs) -> tuple[_Target, ...]:
        """The tables a route goes to (DESIGN §6 matching), cached per attribute set."""
        cached = self._targets_cache.get(attrs)
        if cached is not None:
            return cached
        if attrs.vpn:
            vrfs = {name for name, rts in self._vrf_rts.items() if rts & attrs.ext}
        else:
            vrfs = {attrs.vrf}
        out: dict[int, _Target] = {}
        for rule, communities, large in self._rules:
            if rule.vrf not in vrfs:
                continue
            if (communities or large) and not (communities & attrs.communities
                                               or large & attrs.large):
                continue
            table = rule.table_id or (self.vrf_table(rule.vrf) if rule.vrf else _MAIN)
            if not table or table in out:
                continue
            device = self._kernel_vrfs.get(rule.vrf, (0, 0))[1] if rule.vrf else 0
            out[table] = _Target(table, rule.metric, rule.validate_nexthop, device)
        result = tuple(out[t] for t in sorted(out))
        self._targets_cache[attrs] = result
        return result

    def _desired(self, attrs: _Attrs) -> tuple[tuple[_Install, ...], int, int]:
        """Where a route with these attributes goes now: (installs, validations made,
        validations failed). The next-hop checks go through the table-scoped cache."""
        gateway = attrs.gateway
        if gateway is None:
            return (), 0, 0
        installs = []
        attempts = failures = 0
        resolve = self._nh.resolve
        for table, metric, validate, fallback in self._targets(attrs):
            attempts += validate
            where = resolve(table, gateway, attrs.ifindex, validate, fallback)
            if where is None:
                failures += validate
                continue
            installs.append(_Install(table, metric, gateway, where[0], where[1]))
        return tuple(installs), attempts, failures

    def _specs(self, keys: list[_Key], installs: list[_Install], delete: bool) -> PackedRoutes:
        """Routes for parallel lists of keys and installs; deletes carry only the kernel's key
        and our protocol, so another daemon's route is never matched. Consecutive installs
        are usually the same object (interned per attribute set): they share the rest of the
        request too."""
        protocol = self._config.route_protocol
        prefixes = [key if isinstance(key, int) else key[0] for key in keys]  # _plain, inline
        rests: list[RouteRest] = []
        add_rest = rests.append
        last: _Install | None = None
        rest: RouteRest = (0, 0, None, None, 0, False, 1)
        for i in installs:
            if i is not last:
                last = i
                if delete:
                    rest = (i.table, protocol, i.metric, None, 0, False, 1)
                else:
                    rest = (i.table, protocol, i.metric, i.gateway, i.oif, i.onlink, 1)
            add_rest(rest)
        return PackedRoutes(prefixes, rests)

    async def _apply_changes(self, changes: Sequence[tuple[_Key, _Attrs | None]]) -> None:
        """Plan and commit ``changes`` (distinct keys) chunk by chunk, planning each chunk
        while the kernel works through the previous one (the command socket sends from its own
        thread): a chunk's plan reads and writes only its own keys' tracking."""
        committing: asyncio.Future[None] | None = None
        try:
            for start in range(0, len(changes), CHUNK):
                plan = self._plan_chunk(changes[start : start + CHUNK])
                if committing is not None:
                    await committing
                committing = asyncio.ensure_future(self._commit(*plan))
                await asyncio.sleep(0)  # it hands its first datagram over; we plan the next
            if committing is not None:
                await committing
        finally:
            if committing is not None and not committing.done():
                committing.cancel()

    def _plan_chunk(self, changes: Sequence[tuple[_Key, _Attrs | None]]) -> tuple[Any, ...]:
        """What ``changes`` need from the kernel: the arguments of :meth:`_commit`."""
        tracked = self._tracked
        intern = self._intern
        # Routes of a chunk mostly share attributes: evaluate each set once per chunk, but
        # count the validations per route (that is what the stats promise).
        desired_cache: dict[_Attrs, tuple[tuple[_Install, ...], int, int, _Entry]] = {}
        attempts = failures = 0
        # (key, install) pairs as two parallel lists each: no tuple per route.
        adds: _Pairs = ([], [])
        replaces: _Pairs = ([], [])
        deletes: _Pairs = ([], [])
        moves: list[tuple[_Key, _Install, _Install]] = []  # metric change: add, then delete
        fresh: tuple[list[_Key], list[_Entry]] = ([], [])  # nothing installed before: adds
        gone: list[_Key] = []  # withdrawn: only deletes
        final: dict[_Key, tuple[_Attrs, dict[int, _Install]]] = {}  # anything else
        add_key, add_install = adds[0].append, adds[1].append
        del_key, del_install = deletes[0].append, deletes[1].append
        fresh_key, fresh_entry = fresh[0].append, fresh[1].append
        last_attrs: _Attrs | None = None
        desired: tuple[_Install, ...] = ()
        tried = failed = 0
        entry: _Entry | None = None
        single: _Install | None = None
        for key, attrs in changes:
            old = tracked.get(key)
            if attrs is None:
                if old is not None:
                    gone.append(key)
                    for install in old[1]:
                        del_key(key)
                        del_install(install)
                continue
            if attrs is not last_attrs:  # interned: consecutive routes often share them
                evaluated = desired_cache.get(attrs)
                if evaluated is None:
                    desired, tried, failed = self._desired(attrs)
                    entry = (attrs, desired)
                    entry = intern.setdefault(entry, entry)
                    evaluated = desired_cache[attrs] = (desired, tried, failed, entry)
                else:
                    desired, tried, failed, entry = evaluated
                single = desired[0] if len(desired) == 1 else None
                last_attrs = attrs
            assert entry is not None
            attempts += tried
            failures += failed
            if old is None or not old[1]:
                if single is not None:  # the usual case: one table
                    fresh_key(key)
                    fresh_entry(entry)
                    add_key(key)
                    add_install(single)
                elif desired:
                    fresh_key(key)
                    fresh_entry(entry)
                    for install in desired:
                        add_key(key)
                        add_install(install)
                else:
                    tracked[key] = entry
                continue
            old_installed = old[1]
            if desired == old_installed:
                tracked[key] = entry  # idempotent: nothing for the kernel
                continue
            final[key] = (attrs, {i.table: i for i in old_installed})
            old_by_table = {i.table: i for i in old_installed}
            for install in desired:
                before = old_by_table.pop(install.table, None)
                if before is None:
                    add_key(key)
                    add_install(install)
                elif before == install:
                    continue
                elif before.metric == install.metric:
                    replaces[0].append(key)
                    replaces[1].append(install)
                else:
                    moves.append((key, install, before))
            for before in old_by_table.values():
                del_key(key)
                del_install(before)
        self._counters["nexthop_validation_attempts"] += attempts
        self._counters["nexthop_validation_failures"] += failures
        return adds, replaces, deletes, moves, fresh, gone, final

    async def _commit(
        self,
        adds: _Pairs,
        replaces: _Pairs,
        deletes: _Pairs,
        moves: list[tuple[_Key, _Install, _Install]],
        fresh: tuple[list[_Key], list[_Entry]],
        gone: list[_Key],
        final: dict[_Key, tuple[_Attrs, dict[int, _Install]]],
    ) -> None:
        counters = self._counters
        failed: dict[_Key, list[_Install]] = {}
        creates = adds
        if moves:
            creates = (adds[0] + [k for k, _new, _old in moves],
                       adds[1] + [new for _k, new, _old in moves])
        if self._held:
            creates, claimed = self._claim_held(creates, final)
            replaces = (replaces[0] + claimed[0], replaces[1] + claimed[1])
        for flags, (keys, installs), what in ((_CREATE, creates, "add"),
                                              (_REPLACE, replaces, "replace")):
            if not keys:
                continue
            assert self._nl is not None
            results = await self._nl.routes(_NEW, self._specs(keys, installs, False), flags)
            done = len(keys)
            if final or any(results):
                for key, install, error in zip(keys, installs, results, strict=True):
                    if error is None:
                        pending = final.get(key)
                        if pending is not None:
                            pending[1][install.table] = install
                    else:
                        done -= 1
                        failed.setdefault(key, []).append(install)
                        self._error(f"{what} {self._describe(key, install)}: {error}")
            counters["exported"] += done
            counters["last_export_time"] = time.time()
        # Make before break: the old metric goes only once the new one is in.
        for key, new, old in moves:
            if final[key][1].get(new.table) == new:
                deletes[0].append(key)
                deletes[1].append(old)
        await self._delete_pairs(deletes)
        if final:
            for key, install in zip(*deletes, strict=True):
                pending = final.get(key)
                if pending is not None and pending[1].get(install.table) == install:
                    del pending[1][install.table]
        tracked = self._tracked
        intern = self._intern
        for key in gone:
            del tracked[key]
        tracked.update(zip(*fresh, strict=True))
        for key, missing in failed.items():
            entry = tracked.get(key)
            if entry is not None and key not in final:
                entry = (entry[0], tuple(i for i in entry[1] if i not in missing))
                tracked[key] = intern.setdefault(entry, entry)
        for key, (attrs, by_table) in final.items():
            entry = (attrs, tuple(by_table[t] for t in sorted(by_table)))
            tracked[key] = intern.setdefault(entry, entry)
        if (fresh[0] or gone or final) and self._config.state_file:
            self._state_dirty = True

    def _claim_held(
        self, creates: _Pairs, final: dict[_Key, tuple[_Attrs, dict[int, _Install]]],
    ) -> tuple[_Pairs, _Pairs]:
        """Routes to create that we left in the kernel across a graceful restart: one that is
        already exactly so is adopted without a kernel call; one that differs is replaced
        atomically. Returns (still to create, to replace)."""
        held = self._held
        assert held is not None
        rest: _Pairs = ([], [])
        replace: _Pairs = ([], [])
        for key, install in zip(*creates, strict=True):
            was = held.pop((_plain(key), install.table, install.metric), None)
            if was is None:
                rest[0].append(key)
                rest[1].append(install)
            elif was[0] == install.gateway and was[2] == install.onlink and (
                    not install.oif or was[1] == install.oif):
                pending = final.get(key)
                if pending is not None:
                    pending[1][install.table] = install
            else:
                replace[0].append(key)
                replace[1].append(install)
        return rest, replace

    async def _delete(self, deletes: list[tuple[_Key, _Install]]) -> list[tuple[_Key, _Install]]:
        """Delete routes (our protocol only); returns those gone (ESRCH counts as gone)."""
        if deletes:
            await self._delete_pairs(([k for k, _i in deletes], [i for _k, i in deletes]))
        return deletes

    async def _delete_pairs(self, deletes: _Pairs) -> None:
        """Delete routes, given as parallel lists of keys and installs (our protocol only);
        every one counts as gone (ESRCH included), the others' errors are reported."""
        keys, installs = deletes
        if not keys:
            return
        assert self._nl is not None
        results = await self._nl.routes(_DEL, self._specs(keys, installs, True))
        withdrawn = len(keys)
        if any(results):
            for key, install, error in zip(keys, installs, results, strict=True):
                if error is not None and error.errno != errno.ESRCH:
                    # The kernel kept it, but it is no longer ours to track.
                    withdrawn -= 1
                    self._error(f"delete {self._describe(key, install)}: {error}")
        self._counters["withdrawn"] += withdrawn
        self._counters["last_withdraw_time"] = time.time()

    def _error(self, text: str) -> None:
        self._counters["errors"] += 1
        self._counters["last_error"] = text

    @staticmethod
    def _describe(key: _Key, install: _Install) -> str:
        _family, dst, length = _unkey(_plain(key))
        return f"{ip_network((dst, length))} table {install.table} metric {install.metric}"

    # -- kernel events, resync, cleanup ------------------------------------------------------

    async def _event_reader(self) -> None:
        assert self._events is not None
        async for batch in self._events:
            if isinstance(batch, Overrun):
                self._resync = True
            else:
                self._handle_events(batch)
            if self._resync or self._revalidate:
                self._idle.clear()
                self._wake.set()

    def _handle_events(self, messages: Iterable[Message]) -> None:
        protocol = self._config.route_protocol
        for msg in messages:
            if isinstance(msg, RouteMessage):
                if msg.protocol != protocol and self._nh.route_event(
                        msg, msg.msg_type == _NEW):
                    self._revalidate = True
            elif isinstance(msg, LinkMessage):
                self.handle_link(msg)
                self._revalidate = True

    async def _full_resync(self, startup: bool = False) -> None:
        """Dump links and the viewed tables, reconcile our routes with the kernel, then
        re-evaluate every tracked route. Runs at start and after an event overrun."""
        assert self._nl is not None
        self._resync = False
        self._counters["resyncs"] += 1
        if self._events is not None:
            self._events.drain()  # what is queued predates the dumps below
        for link in await self._nl.dump_links():
            self.handle_link(link)
        self._resync = False
        self._nh.set_tables(self.tables())
        self._new_views.clear()
        protocol = self._config.route_protocol
        # Our tables: the configured ones, and any we still have routes in.
        ours = set(self.tables())
        for _attrs, installed in set(self._tracked.values()):
            ours.update(i.table for i in installed)
        kernel: set[tuple[int, int, int]] = set()
        found: dict[tuple[int, int, int], RouteMessage] = {}
        for table in sorted(ours | set(self._nh.views)):
            routes = await self._nl.dump_routes(socket.AF_UNSPEC, table)
            if table in self._nh.views:
                self._nh.load(table, routes, protocol)
            if table in ours:
                for msg in routes:
                    if msg.protocol == protocol:
                        ident = (_prefix_key(msg.dst), table, msg.priority or 0)
                        kernel.add(ident)
                        if self._held is not None:
                            found[ident] = msg
        # Forget installs the kernel no longer has; delete ours that nobody tracks.
        known: set[tuple[int, int, int]] = set()
        for key, (attrs, installed) in list(self._tracked.items()):
            plain = _plain(key)
            keep = []
            for install in installed:
                ident = (plain, install.table, install.metric)
                known.add(ident)
                if ident in kernel:
                    keep.append(install)
            if len(keep) != len(installed):
                entry = (attrs, tuple(keep))
                self._tracked[key] = self._intern.setdefault(entry, entry)
        stale: list[tuple[_Key, _Install]] = []
        for prefix, table, metric in kernel - known:
            _family, dst, length = _unkey(prefix)
            if self._recorded is not None and (
                    table, str(ip_network((dst, length))), metric) not in self._recorded:
                continue  # same protocol, but not recorded as ours: another daemon's
            stale.append((prefix, _Install(table, metric, b"", 0, False)))
        if self._held is not None:  # a graceful restart: keep them until purge_stale
            for stale_key, install in stale:
                ident = (_plain(stale_key), install.table, install.metric)
                msg = found[ident]
                gateway = msg.gateway
                self._held[ident] = (gateway.packed if gateway is not None else b"",
                                     msg.oif or 0, msg.onlink)
            stale = []
        await self._delete(stale)
        if startup and self._config.state_file:
            self._state_dirty = True
        self._revalidate = False
        await self._revalidate_all()

    # -- state file -----------------------------------------------------------------------------

    def _load_state(self) -> set[tuple[int, str, int]] | None:
        path = self._config.state_file
        if not path:
            return None
        try:
            return load_state(path)
        except ValueError as exc:
            self._error(f"{exc}; no stale route will be removed")
            return set()

    def _save_state(self) -> None:
        """Write what we installed, atomically (temporary file + rename)."""
        path = self._config.state_file
        self._state_dirty = False
        if not path:
            return
        routes: list[tuple[int, str, int]] = []
        for key, (_attrs, installed) in self._tracked.items():
            _family, dst, length = _unkey(_plain(key))
            prefix = str(ip_network((dst, length)))
            routes.extend((i.table, prefix, i.metric) for i in installed)
        self._recorded = set(routes)
        try:
            save_state(path, self._config.route_protocol, routes)
        except OSError as exc:
            self._error(f"state file {path}: {exc.strerror}")

    # -- introspection ------------------------------------------------------------------------

    def stats(self) -> ExportStats:
        """The counters now."""
        installed = sum(len(entry[1]) for entry in self._tracked.values())
        return ExportStats(tracked=len(self._tracked), installed=installed, **self._counters)

    def routes(self) -> list[ExportedRoute]:
        """Every route installed now, by prefix then table. A VPN route carries no VRF of
        its own: it shows the VRF whose rule put it in that table."""
        table_vrf: dict[int, str] = {}
        for rule in self._config.rules:
            table = rule.table_id or (self.vrf_table(rule.vrf) if rule.vrf else _MAIN)
            if rule.vrf and table:
                table_vrf.setdefault(table, rule.vrf)
        out = []
        for key, (_attrs, installed) in self._tracked.items():
            if isinstance(key, int):
                prefix, rd, vrf = key, b"", ""
            else:
                prefix, rd, vrf = key
            _family, dst, length = _unkey(prefix)
            net = ip_network((dst, length))
            rd_text = str(RouteDistinguisher.from_bytes(rd)) if rd else ""
            for i in installed:
                gateway = IPv4Address(i.gateway) if len(i.gateway) == 4 else IPv6Address(
                    i.gateway)
                out.append(ExportedRoute(net, i.table, i.metric, gateway, i.oif, i.onlink,
                                         vrf or (table_vrf.get(i.table, "") if rd else ""),
                                         rd_text))
        out.sort(key=lambda r: (r.prefix.version, r.prefix, r.table))
        return out

