"""The daemon's TOML configuration (a GoBGP-compatible subset) as frozen values.

:func:`parse_config` takes the text of a file (only ``cli.py`` reads files) and returns a
:class:`DaemonConfig`: the :class:`~netlinkbgp.speaker_config.SpeakerConfig`, the
:class:`~netlinkbgp.importer.ImportConfig` and the
:class:`~netlinkbgp.export_config.ExportConfig` the daemon wires together, plus the VRFs.

Keys are spelled as in GoBGP (``[global.config]``, ``[[neighbors]]``, ``[[vrfs]]``,
``[netlink.import]``, ``[netlink.export]``); what GoBGP has no key for lives in clearly named
extensions (``[neighbors.netlinkbgp]``, ``vrfs.config.table-id``,
``netlink.export.state-file``). ``docs/config.rst`` is the reference. Every problem -- a TOML
syntax error, an unknown key, a wrong type, a bad value, an inconsistency between sections --
raises :class:`~netlinkbgp.errors.ConfigError` naming the key (``neighbors[0].config.peer-as``)
and its line; nothing else escapes.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address, ip_address, ip_network
from typing import TypeVar

from netlinkbgp.config_locate import KeyLocator, Section, syntax_error
from netlinkbgp.errors import ConfigError, LocalProtocolError
from netlinkbgp.export_config import ExportConfig, ExportRule, ExportVrf
from netlinkbgp.importer import FIRST_VRF_LABEL, ImportConfig, VrfImport
from netlinkbgp.route import (
    RouteDistinguisher,
    parse_community,
    parse_large_community,
    parse_route_target,
)
from netlinkbgp.speaker_config import (
    DEFAULT_HOLD_TIME,
    DEFAULT_RESTART_TIME,
    PeerConfig,
    PrefixFilter,
    SpeakerConfig,
    parse_family,
)

__all__ = ["DaemonConfig", "VrfConfig", "parse_config"]

_U16 = 0xFFFF
_U32 = 0xFFFFFFFF
#: The kernel's limit on a TCP MD5 key (``TCP_MD5SIG_MAXKEYLEN``, linux/tcp.h).
_MD5_MAX = 80
#: GoBGP's ``port = -1``: do not listen.
_NO_LISTEN = -1

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class VrfConfig:
    """One ``[[vrfs]]`` entry.

    Attributes:
        name: the VRF's name (also the name of its kernel VRF device, when there is one).
        rd: its route distinguisher.
        import_route_targets: ``import-rt-list`` plus ``both-rt-list``: VPN routes carrying
            any of them belong to this VRF.
        export_route_targets: ``export-rt-list`` plus ``both-rt-list``: added to the routes
            imported into this VRF.
        table_id: its kernel table (extension ``table-id``); 0 when not configured.
        import_interfaces: ``[vrfs.netlink-import] interface-list`` when that import is
            enabled, else empty.
    """

    name: str
    rd: RouteDistinguisher
    import_route_targets: tuple[str, ...] = ()
    export_route_targets: tuple[str, ...] = ()
    table_id: int = 0
    import_interfaces: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DaemonConfig:
    """Everything the daemon runs, from one configuration file.

    Attributes:
        speaker: identity, listening and peers.
        importer: what to import from the kernel; ``None`` when nothing is imported.
        exporter: what to install into the kernel; ``None`` when export is absent or disabled.
        vrfs: the configured VRFs, in file order.
        graceful_restart: ``[global.graceful-restart.config] enabled``.
        source: where the text came from (a file name), for messages.
    """

    speaker: SpeakerConfig
    importer: ImportConfig | None
    exporter: ExportConfig | None
    vrfs: tuple[VrfConfig, ...] = ()
    graceful_restart: bool = False
    source: str = "<config>"


def parse_config(text: str, source: str = "<config>") -> DaemonConfig:
    """Parse the daemon's TOML configuration.

    Args:
        text: the file's content.
        source: its name, kept in :attr:`DaemonConfig.source`.

    Returns:
        The validated configuration.

    Raises:
        ConfigError: the text is not TOML, or a key is unknown, of the wrong type, out of
            range or inconsistent with another; ``key`` and ``line`` say which and where.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise syntax_error(str(exc), text) from None
    except RecursionError:
        raise ConfigError("not valid TOML: nested too deeply") from None
    root = Section(data, "", KeyLocator(text), ("global", "neighbors", "vrfs", "netlink"))
    try:
        return _daemon(root, source)
    except ConfigError:
        raise
    except LocalProtocolError as exc:  # a check of a config class that ours did not foresee
        raise ConfigError(str(exc)) from None


def _daemon(root: Section, source: str) -> DaemonConfig:
    glob = root.section("global", ("config", "graceful-restart"))
    gr = glob.section("graceful-restart", ("config",)).section(
        "config", ("enabled", "restart-time"))
    gr_enabled = gr.boolean("enabled", False)
    gr_time = gr.integer("restart-time", 1, 4095)
    vrfs = _vrfs(root)
    netlink = root.section("netlink", ("import", "export"))
    speaker = _speaker(root, glob, gr_enabled, gr_time)
    return DaemonConfig(
        speaker=speaker,
        importer=_importer(netlink, vrfs),
        exporter=_exporter(netlink, vrfs),
        vrfs=tuple(vrfs),
        graceful_restart=gr_enabled,
        source=source,
    )


def _checked(section: Section, name: str, parse: Callable[[str], _T], text: str,
             index: int | None = None) -> _T:
    """``parse(text)``, with a parse failure reported against key ``name`` (entry ``index``)."""
    try:
        return parse(text)
    except LocalProtocolError as exc:
        if index is None:
            raise section.error(str(exc), name) from None
        raise section.item_error(str(exc), name, index) from None


def _ip(section: Section, name: str, version: int | None = None) -> str | None:
    text = section.string(name)
    if not text:
        return None
    try:
        address = ip_address(text.strip())
    except ValueError:
        raise section.error(f"{text!r} is not an IP address", name) from None
    if version is not None and address.version != version:
        raise section.error(f"{text} is not an IPv{version} address", name)
    return str(address)


def _constructed(section: Section, build: Callable[[], _T]) -> _T:
    """Run a config class's constructor; its own checks become errors about ``section``."""
    try:
        return build()
    except LocalProtocolError as exc:
        raise section.error(str(exc)) from None


# -- [global] and [[neighbors]] ---------------------------------------------------------------

def _speaker(root: Section, glob: Section, gr_enabled: bool,
             gr_time: int | None) -> SpeakerConfig:
    config = glob.section("config", ("as", "router-id", "port", "local-address-list"))
    asn = config.required_integer("as", 1, _U32)
    router_id = config.required_string("router-id")
    try:
        rid = ip_address(router_id.strip())
    except ValueError:
        raise config.error(f"{router_id!r} is not an IPv4 address", "router-id") from None
    if not isinstance(rid, IPv4Address) or int(rid) == 0:
        raise config.error(f"{router_id} is not a non-zero IPv4 address", "router-id")
    port = config.integer("port", _NO_LISTEN, _U16)
    listen = _listen_address(config, port)
    peers: list[PeerConfig] = []
    seen: dict[str, int] = {}
    for index, neighbor in enumerate(root.sections("neighbors", _NEIGHBOR_KEYS)):
        peer = _peer(neighbor, gr_enabled, gr_time)
        if peer.address in seen:
            raise neighbor.error(f"neighbor {peer.address} is already configured as "
                                 f"neighbors[{seen[peer.address]}]",
                                 "config.neighbor-address")
        seen[peer.address] = index
        peers.append(peer)
    return _constructed(config, lambda: SpeakerConfig(
        asn=asn, router_id=str(rid), peers=tuple(peers), listen_address=listen,
        listen_port=179 if port is None or port == _NO_LISTEN else port))


def _listen_address(config: Section, port: int | None) -> str | None:
    """GoBGP listens on every address by default; we listen only when asked (DESIGN §5)."""
    addresses = config.strings("local-address-list")
    if port == _NO_LISTEN:
        if addresses:
            raise config.error("port = -1 disables listening; remove local-address-list",
                               "local-address-list")
        return None
    if not addresses:
        return None if port is None else "::"
    parsed: list[str] = []
    for index, text in enumerate(addresses):
        try:
            parsed.append(str(ip_address(text.strip())))
        except ValueError:
            raise config.item_error(f"{text!r} is not an IP address",
                                    "local-address-list", index) from None
    unique = set(parsed)
    if len(unique) == 1:
        return parsed[0]
    if unique == {"0.0.0.0", "::"}:
        return "::"  # one dual-stack socket accepts both
    raise config.error("netlinkbgp listens on one address: give one, or \"::\" for every "
                       "IPv4 and IPv6 address", "local-address-list")


_NEIGHBOR_KEYS = ("config", "timers", "transport", "ttl-security", "ebgp-multihop",
                  "afi-safis", "graceful-restart", "netlinkbgp")
_EXTENSION_KEYS = ("next-hop-ipv4", "next-hop-ipv6", "next-hop-ipv6-link-local", "med",
                   "local-pref", "community-list", "large-community-list",
                   "import-accept-list", "import-reject-list", "export-accept-list",
                   "export-reject-list")


def _peer(neighbor: Section, gr_enabled: bool, gr_time: int | None) -> PeerConfig:
    config = neighbor.section("config", ("neighbor-address", "peer-as", "local-as",
                                         "auth-password", "description"))
    config.required_string("neighbor-address")
    address = _ip(config, "neighbor-address") or ""
    peer_as = config.required_integer("peer-as", 1, _U32)
    local_as = config.integer("local-as", 1, _U32)
    password = config.string("auth-password") or None
    if password is not None and len(password.encode()) > _MD5_MAX:
        raise config.error(f"longer than the kernel's {_MD5_MAX} bytes", "auth-password")

    hold_time, connect_retry, idle_hold = _timers(neighbor)
    transport = neighbor.section("transport", ("config",)).section(
        "config", ("passive-mode", "local-address", "remote-port", "bind-interface"))
    ttl_security, ttl_hops = _ttl(neighbor)
    grc = neighbor.section("graceful-restart", ("config",)).section(
        "config", ("enabled", "restart-time"))
    restart_time = grc.integer("restart-time", 1, 4095)
    ext = neighbor.section("netlinkbgp", _EXTENSION_KEYS)
    bind = transport.string("bind-interface") or None

    def build() -> PeerConfig:
        return PeerConfig(
            address=address, peer_asn=peer_as, local_asn=local_as,
            hold_time=hold_time, families=_families(neighbor),
            passive=transport.boolean("passive-mode", False),
            port=transport.integer("remote-port", 1, _U16) or 179,
            local_address=_ip(transport, "local-address"), md5_password=password,
            ttl_security=ttl_security, ttl_hops=ttl_hops, bind_device=bind,
            next_hop_v4=_ip(ext, "next-hop-ipv4", 4), next_hop_v6=_ip(ext, "next-hop-ipv6", 6),
            next_hop_v6_link_local=_link_local(ext),
            med=ext.integer("med", 0, _U32), local_pref=ext.integer("local-pref", 0, _U32),
            communities=_community_values(ext, "community-list", parse_community),
            large_communities=_community_values(ext, "large-community-list",
                                                parse_large_community),
            import_filter=_filter(ext, "import"), export_filter=_filter(ext, "export"),
            graceful_restart=grc.boolean("enabled", gr_enabled),
            restart_time=restart_time or gr_time or DEFAULT_RESTART_TIME,
            connect_retry_time=connect_retry, idle_hold_time=idle_hold,
            name=config.string("description"))

    return _constructed(config, build)


def _timers(neighbor: Section) -> tuple[int, float, float]:
    timers = neighbor.section("timers", ("config",)).section(
        "config", ("hold-time", "keepalive-interval", "connect-retry",
                   "idle-hold-time-after-reset"))
    hold = timers.integer("hold-time", 0, _U16)
    if hold is not None and 0 < hold < 3:
        raise timers.error(f"hold time {hold} is not 0 or 3..65535 (RFC 4271 §4.2)",
                           "hold-time")
    hold = DEFAULT_HOLD_TIME if hold is None else hold
    keepalive = timers.integer("keepalive-interval", 0, _U16)
    # The session sends KEEPALIVEs every third of the negotiated hold time (RFC 4271 §10);
    # another interval cannot be honoured, so it is refused rather than ignored.
    if keepalive is not None and keepalive != hold // 3:
        raise timers.error(f"netlinkbgp keeps alive every hold-time / 3 = {hold // 3} s; "
                           "remove keepalive-interval or set it to that", "keepalive-interval")
    retry = timers.number("connect-retry")
    idle = timers.number("idle-hold-time-after-reset")
    return hold, 5.0 if retry is None else retry, 1.0 if idle is None else idle


def _ttl(neighbor: Section) -> tuple[bool, int]:
    """GTSM from ``ttl-security``; ``ebgp-multihop`` is accepted (see docs/config.rst)."""
    ttl = neighbor.section("ttl-security", ("config",)).section("config", ("enabled", "ttl-min"))
    enabled = ttl.boolean("enabled", False)
    # ttl-min is the lowest TTL accepted (GoBGP, RFC 5082 §3): 255 = directly connected.
    ttl_min = ttl.integer("ttl-min", 2, 255)
    multihop = neighbor.section("ebgp-multihop", ("config",)).section(
        "config", ("enabled", "multihop-ttl"))
    # Accepted for GoBGP files, without effect: we never lower the TTL of eBGP sessions to 1,
    # so a peer a few hops away is reachable anyway (docs/config.rst).
    multihop.integer("multihop-ttl", 1, 255)
    if enabled and multihop.boolean("enabled", False):
        raise multihop.error("ebgp-multihop and ttl-security exclude each other", "enabled")
    return enabled, 256 - (255 if ttl_min is None else ttl_min)


def _families(neighbor: Section) -> tuple[str, ...]:
    names: list[str] = []
    for entry in neighbor.sections("afi-safis", ("config", "mp-graceful-restart")):
        config = entry.section("config", ("afi-safi-name", "enabled"))
        # Accepted for GoBGP files: our graceful restart covers every negotiated family.
        entry.section("mp-graceful-restart", ("config",)).section(
            "config", ("enabled",)).boolean("enabled", False)
        name = config.required_string("afi-safi-name")
        _checked(config, "afi-safi-name", parse_family, name)
        if config.boolean("enabled", True):
            names.append(name)
    if not names:
        if neighbor.has("afi-safis"):
            raise neighbor.error("every address family is disabled", "afi-safis")
        return ("ipv4-unicast", "ipv6-unicast")
    return tuple(names)


def _link_local(ext: Section) -> str | None:
    value = _ip(ext, "next-hop-ipv6-link-local", 6)
    if value is not None and not ip_address(value).is_link_local:
        raise ext.error(f"{value} is not a link-local address", "next-hop-ipv6-link-local")
    return value


def _community_values(section: Section, name: str, parse: Callable[[str], object]) \
        -> tuple[str, ...]:
    values = section.strings(name)
    for index, text in enumerate(values):
        _checked(section, name, parse, text, index)
    return values


def _filter(ext: Section, direction: str) -> PrefixFilter:
    lists = []
    for kind in ("accept", "reject"):
        name = f"{direction}-{kind}-list"
        values = ext.strings(name)
        for index, text in enumerate(values):
            try:
                ip_network(text.strip())
            except ValueError as exc:
                raise ext.item_error(f"{text!r} is not a prefix: {exc}", name, index) from None
        lists.append(values)
    return _constructed(ext, lambda: PrefixFilter.parse(lists[0], lists[1]))


# -- [[vrfs]] -----------------------------------------------------------------------------------

def _vrfs(root: Section) -> list[VrfConfig]:
    out: list[VrfConfig] = []
    names: dict[str, int] = {}
    for index, entry in enumerate(root.sections("vrfs", ("config", "netlink-import"))):
        config = entry.section("config", ("name", "id", "rd", "import-rt-list",
                                          "export-rt-list", "both-rt-list", "table-id"))
        name = config.required_string("name")
        if name in names:
            raise config.error(f"vrf {name!r} is already configured as vrfs[{names[name]}]",
                               "name")
        names[name] = index
        config.integer("id", 0, _U32)  # GoBGP's internal VRF id: accepted, not needed
        rd = _checked(config, "rd", RouteDistinguisher.parse, config.required_string("rd"))
        both = _route_targets(config, "both-rt-list")
        table_id = config.integer("table-id", 1, _U32)
        netlink = entry.section("netlink-import", ("enabled", "interface-list"))
        interfaces = _interfaces(netlink)
        vrf = VrfConfig(
            name=name, rd=rd,
            import_route_targets=_merge(_route_targets(config, "import-rt-list"), both),
            export_route_targets=_merge(_route_targets(config, "export-rt-list"), both),
            table_id=table_id or 0,
            import_interfaces=interfaces if netlink.boolean("enabled", False) else ())
        out.append(vrf)
    return out


def _route_targets(config: Section, name: str) -> tuple[str, ...]:
    values = config.strings(name)
    for index, text in enumerate(values):
        _checked(config, name, parse_route_target, text, index)
    return values


def _merge(first: tuple[str, ...], second: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(first + second))


def _interfaces(section: Section) -> tuple[str, ...]:
    names = section.strings("interface-list")
    for index, name in enumerate(names):
        if not name.strip() or "/" in name or any(c.isspace() for c in name):
            raise section.item_error(f"{name!r} is not an interface name or pattern",
                                     "interface-list", index)
    return names


# -- [netlink] ----------------------------------------------------------------------------------

def _importer(netlink: Section, vrfs: list[VrfConfig]) -> ImportConfig | None:
    section = netlink.section("import", ("enabled", "vrf", "interface-list"))
    enabled = section.boolean("enabled", False)
    interfaces = _interfaces(section) if enabled else ()
    target = section.string("vrf")
    known = {vrf.name for vrf in vrfs}
    if target and target not in known:
        raise section.error(f"vrf {target!r} is not configured in [[vrfs]]", "vrf")
    if not interfaces and not any(vrf.import_interfaces for vrf in vrfs):
        return None
    # One label per VRF, in file order from the first unreserved one.
    imports = tuple(VrfImport(
        name=vrf.name, rd=vrf.rd,
        export_rts=tuple(parse_route_target(rt) for rt in vrf.export_route_targets),
        interfaces=vrf.import_interfaces, label=FIRST_VRF_LABEL + index)
        for index, vrf in enumerate(vrfs))
    return _constructed(section, lambda: ImportConfig(
        interfaces=interfaces, vrf=target if enabled else "", vrfs=imports))


_RULE_KEYS = ("name", "community-list", "large-community-list", "vrf", "table-id", "metric",
              "validate-nexthop")


def _exporter(netlink: Section, vrfs: list[VrfConfig]) -> ExportConfig | None:
    section = netlink.section("export", ("enabled", "dampening-interval", "route-protocol",
                                         "state-file", "rules"))
    enabled = section.boolean("enabled", False)
    damp = section.integer("dampening-interval", 0, 3_600_000)
    protocol = section.integer("route-protocol", 1, 255)
    state_file = section.string("state-file") or None
    by_name = {vrf.name: vrf for vrf in vrfs}
    rules = tuple(_rule(entry, index, by_name)
                  for index, entry in enumerate(section.sections("rules", _RULE_KEYS)))
    if not enabled:
        return None
    known = tuple(ExportVrf(vrf.name, vrf.table_id, vrf.import_route_targets)
                  for vrf in vrfs)
    return _constructed(section, lambda: ExportConfig(
        enabled=True, route_protocol=186 if protocol is None else protocol,
        dampening_interval=100 if damp is None else damp, rules=rules, vrfs=known,
        state_file=state_file))


def _rule(entry: Section, index: int, vrfs: dict[str, VrfConfig]) -> ExportRule:
    name = entry.string("name") or f"rule-{index}"
    vrf = entry.string("vrf")
    table_id = entry.integer("table-id", 0, _U32)
    if vrf:
        if vrf not in vrfs:
            raise entry.error(f"vrf {vrf!r} is not configured in [[vrfs]]", "vrf")
        if table_id == 0:
            raise entry.error("table 0 is not a table; leave table-id out to use the vrf's",
                              "table-id")
        if table_id is None and not vrfs[vrf].table_id:
            raise entry.error(f"the table of vrf {vrf!r} is unknown: set table-id here or "
                              "in its [vrfs.config]", "vrf")
    communities = _community_values(entry, "community-list", parse_community)
    large = _community_values(entry, "large-community-list", parse_large_community)
    metric = entry.integer("metric", 0, _U32)
    return _constructed(entry, lambda: ExportRule(
        name=name, community_list=communities, large_community_list=large, vrf=vrf,
        table_id=table_id or 0, metric=20 if metric is None else metric,
        validate_nexthop=entry.boolean("validate-nexthop", True)))
