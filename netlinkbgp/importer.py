"""The Importer: connected routes and host addresses of chosen interfaces, from the kernel,
as route events.

It keeps a view of the kernel (interfaces, their connected routes and their host addresses)
from one dump at start, then from netlink events, and publishes the difference between what
should be announced and what was announced, within milliseconds of the kernel's change. A
periodic resync (dump and diff) and any event-socket overrun repair whatever the events missed.

Two things are imported from an interface that is up:

* a *connected route*, what the kernel installs for an interface address: protocol kernel,
  type unicast, no gateway, an output interface, any table but ``local``;
* a *host address*, an address with prefix length 32 (IPv4) or 128 (IPv6), as the host route
  ``address/32`` or ``address/128``. The kernel installs no connected route for an IPv4 /32
  (only a ``local`` route in table 255), so without this a service VIP put on an interface
  (``ip addr add 10.1.2.3/32 dev lo``) would never be announced.

Loopback (``127.0.0.0/8``, ``::1``), IPv6 link-local (``fe80::/10``) and multicast prefixes are
never imported. An IPv6 address that is tentative (duplicate address detection still running)
or whose DAD failed is not imported, nor the connected /128 route the kernel adds for it at
once, until a later RTM_NEWADDR shows it usable. An address and a connected route that give
the same prefix give one route.

Which interfaces are imported, and where to:

* ``ImportConfig.interfaces``: names or glob patterns (``"lb*"``) whose connected routes go to
  the global table, or to ``ImportConfig.vrf`` when that is set (GoBGP's ``[netlink.import]``);
* ``ImportConfig.vrfs``: per-VRF imports (``[[vrfs]]`` with ``netlink-import``): routes of the
  VRF's interfaces carry its route distinguisher and export route targets.

An interface may match several: its routes are then imported into each (hybrid import).
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network

from netlinkbgp.aio import cancel_and_wait
from netlinkbgp.codec.constants import IfaFlag, RtmType, Rtn, Rtprot, RtTable
from netlinkbgp.codec.messages import AddressMessage, LinkMessage, Message, RouteMessage
from netlinkbgp.errors import LocalProtocolError, NetlinkBGPError
from netlinkbgp.netlink_io import DEFAULT_RCVBUF, EventSocket, NetlinkSocket, Overrun
from netlinkbgp.route import NextHop, Origin, Route, RouteDistinguisher, RouteEvent, RouteSink

__all__ = ["FIRST_VRF_LABEL", "ImportConfig", "ImportStats", "Importer", "VrfImport",
           "address_usable", "host_prefix", "is_connected"]

log = logging.getLogger(__name__)

#: Default seconds between safety-net resyncs (dump and diff); events do the real work.
DEFAULT_RESYNC_INTERVAL = 30.0
#: The first MPLS label free for allocation: 0-15 are reserved (RFC 3032 §2.1).
FIRST_VRF_LABEL = 16
_LINK_LOCAL_V6 = ip_network("fe80::/10")
_ANY4 = IPv4Address(0)
_ANY6 = IPv6Address(0)
#: Address flags (if_addr.h) of an address that may not be used: duplicate address detection
#: is running (RFC 4862 §5.4: a tentative address is not yet assigned) or found a duplicate.
#: The kernel sends a new RTM_NEWADDR when they change.
_UNUSABLE = IfaFlag.IFA_F_TENTATIVE | IfaFlag.IFA_F_DADFAILED


@dataclass(frozen=True, slots=True)
class VrfImport:
    """Connected routes and host addresses imported into one VRF.

    Attributes:
        name: the VRF's name (``Route.vrf``).
        rd: its route distinguisher, set on every route.
        export_rts: route targets (8-byte extended communities, see
            :func:`netlinkbgp.route.parse_route_target`) added to every route.
        interfaces: names or glob patterns of the interfaces to import.
        label: the MPLS label of the VRF's routes when it has an RD (a VPN NLRI carries
            one, RFC 4364 §4.3.4); one label per VRF, as GoBGP allocates it.
    """

    name: str
    rd: RouteDistinguisher | None = None
    export_rts: tuple[bytes, ...] = ()
    interfaces: tuple[str, ...] = ()
    label: int = FIRST_VRF_LABEL


@dataclass(frozen=True, slots=True)
class ImportConfig:
    """What the Importer imports.

    Attributes:
        interfaces: names or glob patterns whose connected routes and host addresses are
            imported.
        vrf: import those into this VRF (its RD and RTs come from ``vrfs``) instead of the
            global table; ``""`` is global.
        vrfs: per-VRF imports, each with its own interface list.
        resync_interval: seconds between safety-net dumps; 0 disables them.
        rcvbuf: event socket receive buffer, bytes.
    """

    interfaces: tuple[str, ...] = ()
    vrf: str = ""
    vrfs: tuple[VrfImport, ...] = ()
    resync_interval: float = DEFAULT_RESYNC_INTERVAL
    rcvbuf: int = DEFAULT_RCVBUF

    def __post_init__(self) -> None:
        if isinstance(self.interfaces, str):
            raise LocalProtocolError("ImportConfig.interfaces is a sequence of names, not a str")
        object.__setattr__(self, "interfaces", tuple(self.interfaces))
        object.__setattr__(self, "vrfs", tuple(self.vrfs))
        if self.vrf and not any(v.name == self.vrf for v in self.vrfs):
            raise LocalProtocolError(f"import vrf {self.vrf!r} is not among the configured vrfs")
        if self.resync_interval < 0:
            raise LocalProtocolError("resync_interval must not be negative")

    def targets(self) -> list[tuple[tuple[str, ...], VrfImport | None]]:
        """(interface patterns, VRF or None for global) for every import."""
        out: list[tuple[tuple[str, ...], VrfImport | None]] = []
        if self.interfaces:
            target = next((v for v in self.vrfs if v.name == self.vrf), None) if self.vrf else None
            out.append((self.interfaces, target))
        out.extend((v.interfaces, v) for v in self.vrfs if v.interfaces)
        return out


@dataclass(frozen=True, slots=True)
class ImportStats:
    """Counters of an Importer (JSON-serialisable; times are Unix seconds or None)."""

    imported: int = 0
    withdrawn: int = 0
    errors: int = 0
    resyncs: int = 0
    overruns: int = 0
    routes: int = 0
    last_import_time: float | None = None
    last_withdraw_time: float | None = None
    last_error: str = ""


@dataclass(slots=True)
class _Counters:
    imported: int = 0
    withdrawn: int = 0
    errors: int = 0
    resyncs: int = 0
    overruns: int = 0
    last_import_time: float | None = None
    last_withdraw_time: float | None = None
    last_error: str = ""


@dataclass(slots=True)
class _Link:
    name: str
    up: bool


_Prefix = IPv4Network | IPv6Network
_Key = tuple[str, _Prefix]  # (vrf, prefix)
#: A host address: (ifindex, host route of its local address, its IFA_ADDRESS prefix). The
#: last is the local address again except on point-to-point links, where it is the peer's.
_HostKey = tuple[int, _Prefix, _Prefix]


@dataclass(slots=True)
class _View:
    """What the kernel holds that matters here."""

    links: dict[int, _Link] = field(default_factory=dict)
    #: connected routes: (table, prefix, ifindex)
    connected: set[tuple[int, _Prefix, int]] = field(default_factory=set)
    #: host addresses (prefix length 32 / 128) that may be imported -> whether usable now
    hosts: dict[_HostKey, bool] = field(default_factory=dict)


def is_connected(msg: RouteMessage) -> bool:
    """Whether a route message is a connected route the Importer may import."""
    if msg.protocol != Rtprot.RTPROT_KERNEL or msg.type != Rtn.RTN_UNICAST:
        return False
    if msg.table_id == RtTable.RT_TABLE_LOCAL or msg.oif is None or msg.gateway is not None:
        return False
    prefix = msg.dst
    if prefix.is_loopback:
        return False
    return not (prefix.version == 6 and (prefix.subnet_of(_LINK_LOCAL_V6)  # type: ignore[arg-type]
                                         or prefix.is_multicast))


def host_prefix(msg: AddressMessage) -> _Prefix | None:
    """The host route an address gives the Importer, if it is a host address it may import.

    Args:
        msg: an RTM_NEWADDR / RTM_DELADDR message.

    Returns:
        ``address/32`` or ``address/128`` (the address is IFA_LOCAL, else IFA_ADDRESS) when the
        prefix length is 32 / 128 and the address is not loopback, unspecified, multicast or
        IPv6 link-local; ``None`` otherwise (shorter prefixes are imported through their
        connected route).
    """
    address = msg.address
    if address is None or msg.prefixlen != address.max_prefixlen:
        return None
    if (address.is_loopback or address.is_unspecified or address.is_multicast
            or (address.version == 6 and address.is_link_local)):
        return None
    return ip_network(address)


def address_usable(msg: AddressMessage) -> bool:
    """Whether an address is usable: neither tentative nor DAD-failed (IFA_FLAGS/ifa_flags)."""
    return not msg.all_flags & _UNUSABLE


class Importer:
    """Connected routes and host addresses of matching interfaces, published as
    :class:`RouteEvent` batches.

    Args:
        config: what to import.

    Use as ``async with Importer(config) as importer:`` (or :meth:`start` / :meth:`stop`).
    Subscribers (:meth:`subscribe`) get every change through ``apply``; one subscribed after
    the start first gets the current routes and an ``end-of-rib`` event.
    """

    def __init__(self, config: ImportConfig) -> None:
        self._config = config
        self._sinks: list[RouteSink] = []
        self._view = _View()
        self._announced: dict[_Key, Route] = {}
        self._counters = _Counters()
        self._nl: NetlinkSocket | None = None
        self._events: EventSocket | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._synced = asyncio.Event()

    # -- lifecycle ------------------------------------------------------------------------------

    async def __aenter__(self) -> Importer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Open the sockets, import what is there now, then follow events.

        Raises:
            TransportError: the netlink sockets could not be opened.
        """
        if self._nl is not None:
            raise LocalProtocolError("the Importer is already started")
        # Subscribe to events before the dump, so nothing between the two is missed.
        self._events = EventSocket(rcvbuf=self._config.rcvbuf)
        self._nl = NetlinkSocket()
        await self.resync(count=False)
        self._publish([RouteEvent("end-of-rib", None)])
        self._synced.set()
        self._tasks.append(asyncio.create_task(self._follow(), name="importer-events"))
        if self._config.resync_interval:
            self._tasks.append(asyncio.create_task(self._periodic(), name="importer-resync"))

    async def stop(self) -> None:
        """Stop following the kernel. Announced routes are not withdrawn (the caller decides)."""
        await cancel_and_wait(self._tasks)
        self._tasks.clear()
        for sock in (self._events, self._nl):
            if sock is not None:
                sock.close()
        self._events = self._nl = None

    # -- public views ---------------------------------------------------------------------------

    def subscribe(self, sink: RouteSink) -> None:
        """Publish changes to ``sink``; if already running, give it the current state first."""
        self._sinks.append(sink)
        if self._synced.is_set():
            events = [RouteEvent("announce", r) for r in self._announced.values()]
            sink.apply([*events, RouteEvent("end-of-rib", None)])

    def routes(self) -> list[Route]:
        """The routes announced now."""
        return list(self._announced.values())

    def stats(self) -> ImportStats:
        """Counters; see :class:`ImportStats`."""
        c = self._counters
        return ImportStats(c.imported, c.withdrawn, c.errors, c.resyncs, c.overruns,
                           len(self._announced), c.last_import_time, c.last_withdraw_time,
                           c.last_error)

    def reload(self, config: ImportConfig) -> None:
        """Use new interface lists / VRFs; the difference is published at once."""
        self._config = config
        self._reconcile()

    async def resync(self, count: bool = True) -> None:
        """Dump links, addresses and routes, rebuild the view, publish the difference.

        Raises:
            TransportError: the command socket failed.
            LocalProtocolError: the Importer is not started.
        """
        if self._nl is None:
            raise LocalProtocolError("the Importer is not started")
        links = await self._nl.dump_links()
        addresses = await self._nl.dump_addresses()
        routes = await self._nl.dump_routes()
        self._view = _View()
        self._apply_kernel([*links, *addresses, *routes])
        if count:
            self._counters.resyncs += 1
        self._reconcile()

    # -- internals -------------------------------------------------------------------------------

    def _apply_kernel(self, messages: Iterable[Message]) -> None:
        view = self._view
        for msg in messages:
            if isinstance(msg, RouteMessage):
                if not is_connected(msg):
                    continue
                key = (msg.table_id, msg.dst, msg.oif or 0)
                if msg.msg_type == RtmType.RTM_NEWROUTE:
                    view.connected.add(key)
                elif msg.msg_type == RtmType.RTM_DELROUTE:
                    view.connected.discard(key)
            elif isinstance(msg, AddressMessage):
                host = host_prefix(msg)
                if host is None:
                    continue
                hkey = (msg.ifindex, host, msg.network or host)
                if msg.msg_type == RtmType.RTM_NEWADDR:
                    # Also a change of flags: DAD finished or failed.
                    view.hosts[hkey] = address_usable(msg)
                elif msg.msg_type == RtmType.RTM_DELADDR:
                    view.hosts.pop(hkey, None)
            elif isinstance(msg, LinkMessage):
                if msg.msg_type == RtmType.RTM_DELLINK:
                    view.links.pop(msg.ifindex, None)
                    view.connected = {k for k in view.connected if k[2] != msg.ifindex}
                    view.hosts = {k: v for k, v in view.hosts.items() if k[0] != msg.ifindex}
                else:
                    view.links[msg.ifindex] = _Link(msg.ifname or str(msg.ifindex), msg.up)

    def _sources(self) -> Iterator[tuple[_Prefix, int]]:
        """(prefix, ifindex) of every connected route and usable host address."""
        view = self._view
        # The kernel adds the connected /128 of an IPv6 address before announcing the address
        # (and keeps it while DAD runs), so such a route is imported only while an address it
        # belongs to is known and usable: no announce-then-withdraw of a tentative address.
        usable = {(ifindex, net) for (ifindex, _host, net), ok in view.hosts.items() if ok}
        for _table, prefix, ifindex in view.connected:
            if prefix.version == 4 or prefix.prefixlen != 128 or (ifindex, prefix) in usable:
                yield prefix, ifindex
        for (ifindex, host, _net), ok in view.hosts.items():
            if ok:
                yield host, ifindex

    def _desired(self) -> dict[_Key, Route]:
        matchers = [(patterns, vrf) for patterns, vrf in self._config.targets()]
        hops: dict[_Key, list[tuple[int, str]]] = {}
        for prefix, ifindex in self._sources():
            link = self._view.links.get(ifindex)
            if link is None or not link.up:
                continue
            for patterns, vrf in matchers:
                if any(fnmatch.fnmatchcase(link.name, p) for p in patterns):
                    entry = hops.setdefault((vrf.name if vrf else "", prefix), [])
                    # The same route in two tables, or a route and an address.
                    if (ifindex, link.name) not in entry:
                        entry.append((ifindex, link.name))
        vrfs = {v.name: v for v in self._config.vrfs}
        out: dict[_Key, Route] = {}
        for (vrf_name, prefix), interfaces in hops.items():
            interfaces.sort()
            vrf = vrfs.get(vrf_name)
            anywhere = _ANY4 if prefix.version == 4 else _ANY6
            out[(vrf_name, prefix)] = Route(
                prefix, tuple(NextHop(anywhere, index) for index, _ in interfaces),
                Origin.IGP, vrf=vrf_name, rd=vrf.rd if vrf else None,
                labels=(vrf.label,) if vrf is not None and vrf.rd is not None else (),
                ext_communities=vrf.export_rts if vrf else (),
                source=f"netlink:{interfaces[0][1]}",
            )
        return out

    def _reconcile(self) -> None:
        desired = self._desired()
        events: list[RouteEvent] = []
        for key, route in desired.items():
            if self._announced.get(key) != route:
                events.append(RouteEvent("announce", route))
        for key, route in self._announced.items():
            if key not in desired:
                events.append(RouteEvent("withdraw", route))
        if not events:
            return
        self._announced = desired
        now = time.time()
        announced = sum(e.kind == "announce" for e in events)
        if announced:
            self._counters.imported += announced
            self._counters.last_import_time = now
        if len(events) > announced:
            self._counters.withdrawn += len(events) - announced
            self._counters.last_withdraw_time = now
        self._publish(events)

    def _publish(self, events: Sequence[RouteEvent]) -> None:
        for sink in list(self._sinks):
            try:
                sink.apply(events)
            except Exception as exc:  # a sink's bug must not stop the import for the others
                self._counters.errors += 1
                self._counters.last_error = f"sink {sink!r} failed: {exc!r}"
                log.exception("route sink %r failed", sink)

    async def _follow(self) -> None:
        assert self._events is not None
        async for batch in self._events:
            try:
                # Whatever else is queued joins this batch: a reconcile looks at every route,
                # so one per datagram made a burst (ip -batch adding 1,000 addresses)
                # quadratic, seconds per hundred addresses.
                more = [] if isinstance(batch, Overrun) else self._events.drain()
                if isinstance(batch, Overrun) or isinstance(more, Overrun):
                    self._counters.overruns += 1
                    await self.resync()
                    continue
                self._apply_kernel(batch)
                self._apply_kernel(more)
                self._reconcile()
            except NetlinkBGPError as exc:
                self._counters.errors += 1
                self._counters.last_error = str(exc)
                log.warning("importer: %s", exc)

    async def _periodic(self) -> None:
        while True:
            await asyncio.sleep(self._config.resync_interval)
            try:
                await self.resync()
            except NetlinkBGPError as exc:
                self._counters.errors += 1
                self._counters.last_error = str(exc)
                log.warning("importer resync: %s", exc)
