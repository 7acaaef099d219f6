"""The Speaker's configuration, status and event values (pure: no I/O).

Everything here is a frozen value: :class:`SpeakerConfig` / :class:`PeerConfig` are what the
application gives, :class:`PeerStatus` / :class:`SpeakerStats` / :class:`PeerEvent` what it
reads back. Status and stats fields are JSON-serialisable with stable names (DESIGN §3): they
are what ``--json``, the control socket and metrics show.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from ipaddress import (
    IPv4Address,
    IPv4Network,
    IPv6Address,
    IPv6Network,
    ip_address,
    ip_network,
)
from typing import Literal

from netlinkbgp.bgp.nlri import (
    IPV4_LABELED,
    IPV4_UNICAST,
    IPV6_LABELED,
    IPV6_UNICAST,
    VPNV4,
    VPNV6,
    Family,
)
from netlinkbgp.errors import InvalidValueError, LocalProtocolError
from netlinkbgp.route import parse_community, parse_large_community

__all__ = [
    "FAMILY_NAMES",
    "PeerConfig",
    "PeerEvent",
    "PeerStatus",
    "PrefixFilter",
    "SpeakerConfig",
    "SpeakerStats",
    "family_name",
    "parse_family",
]

#: Family names as GoBGP spells them (``afi-safi-name``), used in config, status and CLI.
FAMILY_NAMES: dict[str, Family] = {
    "ipv4-unicast": IPV4_UNICAST,
    "ipv6-unicast": IPV6_UNICAST,
    "ipv4-labelled-unicast": IPV4_LABELED,
    "ipv6-labelled-unicast": IPV6_LABELED,
    "l3vpn-ipv4-unicast": VPNV4,
    "l3vpn-ipv6-unicast": VPNV6,
}
_NAMES_BY_FAMILY = {family: name for name, family in FAMILY_NAMES.items()}

#: Default hold time proposed to peers (RFC 4271 §10 suggests 90 s).
DEFAULT_HOLD_TIME = 90
#: Default Restart Time announced with graceful restart (RFC 4724 §3; 120 s is common).
DEFAULT_RESTART_TIME = 120
#: Seconds after a (re)start before End-of-RIB goes out anyway when graceful restart waits for
#: the application's initial routes (RFC 4724 §4.1 leaves the delay to the implementation;
#: it must stay below the peers' restart time, so that they do not drop our routes first).
DEFAULT_INITIAL_ROUTES_TIMEOUT = 60.0
#: Events kept for :meth:`Speaker.events` readers before the oldest are dropped.
DEFAULT_EVENT_QUEUE = 1024


def parse_family(name: str | Family) -> Family:
    """A family from its GoBGP name (``"ipv4-unicast"``, ``"l3vpn-ipv6-unicast"`` ...).

    Raises:
        InvalidValueError: the name is not a supported family.
    """
    if isinstance(name, Family):
        return name
    family = FAMILY_NAMES.get(name.strip().lower().replace("labeled", "labelled"))
    if family is None:
        raise InvalidValueError(f"unknown address family {name!r}; known: "
                                + ", ".join(FAMILY_NAMES))
    return family


def family_name(family: Family) -> str:
    """The GoBGP name of a family."""
    return _NAMES_BY_FAMILY.get(family, str(family))


Network = IPv4Network | IPv6Network


@dataclass(frozen=True, slots=True)
class PrefixFilter:
    """Accept/reject prefix lists, as davidcoles/bgp's ``Accept`` / ``Reject``.

    A list entry matches the prefix itself and every more-specific prefix inside it. A prefix
    is refused when any ``reject`` entry matches it, or when ``accept`` is not empty and no
    ``accept`` entry matches it.

    Attributes:
        accept: networks to accept (empty: accept everything not rejected).
        reject: networks to refuse.
    """

    accept: tuple[Network, ...] = ()
    reject: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, accept: Iterable[str | Network] = (),
              reject: Iterable[str | Network] = ()) -> PrefixFilter:
        """Build from text (``"10.0.0.0/8"``) or networks.

        Raises:
            InvalidValueError: an entry is not a network.
        """
        return cls(_networks(accept, "accept"), _networks(reject, "reject"))

    def __bool__(self) -> bool:
        return bool(self.accept or self.reject)

    def allows(self, prefix: Network) -> bool:
        """Whether ``prefix`` passes the filter."""
        for net in self.reject:
            if _covers(net, prefix):
                return False
        if not self.accept:
            return True
        return any(_covers(net, prefix) for net in self.accept)


def _covers(net: Network, prefix: Network) -> bool:
    return (net.version == prefix.version and prefix.prefixlen >= net.prefixlen
            and int(prefix.network_address) >> (net.max_prefixlen - net.prefixlen)
            == int(net.network_address) >> (net.max_prefixlen - net.prefixlen))


def _networks(items: Iterable[str | Network], what: str) -> tuple[Network, ...]:
    if isinstance(items, str):
        raise InvalidValueError(f"{what} is a list of prefixes, not one string")
    out: list[Network] = []
    for item in items:
        if isinstance(item, IPv4Network | IPv6Network):
            out.append(item)
            continue
        try:
            out.append(ip_network(item.strip()))
        except ValueError as exc:
            raise InvalidValueError(f"{what} entry {item!r} is not a prefix: {exc}") from None
    return tuple(out)


def _communities(values: Iterable[int | str], what: str) -> tuple[int, ...]:
    if isinstance(values, str):
        raise InvalidValueError(f"{what} is a list, not one string")
    return tuple(v if isinstance(v, int) else parse_community(v) for v in values)


def _large(values: Iterable[tuple[int, int, int] | str]) -> tuple[tuple[int, int, int], ...]:
    if isinstance(values, str):
        raise InvalidValueError("large_communities is a list, not one string")
    return tuple(v if isinstance(v, tuple) else parse_large_community(v) for v in values)


def _address(value: str | IPv4Address | IPv6Address | None, what: str,
             version: int | None = None) -> IPv4Address | IPv6Address | None:
    if value is None or value == "":
        return None
    try:
        address = ip_address(value) if isinstance(value, str) else value
    except ValueError:
        raise InvalidValueError(f"{what} {value!r} is not an IP address") from None
    if version is not None and address.version != version:
        raise InvalidValueError(f"{what} {value} is not an IPv{version} address")
    return address


@dataclass(frozen=True, slots=True)
class PeerConfig:
    """One BGP neighbour.

    Attributes:
        address: the peer's address (the session's identity).
        peer_asn: the AS the peer must announce (0 accepts any: test harnesses).
        local_asn: our AS towards this peer (default: :attr:`SpeakerConfig.asn`).
        hold_time: hold time we propose (0, or 3..65535).
        families: families to negotiate (GoBGP names or :class:`Family`); IPv4 and IPv6
            unicast by default.
        passive: never connect, only accept the peer's connection (needs a listening
            Speaker).
        port: the peer's TCP port.
        local_address: source address of our connection (and the next hop by default).
        md5_password: TCP MD5 key (RFC 2385).
        ttl_security: GTSM (RFC 5082), with ``ttl_hops`` hops allowed.
        ttl_hops: hops to the peer under GTSM.
        bind_device: interface or VRF device the connection is bound to.
        next_hop_v4: next hop we advertise for IPv4 routes (default: the route's own, else
            our address on the session; over an IPv6 session with RFC 8950, our IPv6 address).
        next_hop_v6: next hop we advertise for IPv6 routes (default: the route's own, else our
            address on the session when it is IPv6).
        next_hop_v6_link_local: link-local address sent with the IPv6 next hop (RFC 2545).
        med: MULTI_EXIT_DISC set on every route we send (replacing the route's).
        local_pref: LOCAL_PREF set on every route we send to an internal peer.
        communities: communities added to every route we send (``"65000:100"`` or ints).
        large_communities: large communities added to every route we send.
        import_filter: prefixes accepted from the peer.
        export_filter: prefixes sent to the peer.
        graceful_restart: announce graceful restart (RFC 4724): as helper we keep the peer's
            routes (marked stale) over its restart; as restarting speaker the peer keeps ours.
        restart_time: the Restart Time we announce, seconds.
        connect_retry_time: seconds between connection attempts.
        idle_hold_time: first wait before an automatic restart (doubled on each failure).
        name: a label for logs and status (default: the address).
    """

    address: str
    peer_asn: int = 0
    local_asn: int | None = None
    hold_time: int = DEFAULT_HOLD_TIME
    families: tuple[str | Family, ...] = ("ipv4-unicast", "ipv6-unicast")
    passive: bool = False
    port: int = 179
    local_address: str | None = None
    md5_password: str | None = None
    ttl_security: bool = False
    ttl_hops: int = 1
    bind_device: str | None = None
    next_hop_v4: str | None = None
    next_hop_v6: str | None = None
    next_hop_v6_link_local: str | None = None
    med: int | None = None
    local_pref: int | None = None
    communities: tuple[int | str, ...] = ()
    large_communities: tuple[tuple[int, int, int] | str, ...] = ()
    import_filter: PrefixFilter = field(default_factory=PrefixFilter)
    export_filter: PrefixFilter = field(default_factory=PrefixFilter)
    graceful_restart: bool = False
    restart_time: int = DEFAULT_RESTART_TIME
    connect_retry_time: float = 5.0
    idle_hold_time: float = 1.0
    name: str = ""

    def __post_init__(self) -> None:
        peer = _address(self.address, "peer address")
        if peer is None:
            raise InvalidValueError("a peer needs an address")
        object.__setattr__(self, "address", str(peer))
        if not 0 <= self.peer_asn <= 0xFFFFFFFF:
            raise InvalidValueError(f"peer AS {self.peer_asn} is not in 0..4294967295")
        if self.local_asn is not None and not 0 < self.local_asn <= 0xFFFFFFFF:
            raise InvalidValueError(f"local AS {self.local_asn} is not in 1..4294967295")
        if 0 < self.hold_time < 3 or not 0 <= self.hold_time <= 0xFFFF:
            raise InvalidValueError(f"hold time {self.hold_time} is not 0 or 3..65535")
        if not 0 < self.port <= 0xFFFF:
            raise InvalidValueError(f"port {self.port} is not in 1..65535")
        if isinstance(self.families, str):
            raise InvalidValueError("families is a list of names, not one string")
        families = tuple(dict.fromkeys(parse_family(f) for f in self.families))
        if not families:
            raise InvalidValueError("a peer needs at least one address family")
        object.__setattr__(self, "families", families)
        for name, version in (("local_address", None), ("next_hop_v4", 4),
                              ("next_hop_v6", 6), ("next_hop_v6_link_local", 6)):
            value = _address(getattr(self, name), name, version)
            object.__setattr__(self, name, None if value is None else str(value))
        if self.next_hop_v6_link_local and not ip_address(self.next_hop_v6_link_local) \
                .is_link_local:
            raise InvalidValueError(f"next_hop_v6_link_local {self.next_hop_v6_link_local} "
                                    "is not a link-local address")
        for name in ("med", "local_pref"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 0xFFFFFFFF:
                raise InvalidValueError(f"{name} {value} is not a 32-bit number")
        object.__setattr__(self, "communities", _communities(self.communities, "communities"))
        object.__setattr__(self, "large_communities", _large(self.large_communities))
        if self.md5_password is not None and len(self.md5_password.encode()) > 80:
            raise InvalidValueError("md5_password is longer than the kernel's 80 bytes")
        if not 0 < self.restart_time <= 4095:
            raise InvalidValueError(f"restart_time {self.restart_time} is not in 1..4095 "
                                    "(RFC 4724 §3: 12 bits)")
        if not 1 <= self.ttl_hops <= 254:
            raise InvalidValueError(f"ttl_hops {self.ttl_hops} is not in 1..254")
        if self.connect_retry_time <= 0 or self.idle_hold_time <= 0:
            raise InvalidValueError("connect_retry_time and idle_hold_time must be positive")
        if not self.name:
            object.__setattr__(self, "name", str(peer))

    @property
    def community_values(self) -> tuple[int, ...]:
        """:attr:`communities` as integers (they are normalised at construction)."""
        return tuple(c for c in self.communities if isinstance(c, int))

    @property
    def large_community_values(self) -> tuple[tuple[int, int, int], ...]:
        """:attr:`large_communities` as triples."""
        return tuple(c for c in self.large_communities if isinstance(c, tuple))

    @property
    def family_set(self) -> tuple[Family, ...]:
        """The configured families as :class:`Family` values."""
        return tuple(f for f in self.families if isinstance(f, Family))

    def session_key(self) -> tuple[object, ...]:
        """The fields whose change needs a new session (everything else applies live)."""
        return (self.peer_asn, self.local_asn, self.hold_time, self.families, self.passive,
                self.port, self.local_address, self.md5_password, self.ttl_security,
                self.ttl_hops, self.bind_device, self.graceful_restart, self.restart_time)


@dataclass(frozen=True, slots=True)
class SpeakerConfig:
    """The Speaker: our identity, where to listen, and the peers.

    Attributes:
        asn: our AS number.
        router_id: our BGP identifier (an IPv4 address).
        peers: the neighbours.
        listen_address: address to accept connections on; ``None`` (the default) does not
            listen (DESIGN §5). ``"::"`` accepts both IPv4 and IPv6.
        listen_port: the listening port (0 picks a free one: see :attr:`Speaker.listen_port`).
        restarting: we are restarting gracefully (RFC 4724 §4.1): set the Restart State bit
            and hold End-of-RIB until :meth:`Speaker.initial_routes_done` (or the timeout).
        initial_routes_timeout: seconds after which End-of-RIB goes out anyway.
        sink_batch: most events handed to a sink in one ``apply`` call.
        event_queue: bound of each :meth:`Speaker.events` reader's queue.
    """

    asn: int
    router_id: str
    peers: tuple[PeerConfig, ...] = ()
    listen_address: str | None = None
    listen_port: int = 179
    restarting: bool = False
    initial_routes_timeout: float = DEFAULT_INITIAL_ROUTES_TIMEOUT
    sink_batch: int = 1024
    event_queue: int = DEFAULT_EVENT_QUEUE

    def __post_init__(self) -> None:
        if not 0 < self.asn <= 0xFFFFFFFF:
            raise InvalidValueError(f"AS {self.asn} is not in 1..4294967295")
        router_id = _address(self.router_id, "router_id", 4)
        if router_id is None or int(router_id) == 0:
            raise InvalidValueError("router_id must be a non-zero IPv4 address")
        object.__setattr__(self, "router_id", str(router_id))
        peers = tuple(self.peers)
        addresses = [p.address for p in peers]
        duplicate = next((a for a in addresses if addresses.count(a) > 1), None)
        if duplicate is not None:
            raise InvalidValueError(f"peer {duplicate} is configured twice")
        object.__setattr__(self, "peers", peers)
        if self.listen_address is not None:
            _address(self.listen_address, "listen_address")
        if not 0 <= self.listen_port <= 0xFFFF:
            raise InvalidValueError(f"listen_port {self.listen_port} is not in 0..65535")
        if self.initial_routes_timeout <= 0 or self.sink_batch <= 0 or self.event_queue <= 0:
            raise InvalidValueError("initial_routes_timeout, sink_batch and event_queue "
                                    "must be positive")

    def peer(self, address: str) -> PeerConfig:
        """The configuration of one peer.

        Raises:
            LocalProtocolError: no such peer.
        """
        key = str(ip_address(address))
        for peer in self.peers:
            if peer.address == key:
                return peer
        raise LocalProtocolError(f"no peer {address} configured")


@dataclass(frozen=True, slots=True)
class PeerStatus:
    """One peer's state (davidcoles/bgp ``Status`` and GoBGP ``neighbor`` fields).

    Times are Unix seconds; ``None`` when it never happened.
    """

    address: str
    name: str
    state: str
    since: float
    uptime: float
    attempts: int
    connections: int
    established: int
    local_asn: int
    remote_asn: int
    local_address: str
    remote_router_id: str
    hold_time: int
    families: tuple[str, ...]
    advertised: int
    withdrawn: int
    received_prefixes: int
    accepted_prefixes: int
    stale_prefixes: int
    adj_rib_out: int
    updates_received: int
    updates_sent: int
    end_of_rib_received: tuple[str, ...]
    end_of_rib_sent: tuple[str, ...]
    last_error: str = ""
    last_error_code: int = 0
    last_error_subcode: int = 0
    last_notification_sent: bool = False
    graceful_restart: bool = False


@dataclass(frozen=True, slots=True)
class SpeakerStats:
    """Counters of the whole Speaker."""

    peers: int
    established: int
    local_routes: int
    loc_rib_routes: int
    sink_events: int
    sink_pending: int
    events_dropped: int


EventKind = Literal["state", "notification-received", "notification-sent", "end-of-rib",
                    "error", "route-refresh"]


@dataclass(frozen=True, slots=True)
class PeerEvent:
    """Something that happened to a peer (the :meth:`Speaker.events` stream).

    Attributes:
        kind: what happened.
        peer: the peer's address.
        time: Unix seconds.
        state: the session state after the event.
        old_state: for ``"state"`` events, the state before.
        code: NOTIFICATION error code (``notification-*`` and ``error`` events).
        subcode: NOTIFICATION error subcode.
        text: a readable description.
        family: for ``end-of-rib`` and ``route-refresh``, the family's name.
    """

    kind: EventKind
    peer: str
    time: float
    state: str
    old_state: str = ""
    code: int = 0
    subcode: int = 0
    text: str = ""
    family: str = ""


def family_names(families: Sequence[Family]) -> tuple[str, ...]:
    """GoBGP names of families, sorted."""
    return tuple(sorted(family_name(f) for f in families))
