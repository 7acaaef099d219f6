"""The Exporter's view of the kernel's routing tables, for next-hop validation (DESIGN §6).

The kernel's RTM_GETROUTE follows the policy rules and cannot be pinned to one table, so the
Exporter keeps its own copy of every table it validates against (from a dump, then kept current
from route events) and does the longest-prefix match itself. Routes of the Exporter's own
protocol are left out: a next hop is never validated through a route we installed.

A next hop is *valid* in a table when its longest match there is a directly connected unicast
route (no gateway: the kernel itself accepts a gateway only when a link-scope route covers it),
on an interface that is up; an IPv6 link-local next hop is valid when its interface is up.
Results are cached per table; a route event in a table clears that table's cache, a link event
clears all of them.
"""

from __future__ import annotations

from collections.abc import Iterable

from netlinkbgp.codec.constants import AF_INET, Rtn, RtTable
from netlinkbgp.codec.messages import RouteMessage

__all__ = ["NextHopCache", "TableView"]

_UNICAST = int(Rtn.RTN_UNICAST)
_MAIN = int(RtTable.RT_TABLE_MAIN)
#: What a route of a table view records: (rtm_type, oif, has a gateway).
_Hop = tuple[int, int, bool]


class TableView:
    """The routes of one kernel table (both families) for longest-prefix match.

    Args:
        table: the table id.
    """

    __slots__ = ("_lengths", "_nets", "table")

    def __init__(self, table: int) -> None:
        self.table = table
        #: (version, prefix length) -> {network as int: {metric: hop}}.
        self._nets: dict[tuple[int, int], dict[int, dict[int, _Hop]]] = {}
        #: Prefix lengths present per version, longest first.
        self._lengths: dict[int, list[int]] = {4: [], 6: []}

    def __len__(self) -> int:
        return sum(len(nets) for nets in self._nets.values())

    @staticmethod
    def _identity(msg: RouteMessage) -> tuple[int, int, int, int]:
        version = 4 if msg.family == AF_INET else 6
        net = msg.dst
        return version, net.prefixlen, int(net.network_address), msg.priority or 0

    def update(self, msg: RouteMessage, present: bool) -> None:
        """Record a route (``present``) or forget it."""
        version, length, network, metric = self._identity(msg)
        nets = self._nets.get((version, length))
        if present:
            oif = msg.oif or 0
            gateway = msg.gateway is not None
            hops = msg.multipath
            if hops:
                oif = hops[0].ifindex
                gateway = bool(hops[0].attrs)
            if nets is None:
                nets = self._nets[(version, length)] = {}
                lengths = self._lengths[version]
                lengths.append(length)
                lengths.sort(reverse=True)
            nets.setdefault(network, {})[metric] = (msg.type, oif, gateway)
        elif nets is not None:
            metrics = nets.get(network)
            if metrics is not None:
                metrics.pop(metric, None)
                if not metrics:
                    del nets[network]
                if not nets:
                    del self._nets[(version, length)]
                    self._lengths[version].remove(length)

    def lookup(self, version: int, address: int) -> _Hop | None:
        """The best route (longest prefix, then lowest metric) for an address, or ``None``."""
        bits = 32 if version == 4 else 128
        nets = self._nets
        for length in self._lengths[version]:
            network = (address >> (bits - length)) << (bits - length)
            metrics = nets[(version, length)].get(network)
            if metrics:
                return metrics[min(metrics)]
        return None


class NextHopCache:
    """Next-hop validation and device lookup over table views, cached per table.

    Args:
        tables: the tables to keep a view of (the main table is always kept: it is where a
            device is looked for when a numbered table has no route to an ONLINK next hop).
    """

    def __init__(self, tables: Iterable[int] = ()) -> None:
        self.views: dict[int, TableView] = {}
        #: ifindex -> up, for every link seen.
        self.links: dict[int, bool] = {}
        self._cache: dict[int, dict[tuple[bytes, int, bool], tuple[int, bool] | None]] = {}
        self.set_tables(tables)

    def set_tables(self, tables: Iterable[int]) -> list[int]:
        """Keep views of exactly these tables (and main); returns the ones that are new (to be
        filled from a dump)."""
        wanted = set(tables) | {_MAIN}
        for table in list(self.views):
            if table not in wanted:
                del self.views[table]
                self._cache.pop(table, None)
        new = [t for t in sorted(wanted) if t not in self.views]
        for table in new:
            self.views[table] = TableView(table)
            self._cache[table] = {}
        return new

    def load(self, table: int, routes: Iterable[RouteMessage], protocol: int) -> None:
        """Replace a table's view with a dump's routes (those of ``protocol`` are skipped)."""
        view = self.views[table] = TableView(table)
        for msg in routes:
            if msg.protocol != protocol:
                view.update(msg, True)
        self._cache[table] = {}

    def route_event(self, msg: RouteMessage, present: bool) -> bool:
        """Apply a route event; returns whether a viewed table changed (its cache is cleared)."""
        table = msg.table_id
        view = self.views.get(table)
        if view is None:
            return False
        view.update(msg, present)
        if table == _MAIN:
            self.clear()  # unvalidated next hops of every table look for a device in main
        else:
            self._cache[table] = {}
        return True

    def link_event(self, ifindex: int, up: bool | None) -> None:
        """Record a link's state (``None``: it was deleted); clears every cache."""
        if up is None:
            self.links.pop(ifindex, None)
        else:
            self.links[ifindex] = up
        for table in self._cache:
            self._cache[table] = {}

    def clear(self) -> None:
        """Forget every cached result."""
        for table in self._cache:
            self._cache[table] = {}

    def resolve(
        self, table: int, gateway: bytes, ifindex: int, validate: bool, fallback_oif: int = 0
    ) -> tuple[int, bool] | None:
        """Where a route of ``table`` via ``gateway`` goes, or ``None`` when it cannot.

        Args:
            table: the table the route is for (validation is scoped to it).
            gateway: the packed next-hop address (4 or 16 bytes).
            ifindex: the next hop's interface when known (IPv6 link-local), else 0.
            validate: when true, the next hop must be reachable in ``table``; when false,
                any device that reaches it will do and the route is installed ONLINK.
            fallback_oif: device to use ONLINK when no route reaches the next hop (a VRF's
                device), 0 for none.

        Returns:
            ``(oif, onlink)``, or ``None``: unreachable (validating) or no device found.
        """
        cache = self._cache.get(table)
        if cache is None:
            cache = self._cache[table] = {}
        key = (gateway, ifindex, validate)
        try:
            return cache[key]
        except KeyError:
            pass
        result = self._resolve(table, gateway, ifindex, validate, fallback_oif)
        cache[key] = result
        return result

    def _resolve(
        self, table: int, gateway: bytes, ifindex: int, validate: bool, fallback_oif: int
    ) -> tuple[int, bool] | None:
        version = 4 if len(gateway) == 4 else 6
        address = int.from_bytes(gateway, "big")
        link_local = version == 6 and gateway[0] == 0xFE and (gateway[1] & 0xC0) == 0x80
        if link_local:
            # fe80::/10 is on every link: only the interface says where (RFC 4291 §2.5.6).
            if ifindex and self.links.get(ifindex, not validate):
                return ifindex, False
            return None
        view = self.views.get(table)
        hop = view.lookup(version, address) if view is not None else None
        if validate:
            if hop is None or hop[0] != _UNICAST or hop[2] or not hop[1]:
                return None
            if not self.links.get(hop[1], True):
                return None
            return (ifindex or hop[1]), False
        if ifindex:
            return ifindex, True
        if hop is None and table != _MAIN:
            main = self.views.get(_MAIN)
            hop = main.lookup(version, address) if main is not None else None
        if hop is not None and hop[0] == _UNICAST and hop[1]:
            return hop[1], True
        if fallback_oif:
            return fallback_oif, True
        return None
