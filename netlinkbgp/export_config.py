"""The Exporter's configuration and reporting values (DESIGN §6): frozen, JSON-friendly.

``[netlink.export]`` maps onto :class:`ExportConfig`, each ``[[netlink.export.rules]]`` onto an
:class:`ExportRule`; the CLI's config loader builds them, the Exporter only reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

from netlinkbgp.errors import LocalProtocolError
from netlinkbgp.route import parse_community, parse_large_community, parse_route_target

__all__ = ["ExportConfig", "ExportRule", "ExportStats", "ExportVrf", "ExportedRoute"]

_U32 = 0xFFFFFFFF


# -- configuration --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExportRule:
    """One ``[[netlink.export.rules]]`` entry.

    Attributes:
        name: a label (shown in listings and errors).
        community_list: communities, ``"65000:100"`` or decimal ``"4259905636"``.
        large_community_list: large communities, ``"65000:1:100"``.
        vrf: the VRF whose routes this rule exports (``""``: global routes). VPN routes reach a
            VRF when their route targets match the VRF's import list.
        table_id: target table; 0 means the VRF's table, or main (254) for global rules.
        metric: the route's metric (RTA_PRIORITY).
        validate_nexthop: install only when the next hop is reachable in the target table;
            when false, install ONLINK on the device that reaches the next hop.

    Raises:
        InvalidValueError: a community does not parse.
    """

    name: str
    community_list: tuple[str, ...] = ()
    large_community_list: tuple[str, ...] = ()
    vrf: str = ""
    table_id: int = 0
    metric: int = 20
    validate_nexthop: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "community_list", tuple(self.community_list))
        object.__setattr__(self, "large_community_list", tuple(self.large_community_list))
        for text in self.community_list:
            parse_community(text)
        for text in self.large_community_list:
            parse_large_community(text)
        if not 0 <= self.table_id <= _U32 or not 0 <= self.metric <= _U32:
            raise LocalProtocolError(f"export rule {self.name!r}: table or metric out of range")


@dataclass(frozen=True, slots=True)
class ExportVrf:
    """A VRF the Exporter knows by name (``[[vrfs]]``).

    Attributes:
        name: the VRF name (also the name of its kernel device, when there is one).
        table_id: its table when no kernel VRF device says otherwise (0: unknown).
        import_route_targets: VPN routes carrying any of these route targets belong to it.

    Raises:
        InvalidValueError: a route target does not parse.
    """

    name: str
    table_id: int = 0
    import_route_targets: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "import_route_targets", tuple(self.import_route_targets))
        for text in self.import_route_targets:
            parse_route_target(text)


@dataclass(frozen=True, slots=True)
class ExportConfig:
    """``[netlink.export]``.

    Attributes:
        enabled: when false, ``start`` does nothing and events are ignored.
        route_protocol: ``rtm_protocol`` of our routes (186 = BGP in rt_protos).
        dampening_interval: milliseconds during which changes are collected and coalesced
            (latest state per prefix wins); 0 applies every change at once.
        rules: the export rules.
        vrfs: known VRFs (name -> table, import route targets).
        state_file: where to record what we installed (JSON); when set, startup cleanup
            removes only recorded routes, so another daemon using the same protocol number is
            never harmed.
        event_rcvbuf: receive buffer of the event socket, in bytes (0: the socket's default,
            ``netlink_io.DEFAULT_RCVBUF``).
    """

    enabled: bool = True
    route_protocol: int = 186
    dampening_interval: int = 100
    rules: tuple[ExportRule, ...] = ()
    vrfs: tuple[ExportVrf, ...] = ()
    state_file: str | None = None
    event_rcvbuf: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "rules", tuple(self.rules))
        object.__setattr__(self, "vrfs", tuple(self.vrfs))
        if not 0 < self.route_protocol <= 255:
            raise LocalProtocolError(f"route-protocol {self.route_protocol} is outside 1..255")
        if self.dampening_interval < 0:
            raise LocalProtocolError("dampening-interval must not be negative")


@dataclass(frozen=True, slots=True)
class ExportStats:
    """Counters of an Exporter (stable, JSON-serialisable field names).

    Attributes:
        exported: routes installed or replaced in a table.
        withdrawn: routes deleted from a table.
        errors: kernel requests that failed (a route with no device for its next hop is
            simply not installed, and not counted here).
        nexthop_validation_attempts: next-hop checks made (cache hits included).
        nexthop_validation_failures: checks that found the next hop unreachable.
        dampened: changes superseded by a later change within the dampening interval.
        resyncs: full resynchronisations (startup, overruns).
        tracked: best paths known; installed: (route, table) pairs installed.
        last_export_time, last_withdraw_time: UNIX time of the last install / delete.
        last_error: text of the last error, ``""`` when none.
    """

    exported: int = 0
    withdrawn: int = 0
    errors: int = 0
    nexthop_validation_attempts: int = 0
    nexthop_validation_failures: int = 0
    dampened: int = 0
    resyncs: int = 0
    tracked: int = 0
    installed: int = 0
    last_export_time: float | None = None
    last_withdraw_time: float | None = None
    last_error: str = ""


@dataclass(frozen=True, slots=True)
class ExportedRoute:
    """One route as installed by the Exporter (what ``routes()`` lists).

    Attributes:
        prefix: the destination; table, metric: where and with which metric;
        gateway: the next hop; oif: the outgoing interface (0: the kernel chose);
        onlink: installed ONLINK; vrf: the VRF of the route (``""`` for global);
        rd: its route distinguisher, for VPN routes.
    """

    prefix: IPv4Network | IPv6Network
    table: int
    metric: int
    gateway: IPv4Address | IPv6Address
    oif: int = 0
    onlink: bool = False
    vrf: str = ""
    rd: str = ""


