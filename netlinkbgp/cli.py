"""The ``netlinkbgp`` command line.

This is the only module that reads files or the environment, or configures logging.

Exit codes: 0 success; 1 the kernel refused at least one request (each failure is reported),
or the daemon refused a control call; 2 bad usage or input (a wrong config file included);
3 a socket or namespace could not be set up (privilege or kernel feature missing), or no
daemon answers at the control socket; ``announce`` adds 4 (session not established) and 5
(session lost).
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import gc
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TextIO

from netlinkbgp import __version__
from netlinkbgp.cli_announce import add_parser as add_announce_parser
from netlinkbgp.cli_announce import announce_main
from netlinkbgp.cli_daemon import DEFAULT_CONTROL_SOCKET, add_parsers, control_main, run_main
from netlinkbgp.cli_route import (
    PROTO_NAMES,
    TABLE_NAMES,
    Names,
    format_route,
    monitor,
    parse_batch,
    parse_number,
    parse_prefix,
    route_json,
    run_commands,
    select_routes,
)
from netlinkbgp.codec.constants import RtmType
from netlinkbgp.codec.route_requests import RouteSpec
from netlinkbgp.control import ControlError
from netlinkbgp.errors import (
    ConfigError,
    InvalidValueError,
    NetlinkBGPError,
    NetlinkError,
    TransportError,
)
from netlinkbgp.netlink_io import NetlinkSocket

if TYPE_CHECKING:
    from netlinkbgp.config import DaemonConfig

__all__ = ["main"]

EXIT_OK = 0
EXIT_KERNEL = 1
EXIT_USAGE = 2
EXIT_TRANSPORT = 3

ROUTE_HELP = """\
route commands (a subset of `ip route`):
  add|del|replace PREFIX [via ADDR] [dev IFNAME] [onlink] [table ID] [metric N] [proto N]
  show [PREFIX] [table ID|all] [proto N]     (default: table main)
  flush [table ID|all] proto N               (removes only routes of that protocol)
  monitor [count N]                          (print route changes as they happen)

batch (-b FILE, or - for stdin): one add/del/replace per line, optionally prefixed by
`route`; blank lines and lines starting with # are skipped. Every line is attempted;
failures are reported with their line number and the exit code is 1.

examples:
  netlinkbgp route add 192.0.2.0/24 via 10.0.0.1 table 100 metric 20 proto bgp
  netlinkbgp route show table all --json
  netlinkbgp --netns red route -b routes.txt
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used to render docs/cli.rst)."""
    parser = argparse.ArgumentParser(
        prog="netlinkbgp",
        description="rtnetlink and BGP-4 in pure Python: kernel routes into BGP and back.",
    )
    parser.add_argument("--version", action="version", version=f"netlinkbgp {__version__}")
    parser.add_argument("--netns", metavar="NAME",
                        help="act inside the named network namespace (see `ip netns`)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    route = sub.add_parser(
        "route", help="read and write kernel routes",
        description="Read and write kernel routes through netlinkbgp's own rtnetlink codec.",
        epilog=ROUTE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    route.add_argument("-b", "--batch", metavar="FILE", help="run add/del/replace lines from FILE")
    route.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                       help="machine-readable output")
    route.add_argument("args", nargs=argparse.REMAINDER,
                       help="add|del|replace|show|flush|monitor ...")

    add_announce_parser(sub)
    add_parsers(sub, _socket_option)

    demo = sub.add_parser(
        "demo", help="show what the library does, in private network namespaces",
        description="Run a short demonstration in private network namespaces it creates "
        "(an unprivileged user namespace when not root). Nothing outside is touched.",
    )
    demo.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                      help="machine-readable output")
    return parser


#: How each kind of failure is reported: (exception, message prefix, exit code); the first
#: match wins, so subclasses come before their bases.
_FAILURES: tuple[tuple[type[NetlinkBGPError], str, int], ...] = (
    (ConfigError, "config: ", EXIT_USAGE),
    (ControlError, "the daemon said: ", EXIT_KERNEL),
    (InvalidValueError, "", EXIT_USAGE),
    (NetlinkError, "the kernel said ", EXIT_KERNEL),
    (TransportError, "", EXIT_TRANSPORT),
    (NetlinkBGPError, "", EXIT_USAGE),
)


def _socket_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--control-socket", metavar="PATH", default=argparse.SUPPRESS,
                        help="the daemon's control socket (default: $NETLINKBGP_CONTROL_SOCKET "
                        f"or {DEFAULT_CONTROL_SOCKET})")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    as_json = bool(args.json)
    if args.command != "run":
        # The library's warnings (a refused connection attempt...) as one short line each.
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                            format="netlinkbgp: %(levelname)s: %(message)s")
    try:
        if args.netns:
            from netlinkbgp.testing import enter_named_netns

            enter_named_netns(args.netns)
        if args.command == "route":
            return asyncio.run(route_main(args.args, args.batch, as_json, sys.stdout))
        if args.command == "announce":
            return asyncio.run(announce_main(args, as_json, sys.stdout, sys.stderr))
        if args.command == "demo":
            from netlinkbgp.demo import run_demo

            return run_demo(as_json, sys.stdout)
        socket_path = getattr(args, "control_socket", None) or os.environ.get(
            "NETLINKBGP_CONTROL_SOCKET") or DEFAULT_CONTROL_SOCKET
        if args.command == "run":
            _configure_logging(args.log_level)
            return asyncio.run(run_main(_config_reader(args.config_file), socket_path,
                                        args.metrics, args.graceful_restart, sys.stderr))
        if args.command in ("netlink", "neighbor", "global"):
            return asyncio.run(control_main(args, socket_path, as_json, sys.stdout))
    except NetlinkBGPError as exc:
        prefix, code = next((p, c) for kind, p, c in _FAILURES if isinstance(exc, kind))
        print(f"netlinkbgp: {prefix}{exc}", file=sys.stderr)
        return code
    except KeyboardInterrupt:
        return 130
    parser.error(f"unknown command {args.command}")
    return EXIT_USAGE  # pragma: no cover


def _config_reader(path: str) -> Callable[[], DaemonConfig]:
    """Reads and parses ``path`` each time it is called (at start, then on SIGHUP)."""

    from netlinkbgp.config import parse_config

    def load() -> DaemonConfig:
        return parse_config(_read_text(path, ConfigError, "utf-8"), path)

    return load


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level.upper()), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _read_text(path: str, error: type[NetlinkBGPError], encoding: str | None = None) -> str:
    """A file's text; a file that cannot be read or decoded raises ``error`` naming it."""
    try:
        with open(path, encoding=encoding) as handle:
            return handle.read()
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        kind = f"{encoding.upper()} text" if encoding else "text"
        raise error(f"{path} is not {kind}: {exc.reason}") from None


def _read_batch(path: str) -> list[str]:
    """The lines of a batch file (``-``: standard input)."""
    if path == "-":
        return sys.stdin.read().splitlines()
    return _read_text(path, InvalidValueError).splitlines()


async def route_main(words: list[str], batch: str | None, as_json: bool, out: TextIO) -> int:
    """``netlinkbgp route ...``."""
    if batch is not None:
        if words:
            raise InvalidValueError("-b takes no other route arguments")
        return await _route_batch(_read_batch(batch), as_json, out, single=False)
    if not words:
        raise InvalidValueError("route: expected add, del, replace, show, flush or monitor")
    if "--json" in words:  # `route show --json` as well as `route --json show`
        words = [w for w in words if w != "--json"]
        as_json = True
    verb = words[0]
    if verb in ("show", "list", "flush"):
        return await _route_show(verb, words[1:], as_json, out)
    if verb == "monitor":
        count = 0
        if len(words) == 3 and words[1] == "count":
            count = parse_number(words[2], "count")
        elif len(words) != 1:
            raise InvalidValueError("usage: route monitor [count N]")
        await monitor(count, as_json, out)
        return EXIT_OK
    return await _route_batch([" ".join(words)], as_json, out, single=True)


async def _route_batch(lines: list[str], as_json: bool, out: TextIO, single: bool) -> int:
    # A batch of 100,000 lines makes two tuples a line, none of them cyclic; the collector's
    # passes over them, triggered meanwhile, would cost a quarter of the parsing: paused.
    paused = gc.isenabled()
    gc.disable()
    try:
        async with NetlinkSocket() as nl:
            names = Names(await nl.dump_links())
            commands, bad = parse_batch(lines, names)
            if bad and single:
                raise InvalidValueError(bad[0][1])
            failures = [(n, str(e)) for n, e in await run_commands(nl, commands)]
    finally:
        if paused:
            gc.enable()
    problems = sorted(bad + failures)
    if as_json:
        total = len(commands) + len(bad)
        out.write(json.dumps({"requests": total, "ok": total - len(problems),
                              "failed": [{"line": n, "error": e} for n, e in problems]}) + "\n")
    for number, error in problems:
        where = "" if single else f"line {number}: "
        print(f"netlinkbgp: {where}{error}", file=sys.stderr)
    if bad and not failures:
        return EXIT_USAGE
    return EXIT_KERNEL if problems else EXIT_OK


async def _route_show(verb: str, words: list[str], as_json: bool, out: TextIO) -> int:
    table: int | None = int(TABLE_NAMES["main"])
    protocol: int | None = None
    prefix = None
    rest = list(words)
    while rest:
        key = rest.pop(0)
        if key in ("table", "proto", "protocol") and not rest:
            raise InvalidValueError(f"{key!r} needs a value")
        if key == "table":
            value = rest.pop(0)
            table = None if value == "all" else parse_number(value, "table", dict(TABLE_NAMES))
        elif key in ("proto", "protocol"):
            protocol = parse_number(rest.pop(0), "protocol", PROTO_NAMES, 255)
        else:
            prefix = parse_prefix(key)
    if verb == "flush" and protocol is None:
        raise InvalidValueError("flush needs `proto N`, so that other daemons' routes stay")
    async with NetlinkSocket() as nl:
        names = Names(await nl.dump_links())
        routes = select_routes(await nl.dump_routes(), table, protocol, prefix)
        if verb == "flush":
            specs = [
                RouteSpec(r.family, r.dst.network_address.packed, r.dst_len, r.table_id,
                          r.protocol, r.priority)
                for r in routes
            ]
            results = await nl.routes(RtmType.RTM_DELROUTE, specs)
            # ESRCH: gone meanwhile (another flush, the interface went down): that is done too.
            failed = [(r, e) for r, e in zip(routes, results, strict=True)
                      if e is not None and e.errno != errno.ESRCH]
            if as_json:
                out.write(json.dumps({"deleted": len(routes) - len(failed),
                                      "failed": len(failed)}) + "\n")
            else:
                out.write(f"deleted {len(routes) - len(failed)} routes\n")
            for route, error in failed:
                print(f"netlinkbgp: {format_route(route, names)}: {error}", file=sys.stderr)
            return EXIT_KERNEL if failed else EXIT_OK
    if as_json:
        out.write(json.dumps([route_json(r, names) for r in routes]) + "\n")
    else:
        for route in routes:
            out.write(format_route(route, names) + "\n")
    return EXIT_OK
