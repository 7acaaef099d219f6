"""``netlinkbgp announce``: one BGP session from a shell script.

Establish a session with one peer, announce the prefixes, stay until SIGINT/SIGTERM or
``--for SECONDS``, withdraw them, close the session, and exit with a status that says what
happened: 0 announced and withdrawn cleanly; 4 the session could not be established (the
reason goes to standard error: connection refused, NOTIFICATION received with its
code/subcode...); 5 the session was lost while the routes were announced; 2 bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import signal
from ipaddress import ip_address, ip_network
from typing import TYPE_CHECKING, TextIO

from netlinkbgp.errors import InvalidValueError

if TYPE_CHECKING:
    from netlinkbgp.route import Route
    from netlinkbgp.speaker import Speaker
    from netlinkbgp.speaker_config import PeerEvent, SpeakerConfig

__all__ = ["ANNOUNCE_HELP", "EXIT_LOST", "EXIT_NOT_ESTABLISHED", "add_parser", "announce_main"]

#: The session never reached Established within ``--connect-timeout``.
EXIT_NOT_ESTABLISHED = 4
#: The session went down while the routes were announced.
EXIT_LOST = 5

ANNOUNCE_HELP = """\
exit status: 0 announced and withdrawn cleanly; 4 not established; 5 the session was
lost while announcing (for 4 and 5 the reason goes to standard error); 2 bad usage.

examples:
  netlinkbgp announce 192.0.2.10/32 --peer 10.0.0.1 --local-as 65001 --peer-as 65000
  netlinkbgp announce 2001:db8::10/128 --peer 2001:db8::1 --local-as 65001 --peer-as 65000 \\
      --community 65001:100 --for 60 --json
"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``announce`` command to the CLI's subparsers."""
    p = sub.add_parser(
        "announce", help="announce prefixes to one BGP peer until interrupted",
        description="Establish one BGP session, announce PREFIX..., stay until SIGINT/SIGTERM "
        "or --for SECONDS, then withdraw and exit.",
        epilog=ANNOUNCE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("prefixes", nargs="+", metavar="PREFIX", help="prefixes to announce")
    p.add_argument("--peer", required=True, help="the peer's address")
    p.add_argument("--local-as", type=int, required=True, help="our AS number")
    p.add_argument("--peer-as", type=int, required=True, help="the peer's AS number")
    p.add_argument("--router-id", help="our BGP identifier (default: --local-address, or "
                   "the local IPv4 address of the connection... 10.255.255.254 otherwise)")
    p.add_argument("--local-address", help="source address of the session")
    p.add_argument("--next-hop", help="next hop to announce (default: our session address)")
    p.add_argument("--community", action="append", default=[], metavar="A:B",
                   help="community to attach (repeatable)")
    p.add_argument("--large-community", action="append", default=[], metavar="A:B:C",
                   help="large community to attach (repeatable)")
    p.add_argument("--med", type=int, help="MULTI_EXIT_DISC to attach")
    p.add_argument("--local-pref", type=int, help="LOCAL_PREF (internal peers)")
    p.add_argument("--hold-time", type=int, default=90, help="hold time to propose (90)")
    p.add_argument("--md5-password", help="TCP MD5 password (RFC 2385)")
    p.add_argument("--passive", action="store_true",
                   help="wait for the peer to connect (listen on --listen-address)")
    p.add_argument("--listen-address", default="::", help="with --passive (default ::)")
    p.add_argument("--port", type=int, default=179, help="the peer's port, or with --passive "
                   "our listening port (179)")
    p.add_argument("--for", dest="duration", type=float, metavar="SECONDS",
                   help="withdraw and exit after this long (default: until interrupted)")
    p.add_argument("--connect-timeout", type=float, default=30.0,
                   help="give up when not established after this long (30 s)")
    p.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                   help="machine-readable output (one JSON object per line)")


def _routes(args: argparse.Namespace) -> list[Route]:
    # The BGP side is imported when a command needs it, not when the CLI starts: `route`
    # commands run as short processes, timed against `ip -batch` start-up included.
    from netlinkbgp.route import NextHop, Route, parse_community, parse_large_community

    try:
        communities = tuple(parse_community(c) for c in args.community)
        large = tuple(parse_large_community(c) for c in args.large_community)
        hops = (NextHop(ip_address(args.next_hop)),) if args.next_hop else ()
        return [Route(ip_network(p, strict=True), next_hops=hops, med=args.med,
                      local_pref=args.local_pref, communities=communities,
                      large_communities=large) for p in args.prefixes]
    except ValueError as exc:
        raise InvalidValueError(str(exc)) from None


def _config(args: argparse.Namespace) -> SpeakerConfig:
    from netlinkbgp.speaker_config import PeerConfig, SpeakerConfig

    peer_address = str(ip_address(args.peer))
    router_id = args.router_id
    if router_id is None:
        candidate = args.local_address or ""
        router_id = candidate if ":" not in candidate and candidate else "10.255.255.254"
    peer = PeerConfig(peer_address, args.peer_as, hold_time=args.hold_time,
                      passive=args.passive, port=179 if args.passive else args.port,
                      local_address=args.local_address, md5_password=args.md5_password,
                      connect_retry_time=5.0)
    return SpeakerConfig(args.local_as, router_id, peers=(peer,),
                         listen_address=args.listen_address if args.passive else None,
                         listen_port=args.port if args.passive else 179)


async def announce_main(args: argparse.Namespace, as_json: bool, out: TextIO,
                        err: TextIO) -> int:
    """Run ``netlinkbgp announce``; returns the exit status.

    Progress goes to ``out`` (text, or one JSON object per line with ``--json``); when the
    session cannot be established or is lost, one readable line saying why also goes to
    ``err`` (standard error), so a shell script shows it whatever the format.
    """
    from netlinkbgp.speaker import Speaker

    routes = _routes(args)
    speaker = Speaker(_config(args))

    def say(what: str, **fields: object) -> None:
        if as_json:
            out.write(json.dumps({"event": what, **fields}, default=str) + "\n")
        else:
            text = " ".join(f"{k}={v}" for k, v in fields.items())
            out.write(f"{what}: {text}\n" if text else f"{what}\n")
        out.flush()

    def complain(text: str) -> None:
        err.write(f"netlinkbgp announce: {text}\n")
        err.flush()

    lost = asyncio.Event()
    # The last NOTIFICATION says most about why; a later failed connection attempt (the peer
    # refuses while it waits after an error) would replace it in the peer's last_error.
    notifications: list[str] = []

    def on_event(event: PeerEvent) -> None:
        if event.kind == "state" and event.old_state == "Established":
            lost.set()
        elif event.kind in ("notification-received", "notification-sent"):
            notifications[:] = [event.text]

    def why(fields: dict[str, object]) -> str:
        reasons = [*notifications, str(fields["last_error"] or "")]
        return "; then ".join(r for r in dict.fromkeys(reasons) if r) or "no answer"

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    speaker.on_event(on_event)
    await speaker.start()
    try:
        up = asyncio.ensure_future(speaker.wait_established(timeout=args.connect_timeout))
        interrupted = asyncio.ensure_future(_until(stop))
        await asyncio.wait([up, interrupted], return_when=asyncio.FIRST_COMPLETED)
        interrupted.cancel()
        problem: BaseException | None = None
        if not up.done():  # SIGINT/SIGTERM before the session came up: nothing to withdraw
            up.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await up
            reason, given_up = "interrupted before the session was established", "interrupted"
        else:
            problem = up.exception()
            if problem is not None and not isinstance(problem, TimeoutError):
                raise problem
            reason, given_up = str(problem), f"gave up after {args.connect_timeout:g} s"
        if up.cancelled() or problem is not None:
            fields = _error_fields(speaker)
            if as_json:  # in text mode the line on standard error says it all
                say("not-established", reason=reason, notification=notifications[-1:], **fields)
            complain(f"no session with {args.peer}: {why(fields)} (state {fields['state']}, "
                     f"{fields['attempts']} connection attempts; {given_up})")
            return EXIT_NOT_ESTABLISHED
        speaker.announce(routes)
        await speaker.drain()
        status = speaker.status()[0]
        say("announced", prefixes=[str(r.prefix) for r in routes], peer=status.address,
            local_address=status.local_address, hold_time=status.hold_time)
        waits = [asyncio.ensure_future(_until(stop)), asyncio.ensure_future(_until(lost))]
        if args.duration is not None:
            waits.append(asyncio.ensure_future(asyncio.sleep(args.duration)))
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for task in waits:
            task.cancel()
        if lost.is_set():
            fields = _error_fields(speaker)
            if as_json:
                say("session-lost", notification=notifications[-1:], **fields)
            complain(f"session with {args.peer} lost while announcing: {why(fields)}")
            return EXIT_LOST
        speaker.withdraw([r.prefix for r in routes])
        await speaker.drain()
        say("withdrawn", prefixes=[str(r.prefix) for r in routes])
        return 0
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(speaker.stop(), 5)


async def _until(event: asyncio.Event) -> None:
    await event.wait()


def _error_fields(speaker: Speaker) -> dict[str, object]:
    status = speaker.status()[0]
    fields = dataclasses.asdict(status)
    return {k: fields[k] for k in ("state", "last_error", "last_error_code",
                                   "last_error_subcode", "attempts")}
