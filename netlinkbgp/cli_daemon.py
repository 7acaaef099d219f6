"""``netlinkbgp run`` and the control commands shaped like ``gobgp``'s.

``run`` reads the config file, starts a :class:`~netlinkbgp.daemon.Daemon` with its control
socket (and metrics endpoint), reloads on SIGHUP and stops on SIGTERM/SIGINT. The other
commands (``netlink ...``, ``neighbor``, ``global rib``) are clients of that socket: each
makes one call and prints the result as the GoBGP netlink documents show it, or, with
``--json``, the reply itself: ``{"version": 1, "result": ...}``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from netlinkbgp.control import CONTROL_VERSION, ControlServer, call
from netlinkbgp.errors import ConfigError, InvalidValueError, NetlinkBGPError

if TYPE_CHECKING:  # the daemon's modules load only for `run` (fast start for the others)
    from netlinkbgp.config import DaemonConfig

__all__ = ["DEFAULT_CONTROL_SOCKET", "add_parsers", "control_main", "run_main"]

log = logging.getLogger("netlinkbgp")

#: ``global rib -a`` choices (``netlinkbgp.daemon.FAMILY_FILTERS`` holds what they mean).
FAMILIES = ("ipv4", "ipv6", "vpnv4", "vpnv6")

#: Where ``run`` listens and the other commands connect, unless told otherwise.
DEFAULT_CONTROL_SOCKET = "/run/netlinkbgp.sock"

NEIGHBOR_HELP = """\
examples:
  netlinkbgp neighbor                 one line per peer
  netlinkbgp neighbor 192.0.2.1       everything about one peer
"""

RIB_HELP = """\
global rib [-a ipv4|ipv6|vpnv4|vpnv6]
global rib add PREFIX [nexthop ADDR] [community C ...] [large-community L ...]
                      [med N] [local-pref N] [rd RD label N [rt RT ...]]
global rib del PREFIX [rd RD]

examples:
  netlinkbgp global rib -a ipv4
  netlinkbgp global rib add 192.0.2.10/32 community 65000:100 med 10
  netlinkbgp global rib del 192.0.2.10/32
  netlinkbgp global rib add 10.1.0.0/24 rd 65000:7 label 100 rt 65000:7 nexthop 10.0.0.1
"""


def add_parsers(sub: Any, socket_option: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``run``, ``netlink``, ``neighbor`` and ``global`` to the command parser."""
    run = sub.add_parser(
        "run", help="run the daemon from a config file",
        description="Run Importer, Speaker and Exporter as the config file says. SIGHUP "
        "reloads the file (only the difference is applied); SIGTERM stops (peers get a "
        "Cease and our kernel routes are removed, unless graceful restart is configured, "
        "in which case both stay for the next run).")
    run.add_argument("-f", "--config-file", required=True, metavar="FILE",
                     help="the TOML config file (see docs/config.rst)")
    socket_option(run)
    run.add_argument("--metrics", metavar="HOST:PORT",
                     help="serve Prometheus metrics at http://HOST:PORT/metrics")
    run.add_argument("-r", "--graceful-restart", action="store_true",
                     help="this run follows a graceful stop: peers keep our routes until "
                     "End-of-RIB, sent once the kernel's routes are imported (like gobgpd -r)")
    run.add_argument("--log-level", default="info",
                     choices=["debug", "info", "warning", "error"], help="default: info")

    netlink = sub.add_parser(
        "netlink", help="netlink import/export status (needs a running daemon)",
        description="Show the daemon's netlink import and export: `netlink`, `netlink "
        "import [stats]`, `netlink export [--vrf NAME]`, `netlink export rules|stats|flush`.")
    netlink.add_argument("what", nargs="*", metavar="import [stats] | export [rules|stats|flush]")
    netlink.add_argument("--vrf", metavar="NAME", help="netlink export: only this VRF's routes")
    _json_option(netlink)
    socket_option(netlink)

    neighbor = sub.add_parser(
        "neighbor", help="BGP neighbours (needs a running daemon)",
        description="Show the daemon's BGP neighbours.", epilog=NEIGHBOR_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    neighbor.add_argument("address", nargs="?", help="one neighbour in detail")
    _json_option(neighbor)
    socket_option(neighbor)

    glob = sub.add_parser(
        "global", help="the daemon's RIB: list, add, delete (needs a running daemon)",
        description="List the routes we announce and the best received ones; add or delete "
        "announced routes.", epilog=RIB_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    glob.add_argument("rib", choices=["rib"], help="the only object: rib")
    glob.add_argument("-a", "--address-family", choices=FAMILIES,
                      help="only this family")
    # "*", not REMAINDER: options after the words (`global rib --json`, `... add P
    # community C --control-socket S`) stay options. No attribute value starts with "-".
    glob.add_argument("args", nargs="*", metavar="add|del PREFIX ...",
                      help="announce or withdraw a route (see below)")
    _json_option(glob)
    socket_option(glob)


def _json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print the reply as JSON: {\"version\": 1, \"result\": ...}")


# -- run --------------------------------------------------------------------------------------


async def run_main(load: Callable[[], DaemonConfig], control_socket: str, metrics: str | None,
                   restarting: bool, err: TextIO) -> int:
    """Run the daemon until SIGTERM/SIGINT; SIGHUP calls ``load`` again and applies the
    difference (a broken file is reported and the running configuration stays).

    Returns:
        0 after a clean stop.

    Raises:
        ConfigError: the file is wrong at startup.
        TransportError: a socket could not be opened.
    """
    from netlinkbgp.daemon import Daemon
    from netlinkbgp.metrics import MetricsServer

    config = load()
    metrics_address = _host_port(metrics) if metrics else None
    daemon = Daemon(config, restarting=restarting)
    control = ControlServer(control_socket, daemon.handle)
    metrics_server: MetricsServer | None = None
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    reloads: set[asyncio.Task[None]] = set()

    async def reload() -> None:  # the Daemon logs what a reload changed
        try:
            await daemon.reload(load())
        except ConfigError as exc:
            log.error("reload rejected, the running configuration stays: %s", exc)
        except NetlinkBGPError as exc:
            log.error("reload failed: %s", exc)

    def on_hup() -> None:
        task = loop.create_task(reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    await daemon.start()
    try:
        await control.start()
        if metrics_address is not None:
            metrics_server = MetricsServer(*metrics_address,
                                           stats=lambda: daemon.handle("GetStats", {}))
            await metrics_server.start()
        loop.add_signal_handler(signal.SIGHUP, on_hup)
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopping.set)
        where = f", metrics on http://{metrics}/metrics" if metrics else ""
        print(f"netlinkbgp: running {config.source} (control socket {control_socket}{where})",
              file=err, flush=True)
        await stopping.wait()
    finally:
        for signum in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        for task in list(reloads):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if metrics_server is not None:
            await metrics_server.stop()
        await control.stop()
        await daemon.stop()
    print("netlinkbgp: stopped", file=err, flush=True)
    return 0


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise InvalidValueError(f"--metrics {text!r}: expected HOST:PORT, e.g. 127.0.0.1:9180")
    return host.strip("[]") or "127.0.0.1", int(port)


# -- control commands -------------------------------------------------------------------------


async def control_main(args: argparse.Namespace, control_socket: str, as_json: bool,
                       out: TextIO) -> int:
    """``netlink ...``, ``neighbor [ADDR]``, ``global rib ...``: one call, its result printed.

    Raises:
        InvalidValueError: bad arguments.
        TransportError: no daemon at the socket.
        ControlError: the daemon refused the call.
    """
    method, params, show = _plan(args)
    result = await call(control_socket, method, params)
    if as_json:
        out.write(json.dumps({"version": CONTROL_VERSION, "result": result}) + "\n")
    else:
        out.write(show(result))
    return 0


def _plan(args: argparse.Namespace) -> tuple[str, dict[str, Any], Callable[[Any], str]]:
    """The control call a command makes, and how its result is shown."""
    if args.command == "neighbor":
        params = {"address": args.address} if args.address else {}
        return "ListPeer", params, _show_peer if args.address else _show_peers
    if args.command == "global":
        return _plan_rib(args)
    what = list(args.what)
    if args.vrf is not None and what != ["export"]:
        raise InvalidValueError("--vrf goes with `netlink export`")
    plans: dict[tuple[str, ...], tuple[str, Callable[[Any], str]]] = {
        (): ("GetNetlink", _show_netlink),
        ("import",): ("GetNetlink", _show_import),
        ("import", "stats"): ("GetNetlinkImportStats", _show_import_stats),
        ("import", "routes"): ("ListNetlinkImport", _show_paths),
        ("export",): ("ListNetlinkExport", _show_export),
        ("export", "rules"): ("ListNetlinkExportRules", _show_rules),
        ("export", "stats"): ("GetNetlinkExportStats", _show_export_stats),
        ("export", "flush"): ("FlushNetlinkExport",
                              lambda r: f"Flushed {r['flushed']} exported routes\n"),
    }
    try:
        method, show = plans[tuple(what)]
    except KeyError:
        raise InvalidValueError(f"netlink {' '.join(what)}: expected one of: netlink, "
                                "netlink import [stats|routes], netlink export "
                                "[rules|stats|flush]") from None
    return method, ({"vrf": args.vrf} if args.vrf is not None else {}), show


def _plan_rib(args: argparse.Namespace) -> tuple[str, dict[str, Any], Callable[[Any], str]]:
    words = list(args.args)
    family_name = args.address_family
    if not words:
        family = {"family": family_name} if family_name else {}
        return "ListPath", family, _show_paths
    verb, rest = words[0], words[1:]
    if verb not in ("add", "del") or not rest:
        raise InvalidValueError("usage: global rib [add|del] PREFIX [attributes...]")
    params: dict[str, Any] = {"prefix": rest.pop(0)}
    lists = {"community": "communities", "large-community": "large_communities",
             "label": "labels", "rt": "route_targets"}
    singles = {"nexthop": "next_hop", "med": "med", "local-pref": "local_pref", "rd": "rd"}
    current: str | None = None
    for word in rest:
        if word in lists:
            current = lists[word]
            params.setdefault(current, [])
        elif word in singles:
            current = singles[word]
        elif current is None:
            raise InvalidValueError(f"global rib {verb}: unexpected {word!r}; attributes are "
                                    f"{', '.join([*lists, *singles])}")
        elif current == "labels":
            if not all(w.isdigit() for w in word.split(",") if w):
                raise InvalidValueError(f"label {word!r}: expected a number")
            params[current].extend(int(w) for w in word.split(",") if w)
        elif current in lists.values():
            params[current].extend(w for w in word.split(",") if w)
        else:
            if current in ("med", "local_pref"):
                if not word.isdigit():
                    raise InvalidValueError(f"{current.replace('_', '-')} {word!r}: "
                                            "expected a number")
                params[current] = int(word)
            else:
                params[current] = word
            current = None
    if verb == "del" and set(params) - {"prefix", "rd"}:
        raise InvalidValueError("global rib del takes a prefix and optionally rd RD")
    if verb == "add":
        return "AddPath", params, lambda r: f"added {r['added']}\n"
    return "DeletePath", params, lambda r: f"deleted {r['deleted']}\n"


# -- human output ------------------------------------------------------------------------------


def _when(stamp: float | None) -> str:
    if not stamp:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    days, seconds = divmod(seconds, 86400)
    text = f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    return f"{days}d {text}" if days else text


def _list(values: list[str]) -> str:
    return "[" + " ".join(values) + "]"


def _show_netlink(result: dict[str, Any]) -> str:
    imp, exp = result["import"], result["export"]
    lines = ["Netlink Status:", "", f"Import: {str(imp['enabled']).lower()}"]
    if imp["enabled"]:
        lines += [f"  VRF:        {imp['vrf'] or 'global'}",
                  f"  Interfaces: {_list(imp['interfaces'])}"]
        lines += [f"  VRF {v['name']}: {_list(v['interfaces'])}" for v in imp["vrfs"]]
    lines += ["", f"Export: {str(exp['enabled']).lower()}"]
    if exp["enabled"]:
        lines += [f"  Route protocol:     {exp['route_protocol']}",
                  f"  Dampening interval: {exp['dampening_interval']} ms",
                  f"  Rules:              {exp['rules']}",
                  "  (use 'netlinkbgp netlink export rules' to see export configuration)"]
    return "\n".join(lines) + "\n"


def _show_import(result: dict[str, Any]) -> str:
    imp = result["import"]
    if not imp["enabled"]:
        return "Netlink Import: disabled\n"
    lines = ["Netlink Import Configuration:", f"  VRF:        {imp['vrf'] or 'global'}",
             f"  Interfaces: {_list(imp['interfaces'])}"]
    for vrf in imp["vrfs"]:
        lines += [f"  VRF {vrf['name']}:", f"    Interfaces: {_list(vrf['interfaces'])}"]
    lines += ["", "Note: imported routes are announced from the global RIB",
              "      use 'netlinkbgp netlink import routes' or 'netlinkbgp global rib' to "
              "see them"]
    return "\n".join(lines) + "\n"


def _stats_block(title: str, rows: list[tuple[str, Any]]) -> str:
    width = max(len(label) for label, _ in rows) + 2
    return title + "\n" + "".join(f"  {label + ':':<{width}}{value}\n" for label, value in rows)


def _show_import_stats(s: dict[str, Any]) -> str:
    if not s.get("enabled"):
        return "Netlink Import: disabled\n"
    rows = [("Total Imported", s["imported"]), ("Total Withdrawn", s["withdrawn"]),
            ("Total Errors", s["errors"]), ("Routes Now", s["routes"]),
            ("Resyncs", s["resyncs"]), ("Overruns", s["overruns"]),
            ("Last Import", _when(s["last_import_time"])),
            ("Last Withdraw", _when(s["last_withdraw_time"]))]
    if s["last_error"]:
        rows.append(("Last Error", s["last_error"]))
    return _stats_block("Import Statistics:", rows)


def _show_export_stats(s: dict[str, Any]) -> str:
    if not s.get("enabled"):
        return "Netlink Export: disabled\n"
    rows = [("Total Exported", s["exported"]), ("Total Withdrawn", s["withdrawn"]),
            ("Total Errors", s["errors"]),
            ("Nexthop Validation Attempts", s["nexthop_validation_attempts"]),
            ("Nexthop Validation Failures", s["nexthop_validation_failures"]),
            ("Dampened Updates", s["dampened"]), ("Installed Now", s["installed"]),
            ("Last Export", _when(s["last_export_time"])),
            ("Last Withdraw", _when(s["last_withdraw_time"]))]
    if s["last_error"]:
        rows.append(("Last Error", s["last_error"]))
    return _stats_block("Export Statistics:", rows)


def _show_export(routes: list[dict[str, Any]]) -> str:
    header = f"{'Prefix':<40} {'Nexthop':<24} {'VRF':<16} {'Table ID':>8} {'Metric':>6} Flags"
    lines = [header, "-" * len(header)]
    for r in routes:
        flags = "onlink" if r["onlink"] else ""
        lines.append(f"{r['prefix']:<40} {r['gateway']:<24} {r['vrf'] or 'global':<16} "
                     f"{r['table']:>8} {r['metric']:>6} {flags}".rstrip())
    return "\n".join(lines) + "\n"


def _show_rules(rules: list[dict[str, Any]]) -> str:
    if not rules:
        return "No export rules\n"
    blocks = []
    for rule in rules:
        lines = [f"Rule: {rule['name']}", f"  VRF:              {rule['vrf'] or 'global'}",
                 f"  Table ID:         {rule['table_id'] or 'default'}",
                 f"  Metric:           {rule['metric']}",
                 f"  Validate Nexthop: {str(rule['validate_nexthop']).lower()}"]
        communities = rule["community_list"] + rule["large_community_list"]
        if not communities:
            lines.append("  Communities:      (match all routes)")
        for n, community in enumerate(communities):
            lines.append(f"  {'Communities:' if n == 0 else '':<18}{community}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def _show_peers(peers: list[dict[str, Any]]) -> str:
    header = (f"{'Peer':<28} {'AS':>10} {'Up/Down':>10} {'State':<12} "
              f"{'#Received':>10} {'Accepted':>10} {'Advertised':>10}")
    lines = [header]
    for p in peers:
        updown = _duration(p["uptime"]) if p["state"] == "Established" else "never" \
            if not p["established"] else _duration(time.time() - p["since"])
        lines.append(f"{p['address']:<28} {p['remote_asn']:>10} {updown:>10} {p['state']:<12} "
                     f"{p['received_prefixes']:>10} {p['accepted_prefixes']:>10} "
                     f"{p['adj_rib_out']:>10}")
    return "\n".join(lines) + "\n"


def _show_peer(peers: list[dict[str, Any]]) -> str:
    p = peers[0]
    rows = [
        ("BGP neighbor is", f"{p['address']}, remote AS {p['remote_asn']}"),
        ("Description", p["name"] or "-"),
        ("BGP state", f"{p['state']}, up for {_duration(p['uptime'])}" if p["state"] ==
         "Established" else p["state"]),
        ("Local AS", p["local_asn"]), ("Local address", p["local_address"] or "-"),
        ("Remote router ID", p["remote_router_id"] or "-"),
        ("Hold time", p["hold_time"]), ("Families", ", ".join(p["families"]) or "-"),
        ("Attempts / connections", f"{p['attempts']} / {p['connections']}"),
        ("Times established", p["established"]),
        ("Prefixes received", p["received_prefixes"]), ("Accepted", p["accepted_prefixes"]),
        ("Stale (GR)", p["stale_prefixes"]), ("Advertised", p["advertised"]),
        ("Withdrawn", p["withdrawn"]), ("Adj-RIB-Out", p["adj_rib_out"]),
        ("UPDATEs received / sent", f"{p['updates_received']} / {p['updates_sent']}"),
        ("End-of-RIB received", ", ".join(p["end_of_rib_received"]) or "-"),
        ("End-of-RIB sent", ", ".join(p["end_of_rib_sent"]) or "-"),
        ("Graceful restart", str(p["graceful_restart"]).lower()),
    ]
    if p["last_error"]:
        code = (f" (code {p['last_error_code']}, subcode {p['last_error_subcode']})"
                if p["last_error_code"] else "")
        rows.append(("Last error", p["last_error"] + code))
    return _stats_block(f"Neighbor {p['address']}:", rows)


def _show_paths(routes: list[dict[str, Any]]) -> str:
    header = f"   {'Network':<24} {'Next Hop':<24} {'AS_PATH':<20} Attrs"
    lines = [header]
    for r in routes:
        network = (f"{r['rd']}:" if "rd" in r else "") + r["prefix"]
        attrs = [f"Origin: {r['origin'][0]}"]
        if "med" in r:
            attrs.append(f"Med: {r['med']}")
        if "local_pref" in r:
            attrs.append(f"LocalPref: {r['local_pref']}")
        for key, label in (("communities", "Communities"), ("large_communities", "LargeCommunity"),
                           ("ext_communities", "Extcomms")):
            if r[key]:
                attrs.append(f"{label}: {', '.join(r[key])}")
        attrs.append(f"Source: {r['source'] or '-'}")
        hop = ", ".join(r["next_hops"]) or ("0.0.0.0" if ":" not in r["prefix"] else "::")
        path = " ".join(str(a) for a in r["as_path"])
        braced = ", ".join("{" + a + "}" for a in attrs)
        lines.append(f"*> {network:<24} {hop:<24} {path:<20} [{braced}]")
    return "\n".join(lines) + "\n"

