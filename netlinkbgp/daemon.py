"""The daemon: Importer -> Speaker -> Exporter wired from one :class:`DaemonConfig`.

It owns the three components, applies a new configuration by difference (SIGHUP), answers
the control calls (:mod:`netlinkbgp.control`) and stops cleanly or, with graceful restart,
leaves the routes in place for the next run. ``netlinkbgp run`` is a thin shell around it;
tests and applications can embed it directly::

    daemon = Daemon(parse_config(text))
    async with daemon:
        ...
        await daemon.reload(parse_config(new_text))
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Any

from netlinkbgp.config import DaemonConfig
from netlinkbgp.errors import ConfigError, InvalidValueError, LocalProtocolError
from netlinkbgp.export_config import ExportConfig
from netlinkbgp.exporter import Exporter
from netlinkbgp.importer import ImportConfig, Importer
from netlinkbgp.route import (
    NextHop,
    Route,
    RouteDistinguisher,
    RouteEvent,
    format_community,
    format_ext_community,
    format_large_community,
    parse_community,
    parse_large_community,
    parse_route_target,
)
from netlinkbgp.speaker import Speaker

__all__ = ["FAMILY_FILTERS", "Daemon", "ReloadResult", "jsonable", "route_json"]

log = logging.getLogger(__name__)

#: ``global rib -a`` names (as in gobgp) -> (IP version, VPN).
FAMILY_FILTERS: dict[str, tuple[int, bool]] = {
    "ipv4": (4, False), "ipv6": (6, False), "vpnv4": (4, True), "vpnv6": (6, True),
}
#: After a graceful restart, how long our kernel routes from before it are kept while the
#: peers send their tables again: RFC 4724 §4.1 suggests 360 s for the Selection_Deferral_Timer
#: of a restarting speaker waiting for its peers' End-of-RIB.
STALE_HOLD_SECONDS = 360.0
#: The ``source`` of routes added through the control socket (``global rib add``).
CONTROL_SOURCE = "control"


@dataclasses.dataclass(frozen=True, slots=True)
class ReloadResult:
    """What a reload changed.

    Attributes:
        peers_added, peers_removed, peers_changed: neighbour addresses.
        import_changed, export_changed: whether the import / export configuration differed
            (and was applied: only the difference reaches BGP or the kernel).
    """

    peers_added: tuple[str, ...] = ()
    peers_removed: tuple[str, ...] = ()
    peers_changed: tuple[str, ...] = ()
    import_changed: bool = False
    export_changed: bool = False


class _Relay:
    """The Speaker's sink for the Exporter of the moment (a reload may add or remove it;
    the Speaker keeps its subscribers for its lifetime)."""

    def __init__(self) -> None:
        self.target: Exporter | None = None

    def apply(self, events: Sequence[RouteEvent]) -> None:
        if self.target is not None:
            self.target.apply(events)


class Daemon:
    """The components of one configuration, running together.

    Args:
        config: what to run.
        restarting: this run follows a graceful stop (RFC 4724 restarting speaker): peers
            keep our routes until End-of-RIB, which is sent once the Importer has reported
            what the kernel holds (or after ``initial_routes_timeout``).
    """

    def __init__(self, config: DaemonConfig, *, restarting: bool = False) -> None:
        self.config = config
        speaker_config = config.speaker
        if restarting:
            speaker_config = dataclasses.replace(speaker_config, restarting=True)
        self.restarting = restarting
        self._purge: asyncio.Task[None] | None = None
        self.speaker = Speaker(speaker_config)
        self.importer: Importer | None = None
        self.exporter: Exporter | None = None
        self._relay = _Relay()
        self.started_at = 0.0
        self._calls: dict[str, Callable[[Mapping[str, Any]], Awaitable[Any]]] = {
            "GetNetlink": self._get_netlink,
            "GetNetlinkImportStats": self._import_stats,
            "ListNetlinkImport": self._list_import,
            "ListNetlinkExport": self._list_export,
            "ListNetlinkExportRules": self._export_rules,
            "GetNetlinkExportStats": self._export_stats,
            "FlushNetlinkExport": self._flush_export,
            "ListPeer": self._list_peer,
            "ListPath": self._list_path,
            "AddPath": self._add_path,
            "DeletePath": self._delete_path,
            "GetStats": self._get_stats,
        }

    # -- lifecycle ------------------------------------------------------------------------------

    async def __aenter__(self) -> Daemon:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start the Speaker, then the Exporter (which first removes stale routes of ours),
        then the Importer (whose routes the Speaker announces).

        Raises:
            TransportError: a socket could not be opened (port in use, no privilege...);
                whatever was started is stopped again.
        """
        self.started_at = time.time()
        await self.speaker.start()
        try:
            self.speaker.subscribe(self._relay)
            await self._start_exporter(self.config.exporter, keep_stale=self.restarting)
            if self.restarting and self.exporter is not None:
                self._purge = asyncio.create_task(self._purge_after_end_of_rib())
            await self._start_importer(self.config.importer)
        except BaseException:
            await self._shutdown(graceful=False)
            raise

    async def stop(self, graceful: bool | None = None) -> None:
        """Stop everything.

        Args:
            graceful: leave our routes in place: sessions close without NOTIFICATION (peers
                that negotiated graceful restart keep our routes) and exported kernel routes
                stay until the next run reconciles them. Otherwise peers get a Cease and our
                kernel routes are removed. ``None``: as configured
                (``[global.graceful-restart.config] enabled``).
        """
        await self._shutdown(self.config.graceful_restart if graceful is None else graceful)

    async def _purge_after_end_of_rib(self) -> None:
        """A graceful restart: our kernel routes stayed in place; once every peer has sent
        its table again (End-of-RIB), remove those no best path claimed."""
        try:
            await self.speaker.wait_end_of_rib(timeout=STALE_HOLD_SECONDS)
        except TimeoutError as exc:
            log.warning("graceful restart: %s; removing stale kernel routes now", exc)
        await self.speaker.drain()  # the Exporter has every best path there is
        if self.exporter is not None:
            removed = await self.exporter.purge_stale()
            log.info("graceful restart: End-of-RIB from every peer; %d stale kernel routes "
                     "removed", removed)

    async def _shutdown(self, graceful: bool) -> None:
        if self._purge is not None:
            self._purge.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._purge
            self._purge = None
        if self.importer is not None:
            await self.importer.stop()
            self.importer = None
        # A graceful stop detaches the Speaker's sinks first: the Exporter sees no withdrawals
        # and our kernel routes stay.
        await self.speaker.stop(graceful=graceful)
        if self.exporter is not None:
            if not graceful:
                await self.exporter.flush()
            await self.exporter.stop()
            self.exporter = None
            self._relay.target = None

    async def _start_exporter(self, config: ExportConfig | None,
                              keep_stale: bool = False) -> None:
        if config is None or not config.enabled:
            return
        exporter = Exporter(config)
        await exporter.start(keep_stale=keep_stale)
        self.exporter = exporter
        current = [RouteEvent("announce", r) for r in self.speaker.routes()]
        exporter.apply([*current, RouteEvent("end-of-rib", None)])
        self._relay.target = exporter

    async def _start_importer(self, config: ImportConfig | None) -> None:
        if config is None:
            self.speaker.initial_routes_done()
            return
        importer = Importer(config)
        await importer.start()
        self.importer = importer
        importer.subscribe(self.speaker)  # its routes, then end-of-rib: initial routes done

    # -- reload -------------------------------------------------------------------------------

    async def reload(self, new: DaemonConfig) -> ReloadResult:
        """Apply ``new`` by difference: peers added, removed or changed one by one (no other
        session touched), import lists and export rules re-evaluated with only the
        difference reaching BGP or the kernel.

        Raises:
            ConfigError: the change needs a restart (local AS, router id, listen address or
                port); nothing was changed.
        """
        old = self.config
        for key, before, after in (
            ("global.config.as", old.speaker.asn, new.speaker.asn),
            ("global.config.router-id", old.speaker.router_id, new.speaker.router_id),
            ("global.config.local-address-list", old.speaker.listen_address,
             new.speaker.listen_address),
            ("global.config.port", old.speaker.listen_port, new.speaker.listen_port),
        ):
            if before != after:
                raise ConfigError(f"changed from {before} to {after}: this needs a restart",
                                  key)
        before_peers = {p.address: p for p in old.speaker.peers}
        after_peers = {p.address: p for p in new.speaker.peers}
        removed = tuple(a for a in before_peers if a not in after_peers)
        added = tuple(a for a in after_peers if a not in before_peers)
        changed = tuple(a for a in after_peers
                        if a in before_peers and before_peers[a] != after_peers[a])
        for address in removed:
            await self.speaker.remove_peer(address)
        for address in changed:
            await self.speaker.update_peer(after_peers[address])
        for address in added:
            self.speaker.add_peer(after_peers[address])
        import_changed = old.importer != new.importer
        export_changed = old.exporter != new.exporter
        self.config = new
        if import_changed:
            await self._reload_importer(new.importer)
        if export_changed:
            await self._reload_exporter(new.exporter)
        result = ReloadResult(added, removed, changed, import_changed, export_changed)
        log.info("reloaded %s: %s", new.source, result)
        return result

    async def _reload_importer(self, config: ImportConfig | None) -> None:
        if self.importer is not None and config is not None:
            self.importer.reload(config)
            return
        if self.importer is not None:
            gone = self.importer.routes()
            await self.importer.stop()
            self.importer = None
            self.speaker.withdraw(gone)
            return
        if config is not None:
            await self._start_importer(config)

    async def _reload_exporter(self, config: ExportConfig | None) -> None:
        enabled = config is not None and config.enabled
        if self.exporter is not None and config is not None and enabled:
            await self.exporter.reload(config)
            return
        if self.exporter is not None:
            self._relay.target = None
            await self.exporter.flush()
            await self.exporter.stop()
            self.exporter = None
        if enabled:
            await self._start_exporter(config)

    # -- control calls -------------------------------------------------------------------------

    async def handle(self, method: str, params: Mapping[str, Any]) -> Any:
        """Answer one control call (see docs/cli.rst for each call's parameters and result).

        Raises:
            KeyError: no such call.
            NetlinkBGPError: the call failed (bad parameter, no such peer...).
        """
        try:
            call = self._calls[method]
        except KeyError:
            raise KeyError(f"no call {method!r}; known: {', '.join(sorted(self._calls))}"
                           ) from None
        return await call(params)

    @property
    def methods(self) -> list[str]:
        """The names of the control calls."""
        return sorted(self._calls)

    async def _get_netlink(self, params: Mapping[str, Any]) -> dict[str, Any]:
        imp, exp = self.config.importer, self.config.exporter
        return {
            "import": {
                "enabled": imp is not None,
                "vrf": imp.vrf if imp else "",
                "interfaces": list(imp.interfaces) if imp else [],
                "vrfs": [{"name": v.name, "interfaces": list(v.interfaces)}
                         for v in (imp.vrfs if imp else ()) if v.interfaces],
            },
            "export": {
                "enabled": exp is not None and exp.enabled,
                "route_protocol": exp.route_protocol if exp else 0,
                "dampening_interval": exp.dampening_interval if exp else 0,
                "rules": len(exp.rules) if exp else 0,
            },
        }

    async def _import_stats(self, params: Mapping[str, Any]) -> dict[str, Any]:
        if self.importer is None:
            return {"enabled": False}
        return {"enabled": True, **jsonable(self.importer.stats())}

    async def _list_import(self, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        routes = self.importer.routes() if self.importer is not None else []
        return [route_json(r) for r in sorted(routes, key=_route_order)]

    async def _list_export(self, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        vrf = _param(params, "vrf", str, None)
        if self.exporter is None:
            return []
        routes = self.exporter.routes()
        if vrf is not None:
            routes = [r for r in routes if r.vrf == vrf]
        routes.sort(key=lambda r: (r.vrf, r.table, r.prefix.version, r.prefix))
        return [jsonable(r) for r in routes]

    async def _export_rules(self, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        exp = self.config.exporter
        return [jsonable(rule) for rule in exp.rules] if exp is not None else []

    async def _export_stats(self, params: Mapping[str, Any]) -> dict[str, Any]:
        if self.exporter is None:
            return {"enabled": False}
        return {"enabled": True, **jsonable(self.exporter.stats())}

    async def _flush_export(self, params: Mapping[str, Any]) -> dict[str, Any]:
        if self.exporter is None:
            return {"flushed": 0}
        before = self.exporter.stats().installed
        await self.exporter.flush()
        return {"flushed": before}

    async def _list_peer(self, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        address = _param(params, "address", str, None)
        try:
            statuses = self.speaker.status(address)
        except LocalProtocolError as exc:
            raise InvalidValueError(str(exc)) from None
        return [jsonable(s) for s in statuses]

    async def _list_path(self, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        family = _param(params, "family", str, None)
        routes = self.speaker.local_routes() + self.speaker.routes()
        if family is not None:
            try:
                version, vpn = FAMILY_FILTERS[family]
            except KeyError:
                raise InvalidValueError(f"family {family!r}: one of "
                                        f"{', '.join(FAMILY_FILTERS)}") from None
            routes = [r for r in routes
                      if r.prefix.version == version and (r.rd is not None) == vpn]
        return [route_json(r) for r in sorted(routes, key=_route_order)]

    async def _add_path(self, params: Mapping[str, Any]) -> dict[str, Any]:
        route = _route_from_params(params)
        self.speaker.announce(route)
        return {"added": str(route.prefix)}

    async def _delete_path(self, params: Mapping[str, Any]) -> dict[str, Any]:
        prefix = _network(_param(params, "prefix", str))
        rd_text = _param(params, "rd", str, None)
        rd = _rd(rd_text) if rd_text else None
        self.speaker.withdraw(Route(prefix, rd=rd))
        return {"deleted": str(prefix)}

    async def _get_stats(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "uptime": time.time() - self.started_at,
            "speaker": jsonable(self.speaker.stats()),
            "import": await self._import_stats(params),
            "export": await self._export_stats(params),
            "peers": [jsonable(s) for s in self.speaker.status()],
        }


# -- parameters and JSON --------------------------------------------------------------------

_MISSING: Any = object()


def _param(params: Mapping[str, Any], name: str, kind: type, default: Any = _MISSING) -> Any:
    value = params.get(name, default)
    if value is _MISSING:
        raise InvalidValueError(f"parameter {name!r} is required")
    if value is not None and value is not default and (
            not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool)):
        raise InvalidValueError(f"parameter {name!r} must be a {kind.__name__}")
    return value


def _network(text: str) -> IPv4Network | IPv6Network:
    try:
        return ip_network(text, strict=False)
    except ValueError:
        raise InvalidValueError(f"{text!r} is not a prefix") from None


def _rd(text: str) -> RouteDistinguisher:
    try:
        return RouteDistinguisher.parse(text)
    except ValueError:
        raise InvalidValueError(f"{text!r} is not a route distinguisher") from None


def _route_from_params(params: Mapping[str, Any]) -> Route:
    """A Route from AddPath parameters: prefix (required), next_hop, med, local_pref,
    communities, large_communities, and for a VPN route rd, labels and route_targets."""
    known = {"prefix", "next_hop", "med", "local_pref", "communities", "large_communities",
             "rd", "labels", "route_targets"}
    unknown = sorted(set(params) - known)
    if unknown:
        raise InvalidValueError(f"unknown parameter {unknown[0]!r}; known: "
                                f"{', '.join(sorted(known))}")
    prefix = _network(_param(params, "prefix", str))
    hops: tuple[NextHop, ...] = ()
    if (hop := _param(params, "next_hop", str, None)) is not None:
        try:
            hops = (NextHop(ip_address(hop)),)
        except ValueError:
            raise InvalidValueError(f"next_hop {hop!r} is not an address") from None
    med = _param(params, "med", int, None)
    local_pref = _param(params, "local_pref", int, None)
    for name, number in (("med", med), ("local_pref", local_pref)):
        if number is not None and not 0 <= number <= 0xFFFFFFFF:
            raise InvalidValueError(f"{name} {number} is outside 0..4294967295")
    communities = tuple(parse_community(str(c))
                        for c in _param(params, "communities", list, []))
    large = tuple(parse_large_community(str(c))
                  for c in _param(params, "large_communities", list, []))
    rd_text = _param(params, "rd", str, None)
    labels = tuple(_param(params, "labels", list, []))
    if not all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x < 1 << 20
               for x in labels):
        raise InvalidValueError("labels are MPLS labels: integers 0..1048575")
    targets = tuple(parse_route_target(str(t)) for t in _param(params, "route_targets", list, []))
    if rd_text and not labels:
        raise InvalidValueError("a VPN route (rd) needs a label: add label N")
    return Route(prefix, hops, med=med, local_pref=local_pref, communities=communities,
                 large_communities=large, ext_communities=targets, labels=labels,
                 rd=_rd(rd_text) if rd_text else None, source=CONTROL_SOURCE)


def _route_order(route: Route) -> tuple[int, str, IPv4Network | IPv6Network | Any]:
    return (route.prefix.version, str(route.rd or ""), route.prefix)


def route_json(route: Route) -> dict[str, Any]:
    """A Route as the control calls and ``--json`` show it: text forms throughout
    (communities ``"65000:100"``, route targets ``"rt:65000:1"``)."""
    out: dict[str, Any] = {
        "prefix": str(route.prefix),
        # An interface matters for link-local next hops (fe80::1%3), not otherwise.
        "next_hops": [str(h.address) + (f"%{h.ifindex}" if h.ifindex and h.address.is_link_local
                                         else "") for h in route.next_hops],
        "origin": route.origin.name.lower(),
        "as_path": list(route.as_path),
    }
    if route.med is not None:
        out["med"] = route.med
    if route.local_pref is not None:
        out["local_pref"] = route.local_pref
    out["communities"] = [format_community(c) for c in route.communities]
    out["large_communities"] = [format_large_community(c) for c in route.large_communities]
    out["ext_communities"] = [format_ext_community(c) for c in route.ext_communities]
    if route.rd is not None:
        out["rd"] = str(route.rd)
        out["labels"] = list(route.labels)
    if route.vrf:
        out["vrf"] = route.vrf
    out["source"] = route.source
    return out


def jsonable(value: Any) -> Any:
    """A frozen value (stats, status, exported route, rule) as JSON-ready data: field names
    kept, addresses and networks as text, enums by name, bytes as hex."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, (IPv4Address, IPv6Address, IPv4Network, IPv6Network,
                          RouteDistinguisher)):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value
