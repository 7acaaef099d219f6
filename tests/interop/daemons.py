"""Run real BIRD 2 and GoBGP in private network namespaces, for interop tests.

Test tooling, not part of the ``netlinkbgp`` package. Needs root, iproute2 (``ip netns``) and
the daemons (``bird``/``birdc``, ``gobgpd``/``gobgp``). Typical use::

    with topology("basic") as topo:
        peer = BirdPeer("ours", topo.ours_v4, 65002, local_address=topo.daemon_v4)
        with Bird(topo.ns_daemon, bird_config(65001, topo.daemon_v4, [peer])) as bird:
            result = run_in(topo.ns_ours, our_speaker_check, topo.daemon_v4)
            bird.wait_state("ours", "Established")
            assert bird.routes("master4", protocol="ours")[0]["prefix"] == "10.9.0.0/24"

Layout (addresses are the :class:`Topology` fields)::

    ns_daemon                                  ns_ours
    if_daemon 10.77.0.1/24  fd00:77::1/64  <->  if_ours 10.77.0.2/24  fd00:77::2/64
              fe80::1/64 (only link-local)               fe80::2/64

Polling a daemon's CLI with a short sleep is acceptable here (the daemons have no event API
we can wait on); every wait has a timeout and fails with the daemon's last state and the tail
of its log.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar, cast

from netlinkbgp import testing

__all__ = [
    "Bird",
    "BirdPeer",
    "BirdStatic",
    "DaemonError",
    "Gobgp",
    "GobgpPeer",
    "Topology",
    "bird_config",
    "gobgp_config",
    "run_in",
    "topology",
]

_T = TypeVar("_T")

#: How long one CLI command (``ip``, ``birdc``, ``gobgp``) may take before we give up on it:
#: each answers in milliseconds, so this only bounds a hung daemon.
COMMAND_TIMEOUT_SECONDS = 15.0
#: How long a daemon may take to answer its CLI after being started (both take well under
#: a second on a loaded 2-core VM).
START_TIMEOUT_SECONDS = 10.0
#: How long SIGTERM is given before SIGKILL (the brief: 3 s).
KILL_GRACE_SECONDS = 3.0
#: Pause between two polls of a daemon's CLI.
POLL_INTERVAL_SECONDS = 0.1
#: Lines of a daemon's log quoted in a failure message.
LOG_TAIL_LINES = 30
#: GoBGP's gRPC API port inside its namespace (its default; namespaces keep instances apart).
GOBGP_API_PORT = 50051

_unique = itertools.count()


class DaemonError(AssertionError):
    """A daemon failed to start, a CLI command failed, or a wait timed out.

    An ``AssertionError`` so pytest shows it as a test failure with the full message.
    """


def _run(argv: Sequence[str], *, check: bool = True, timeout: float = COMMAND_TIMEOUT_SECONDS,
         input_: str | None = None) -> str:
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, check=False,
                              timeout=timeout, input=input_)
    except subprocess.TimeoutExpired as exc:
        raise DaemonError(f"`{' '.join(argv)}` took longer than {timeout} s") from exc
    if check and done.returncode != 0:
        raise DaemonError(f"`{' '.join(argv)}` exited {done.returncode}: "
                          f"{(done.stderr or done.stdout).strip()}")
    return done.stdout


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log: {exc.strerror})"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


# ------------------------------------------------------------------------------------------
# Namespaces.
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Topology:
    """Two named network namespaces joined by a veth pair (see the module docstring)."""

    ns_daemon: str
    ns_ours: str
    if_daemon: str = "nlbi-d0"
    if_ours: str = "nlbi-o0"
    daemon_v4: str = "10.77.0.1"
    ours_v4: str = "10.77.0.2"
    daemon_v6: str = "fd00:77::1"
    ours_v6: str = "fd00:77::2"
    daemon_ll: str = "fe80::1"
    ours_ll: str = "fe80::2"
    prefix_len_v4: int = 24
    prefix_len_v6: int = 64

    @property
    def namespaces(self) -> tuple[str, str]:
        return (self.ns_daemon, self.ns_ours)


def _sysctls(ns: str, settings: dict[str, str]) -> None:
    _run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w",
          *(f"{key}={value}" for key, value in settings.items())])


def _wait_not_tentative(ns: str, timeout: float = START_TIMEOUT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while _run(["ip", "-n", ns, "-6", "addr", "show", "tentative"]).strip():
        if time.monotonic() > deadline:
            addrs = _run(["ip", "-n", ns, "addr"], check=False)
            raise DaemonError(f"IPv6 addresses in {ns} still tentative after {timeout} s:\n"
                              f"{addrs}")
        time.sleep(0.02)


def _kill_namespace_processes(ns: str) -> None:
    pids = [int(p) for p in _run(["ip", "netns", "pids", ns], check=False).split()]
    killed = list(pids)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + KILL_GRACE_SECONDS
    while pids and time.monotonic() < deadline:
        time.sleep(0.05)
        pids = [int(p) for p in _run(["ip", "netns", "pids", ns], check=False).split()]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    # Reap the ones that are our children (a daemon never stopped); a later Popen.poll()
    # copes with that (ECHILD).
    for pid in killed:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


def _delete_namespace(ns: str) -> None:
    if os.path.exists(os.path.join(testing.NETNS_RUN_DIR, ns)):
        _kill_namespace_processes(ns)
        _run(["ip", "netns", "del", ns], check=False)


@contextlib.contextmanager
def topology(tag: str) -> Iterator[Topology]:
    """Create the two namespaces and the veth pair; on exit kill every process in them and
    delete them (also when the body raises).

    Args:
        tag: a short word naming the test, part of the namespace names (``nlbi-TAG-PID-N-d``).

    Raises:
        DaemonError: a namespace or address could not be set up (the message has ``ip``'s
            error).
    """
    stem = f"nlbi-{tag}-{os.getpid()}-{next(_unique)}"
    topo = Topology(ns_daemon=f"{stem}-d", ns_ours=f"{stem}-o")
    try:
        for ns in topo.namespaces:
            _run(["ip", "netns", "add", ns])
            _run(["ip", "-n", ns, "link", "set", "lo", "up"])
            # No automatic link-local address and no DAD: fe80::1/fe80::2 are the only
            # link-local addresses, usable at once (BIRD sends the link-local next hop).
            _sysctls(ns, {
                "net.ipv6.conf.all.accept_dad": "0",
                "net.ipv6.conf.default.accept_dad": "0",
                "net.ipv6.conf.default.addr_gen_mode": "1",
            })
        # Created directly in the namespaces: the names never exist in the host namespace.
        _run(["ip", "link", "add", topo.if_daemon, "netns", topo.ns_daemon, "type", "veth",
              "peer", "name", topo.if_ours, "netns", topo.ns_ours])
        for ns, dev, v4, v6, ll in (
            (topo.ns_daemon, topo.if_daemon, topo.daemon_v4, topo.daemon_v6, topo.daemon_ll),
            (topo.ns_ours, topo.if_ours, topo.ours_v4, topo.ours_v6, topo.ours_ll),
        ):
            batch = (f"link set {dev} addrgenmode none\n"
                     f"addr add {v4}/{topo.prefix_len_v4} dev {dev}\n"
                     f"addr add {v6}/{topo.prefix_len_v6} dev {dev} nodad\n"
                     f"addr add {ll}/64 dev {dev} nodad\n"
                     f"link set {dev} up\n")
            _run(["ip", "-n", ns, "-batch", "-"], input_=batch)
        for ns in topo.namespaces:
            _wait_not_tentative(ns)
        yield topo
    finally:
        for ns in topo.namespaces:
            _delete_namespace(ns)


def _enter_and_call(ns: str, func: Callable[..., _T], args: tuple[Any, ...],
                    kwargs: dict[str, Any]) -> _T:
    testing.enter_named_netns(ns)
    return func(*args, **kwargs)


def run_in(ns: str, func: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """Run ``func(*args, **kwargs)`` in a forked child inside the named namespace ``ns``.

    ``func`` need not be picklable (the child is forked); its result and any exception must
    be: they come back to this process, the exception with the child's traceback as a note.
    """
    return cast(_T, testing.run_forked(_enter_and_call, ns, func, args, kwargs))


# ------------------------------------------------------------------------------------------
# Common daemon plumbing.
# ------------------------------------------------------------------------------------------


class _Daemon:
    """A background daemon in a namespace, with its files in a private temp dir."""

    label = "daemon"

    def __init__(self, ns: str, config: str) -> None:
        self.ns = ns
        self.config = config
        self.workdir = Path(tempfile.mkdtemp(prefix=f"nlbi-{self.label}-"))
        self.log_path = self.workdir / f"{self.label}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def _spawn(self, argv: Sequence[str]) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(["ip", "netns", "exec", self.ns, *argv],
                                         stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last lines of the daemon's log (stdout and stderr)."""
        return _tail(self.log_path, lines)

    def _wait_started(self, ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                numbered = "\n".join(f"{n:4} {line}"
                                     for n, line in enumerate(self.config.splitlines(), 1))
                raise DaemonError(f"{self.label} exited with {self.proc.returncode} at start; "
                                  f"log:\n{self.log_tail()}\nconfig:\n{numbered}")
            if ready():
                return
            if time.monotonic() > deadline:
                raise DaemonError(f"{self.label} did not answer its CLI within "
                                  f"{START_TIMEOUT_SECONDS} s; log:\n{self.log_tail()}")
            time.sleep(POLL_INTERVAL_SECONDS)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 3 s; removes the temp dir. Safe to call twice."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(KILL_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def start(self) -> None:
        raise NotImplementedError

    def __enter__(self: _D) -> _D:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _wait(self, what: str, current: Callable[[], str], matches: Callable[[str], bool],
              timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            state = current()
            if matches(state):
                return state
            if self.proc is not None and self.proc.poll() is not None:
                raise DaemonError(f"{self.label} exited with {self.proc.returncode} while "
                                  f"waiting for {what}; log:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise DaemonError(f"{self.label}: no {what} within {timeout} s; last state "
                                  f"{state!r}; log:\n{self.log_tail()}")
            time.sleep(POLL_INTERVAL_SECONDS)


_D = TypeVar("_D", bound=_Daemon)


# ------------------------------------------------------------------------------------------
# BIRD 2.
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BirdPeer:
    """One ``protocol bgp NAME`` block of :func:`bird_config`.

    ``export``/``import_`` are ``"all"``, ``"none"`` or a filter body (``"where net ~
    [10.0.0.0/8+]"`` or ``"filter { ...; accept; }"``), written after ``export``/``import``.
    """

    name: str
    address: str
    asn: int
    local_address: str | None = None
    passive: bool = False
    port: int = 179
    md5_password: str | None = None
    ipv4: bool = True
    ipv6: bool = True
    hold_time: int = 90
    graceful_restart: bool = False
    gr_time: int = 120
    #: RFC 8950: IPv4 NLRI with an IPv6 next hop, on the ipv4 channel of an IPv6 session.
    extended_next_hop: bool = False
    #: False: a 2-byte-AS-only peer (``enable as4 off``).
    enable_as4: bool = True
    export: str = "all"
    import_: str = "all"
    #: Seconds from start to the first outgoing connection (BIRD's default is 5).
    connect_delay: int = 1
    #: Seconds between outgoing connection attempts (BIRD's default is 120).
    connect_retry: int = 2
    #: Extra lines inside the protocol block (e.g. ``"multihop 2;"``).
    extra: str = ""
    #: Extra lines inside each channel block (e.g. ``"add paths on;"``).
    channel_extra: str = ""


@dataclass(frozen=True, slots=True)
class BirdStatic:
    """One static route; without ``via`` it is a blackhole. The attributes are set with
    BIRD filter statements in the route's block. Communities are ``(a, b)`` or ``"a:b"``,
    large communities ``(a, b, c)`` or ``"a:b:c"``."""

    prefix: str
    via: str | None = None
    communities: tuple[tuple[int, int] | str, ...] = ()
    large_communities: tuple[tuple[int, int, int] | str, ...] = ()
    med: int | None = None
    local_pref: int | None = None


#: ``export all`` for a BGP channel. BIRD sends MED to an eBGP peer only when the export
#: filter set it (``bgp_update_attrs``: a MED that is not "fresh" is dropped), so a MED set on
#: a static route (:class:`BirdStatic`) would never leave; re-setting it here keeps it. MED
#: learnt from other BGP peers is still dropped, as with a plain ``export all``.
BIRD_EXPORT_ALL = ("filter { if source = RTS_STATIC && defined(bgp_med) then "
                   "bgp_med = bgp_med; accept; }")


def _bird_filter(expr: str, export: bool = False) -> str:
    if export and expr == "all":
        return BIRD_EXPORT_ALL
    return expr if expr in ("all", "none") or expr.startswith(("filter", "where")) \
        else f"filter {expr}"


def _parts(value: tuple[int, ...] | str, count: int) -> list[str]:
    parts = value.split(":") if isinstance(value, str) else [str(v) for v in value]
    if len(parts) != count or not all(p.isdigit() for p in parts):
        raise ValueError(f"expected {count} numbers, got {value!r}")
    return parts


def _bird_static_line(route: BirdStatic | str) -> str:
    if isinstance(route, str):
        route = BirdStatic(route)
    dest = f"via {route.via}" if route.via else "blackhole"
    stmts = [f"bgp_community.add(({', '.join(_parts(c, 2))}));" for c in route.communities]
    stmts += [f"bgp_large_community.add(({', '.join(_parts(c, 3))}));"
              for c in route.large_communities]
    if route.med is not None:
        stmts.append(f"bgp_med = {route.med};")
    if route.local_pref is not None:
        stmts.append(f"bgp_local_pref = {route.local_pref};")
    body = f" {{ {' '.join(stmts)} }}" if stmts else ""
    return f"  route {route.prefix} {dest}{body};\n"


def _bird_peer(peer: BirdPeer) -> str:
    lines = [f"protocol bgp {peer.name} {{"]
    if peer.local_address:
        lines.append(f"  local {peer.local_address} as __LOCAL_AS__;")
    else:
        lines.append("  local as __LOCAL_AS__;")
    lines.append(f"  neighbor {peer.address} port {peer.port} as {peer.asn};")
    if peer.address.lower().startswith("fe80:"):
        raise ValueError("link-local neighbors need an interface; use extra='interface ...'")
    lines.append(f"  passive {'on' if peer.passive else 'off'};")
    if peer.md5_password is not None:
        lines.append(f'  password "{peer.md5_password}";')
    lines.append(f"  hold time {peer.hold_time};")
    lines.append(f"  connect delay time {peer.connect_delay};")
    lines.append(f"  connect retry time {peer.connect_retry};")
    lines.append("  error wait time 1, 10;")
    if peer.graceful_restart:
        lines.append("  graceful restart on;")
        lines.append(f"  graceful restart time {peer.gr_time};")
    if not peer.enable_as4:
        lines.append("  enable as4 off;")
    if peer.extra:
        lines.append("  " + peer.extra.strip())
    for fam, on in (("ipv4", peer.ipv4), ("ipv6", peer.ipv6)):
        if not on:
            continue
        chan = [f"    import {_bird_filter(peer.import_)};",
                f"    export {_bird_filter(peer.export, export=True)};"]
        if fam == "ipv4" and peer.extended_next_hop:
            chan.append("    extended next hop on;")
        if peer.channel_extra:
            chan.append("    " + peer.channel_extra.strip())
        lines.append(f"  {fam} {{")
        lines.extend(chan)
        lines.append("  };")
    lines.append("}")
    return "\n".join(lines) + "\n"


def bird_config(asn: int, router_id: str, peers: Sequence[BirdPeer],
                static4: Sequence[BirdStatic | str] = (),
                static6: Sequence[BirdStatic | str] = (), extra: str = "") -> str:
    """A BIRD 2 configuration: logging to stderr, ``device``, one ``static`` protocol per
    family that has routes (``static4``/``static6``), one ``bgp`` protocol per peer. No
    ``kernel`` protocol: BIRD never touches the namespace's routing tables.

    Args:
        asn: BIRD's AS number.
        router_id: its router ID (an IPv4 address).
        peers: the BGP sessions.
        static4: IPv4 routes (prefix strings are blackholes).
        static6: IPv6 routes.
        extra: appended verbatim (filters, more protocols).
    """
    parts = [f"log stderr all;\nrouter id {router_id};\n"
             # session state changes in the log that failure messages quote
             "debug protocols { states, events };\n\nprotocol device { }\n"]
    for fam, routes in (("ipv4", static4), ("ipv6", static6)):
        if routes:
            body = "".join(_bird_static_line(r) for r in routes)
            parts.append(f"protocol static static_{fam[-1]} {{\n  {fam};\n{body}}}\n")
    parts.extend(_bird_peer(p).replace("__LOCAL_AS__", str(asn)) for p in peers)
    if extra:
        parts.append(extra)
    return "\n".join(parts)


_BIRD_ROUTE = re.compile(
    r"^(?P<prefix>\S+(?: \S+/\d+)?)?\s+(?P<kind>unicast|blackhole|unreachable|prohibited|\w+)\s+"
    r"\[(?P<proto>\S+)\s[^\]]*\]\s+(?P<primary>\*)?\s*\((?P<pref>\d+)(?:/[^)]*)?\)")
_BIRD_VIA = re.compile(r"^\s+via\s+(?P<addr>\S+)(?:\s+on\s+(?P<dev>\S+))?")
_BIRD_ATTR = re.compile(r"^\s+(?P<key>[\w.]+):\s?(?P<value>.*)$")


def parse_bird_routes(text: str) -> list[dict[str, Any]]:
    """Parse ``birdc show route all`` output into one dict per path.

    Keys: ``prefix``, ``next_hop`` (str; a list for multipath; None for blackhole and the
    like), ``dest`` (``unicast``, ``blackhole``, ...), ``from_protocol``, ``primary`` (BIRD's
    ``*``), ``preference``, ``type``, ``origin``, ``as_path`` (list[int], AS sets flattened),
    ``as_path_text``, ``bgp_next_hop`` (list[str]), ``med``, ``local_pref``, ``communities``
    (``"a:b"``), ``large_communities`` (``"a:b:c"``), ``ext_communities`` (as BIRD prints
    them: ``"(rt, 65000, 100)"``), ``attributes`` (every ``Key: value`` line, raw).
    """
    routes: list[dict[str, Any]] = []
    prefix = ""
    current: dict[str, Any] | None = None
    for line in text.splitlines():
        if not line.strip() or line.startswith(("Table ", "BIRD ")):
            continue
        match = _BIRD_ROUTE.match(line)
        if match and not line.startswith("\t"):
            prefix = match["prefix"] or prefix
            rd, _, net = prefix.rpartition(" ")  # VPN tables print "RD PREFIX"
            current = {
                "prefix": net, "next_hop": None, "dest": match["kind"],
                "from_protocol": match["proto"], "primary": bool(match["primary"]),
                "preference": int(match["pref"]), "type": None, "origin": None,
                "as_path": [], "as_path_text": "", "bgp_next_hop": [], "med": None,
                "local_pref": None, "communities": [], "large_communities": [],
                "ext_communities": [], "attributes": {},
            }
            if rd:
                current["rd"] = rd
            routes.append(current)
            continue
        if current is None:
            continue
        via = _BIRD_VIA.match(line)
        if via:
            hop = current["next_hop"]
            if hop is None:
                current["next_hop"] = via["addr"]
            elif isinstance(hop, list):
                hop.append(via["addr"])
            else:
                current["next_hop"] = [hop, via["addr"]]
            continue
        attr = _BIRD_ATTR.match(line)
        if attr:
            _bird_attribute(current, attr["key"], attr["value"].strip())
    return routes


def _bird_attribute(route: dict[str, Any], key: str, value: str) -> None:
    route["attributes"][key] = value
    if key == "Type":
        route["type"] = value
    elif key == "BGP.origin":
        route["origin"] = value
    elif key == "BGP.as_path":
        route["as_path_text"] = value
        route["as_path"] = [int(n) for n in re.findall(r"\d+", value)]
    elif key == "BGP.next_hop":
        route["bgp_next_hop"] = value.split()
    elif key == "BGP.med":
        route["med"] = int(value)
    elif key == "BGP.local_pref":
        route["local_pref"] = int(value)
    elif key == "BGP.community":
        route["communities"] = [f"{a}:{b}" for a, b in re.findall(r"\((\d+),\s*(\d+)\)", value)]
    elif key == "BGP.large_community":
        route["large_communities"] = [
            ":".join(t) for t in re.findall(r"\((\d+),\s*(\d+),\s*(\d+)\)", value)]
    elif key == "BGP.ext_community":
        route["ext_communities"] = re.findall(r"\([^)]*\)", value)


class Bird(_Daemon):
    """BIRD 2 in namespace ``ns`` (``bird -f -c CONF -s SOCK -P PID``), logging to a file.

    Args:
        ns: the namespace to run in (usually ``topo.ns_daemon``).
        config: the configuration text (see :func:`bird_config`).
    """

    label = "bird"

    def __init__(self, ns: str, config: str) -> None:
        super().__init__(ns, config)
        self.conf_path = self.workdir / "bird.conf"
        self.sock = self.workdir / "bird.ctl"

    def start(self) -> None:
        """Write the config, start BIRD and wait until its CLI answers.

        Raises:
            DaemonError: BIRD exited (bad config: the log says why) or did not answer.
        """
        self.conf_path.write_text(self.config)
        self._spawn(["bird", "-f", "-c", str(self.conf_path), "-s", str(self.sock),
                     "-P", str(self.workdir / "bird.pid")])
        self._wait_started(
            lambda: self.sock.exists() and "Daemon is up" in self.birdc("show", "status",
                                                                        check=False))

    def birdc(self, *args: str, check: bool = True) -> str:
        """``birdc -s SOCK ARGS...``; returns the output without the ``BIRD x.y ready.``
        banner. (The control socket is a file: birdc needs no namespace.)

        Raises:
            DaemonError: with ``check``, birdc failed or BIRD answered with an error
                (a reply code 8xxx/9xxx, shown by birdc as the error text).
        """
        out = _run(["birdc", "-s", str(self.sock), *args], check=check)
        lines = out.splitlines()
        if lines and lines[0].startswith("BIRD ") and lines[0].endswith("ready."):
            lines = lines[1:]
        text = "\n".join(lines)
        if check and re.match(r"^(syntax error|Unknown command|No protocols match|"
                              r"Parse error|Reconfiguration rejected)", text, re.M | re.I):
            raise DaemonError(f"birdc {' '.join(args)}: {text}")
        return text

    def configure(self, text: str) -> str:
        """Replace the configuration and ``birdc configure``; returns BIRD's answer.

        Raises:
            DaemonError: BIRD rejected the new configuration (it keeps running the old one,
                and so does this object).
        """
        self.conf_path.write_text(text)
        out = self.birdc("configure", check=False)
        if "Reconfigured" not in out and "Reconfiguration in progress" not in out:
            self.conf_path.write_text(self.config)
            raise DaemonError(f"birdc configure: {out.strip()}\nlog:\n{self.log_tail()}")
        self.config = text
        return out

    def protocol_info(self, name: str) -> dict[str, str]:
        """Every ``Key: value`` line of ``show protocols all NAME`` (e.g. ``BGP state``,
        ``Last error``, ``Neighbor address``), plus ``State`` and ``Info`` from the header.

        Raises:
            DaemonError: no such protocol.
        """
        out = self.birdc("show", "protocols", "all", name, check=False)
        info: dict[str, str] = {}
        for line in out.splitlines():
            if line.startswith(name + " "):
                cols = line.split(None, 5)
                if len(cols) >= 4:
                    info["State"] = cols[3]
                info["Info"] = cols[5] if len(cols) > 5 else ""
                continue
            m = re.match(r"^\s+([A-Za-z][\w \-/]*?):\s+(.*)$", line)
            if m and m.group(1) not in info:
                info[m.group(1)] = m.group(2).strip()
        if not info:
            raise DaemonError(f"birdc show protocols all {name}: {out.strip()}")
        return info

    def protocol_state(self, name: str) -> str:
        """The BGP state BIRD reports for protocol ``name`` (``Idle``, ``Connect``,
        ``Active``, ``OpenSent``, ``OpenConfirm``, ``Established``, or ``Down`` for a
        disabled protocol), followed by `` (last error: TEXT)`` when BIRD shows one."""
        info = self.protocol_info(name)
        state = info.get("BGP state") or info.get("State") or f"unknown {info}"
        if info.get("Last error"):
            state += f" (last error: {info['Last error']})"
        return state

    def wait_state(self, name: str, state: str = "Established", timeout: float = 20) -> str:
        """Poll until ``protocol_state(name)`` starts with ``state``; returns the full state.

        Raises:
            DaemonError: timeout (with the last state and the log tail) or BIRD died.
        """
        return self._wait(f"state {state} of {name}", lambda: self.protocol_state(name),
                          lambda s: s.split(" ", 1)[0] == state, timeout)

    def routes(self, table: str = "master4", protocol: str | None = None) -> list[dict[str, Any]]:
        """``show route all table T [protocol P]`` parsed by :func:`parse_bird_routes`."""
        args = ["show", "route", "all", "table", table]
        if protocol is not None:
            args += ["protocol", protocol]
        return parse_bird_routes(self.birdc(*args))

    def wait_routes(self, predicate: Callable[[list[dict[str, Any]]], bool],
                    table: str = "master4", protocol: str | None = None,
                    timeout: float = 20) -> list[dict[str, Any]]:
        """Poll :meth:`routes` until ``predicate(routes)`` holds; returns those routes."""
        found: list[list[dict[str, Any]]] = [[]]

        def current() -> str:
            found[0] = self.routes(table, protocol)
            return json.dumps(found[0])

        self._wait(f"matching routes in {table}", current,
                   lambda _: predicate(found[0]), timeout)
        return found[0]


# ------------------------------------------------------------------------------------------
# GoBGP.
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GobgpPeer:
    """One ``[[neighbors]]`` entry of :func:`gobgp_config`."""

    address: str
    asn: int
    passive: bool = False
    md5_password: str | None = None
    families: tuple[str, ...] = ("ipv4-unicast", "ipv6-unicast")
    hold_time: int = 90
    graceful_restart: bool = False
    restart_time: int = 120
    remote_port: int | None = None
    local_address: str | None = None
    #: Seconds between outgoing connection attempts (GoBGP's default is 120; 5 is its floor).
    connect_retry: int = 5
    #: Extra TOML lines appended to this neighbor (sub-tables of ``neighbors``).
    extra: str = ""


def _toml_str(value: str) -> str:
    return json.dumps(value)  # a TOML basic string is a JSON string for our values


def gobgp_config(asn: int, router_id: str, peers: Sequence[GobgpPeer], port: int = 179,
                 listen_addresses: Sequence[str] | None = None, extra: str = "") -> str:
    """A GoBGP TOML configuration.

    Args:
        asn: GoBGP's AS number.
        router_id: its router ID.
        peers: the neighbors.
        port: the listening port; -1 does not listen at all.
        listen_addresses: ``local-address-list`` (default: GoBGP's, every address).
        extra: appended verbatim.
    """
    lines = ["[global.config]", f"  as = {asn}", f"  router-id = {_toml_str(router_id)}",
             f"  port = {port}"]
    if listen_addresses is not None:
        lines.append("  local-address-list = [" +
                     ", ".join(_toml_str(a) for a in listen_addresses) + "]")
    for peer in peers:
        lines += ["", "[[neighbors]]", "  [neighbors.config]",
                  f"    neighbor-address = {_toml_str(peer.address)}",
                  f"    peer-as = {peer.asn}"]
        if peer.md5_password is not None:
            lines.append(f"    auth-password = {_toml_str(peer.md5_password)}")
        lines += ["  [neighbors.timers.config]",
                  f"    hold-time = {peer.hold_time}",
                  f"    keepalive-interval = {max(1, peer.hold_time // 3)}",
                  f"    connect-retry = {peer.connect_retry}"]
        lines += ["  [neighbors.transport.config]",
                  f"    passive-mode = {'true' if peer.passive else 'false'}"]
        if peer.remote_port is not None:
            lines.append(f"    remote-port = {peer.remote_port}")
        if peer.local_address is not None:
            lines.append(f"    local-address = {_toml_str(peer.local_address)}")
        if peer.graceful_restart:
            lines += ["  [neighbors.graceful-restart.config]", "    enabled = true",
                      f"    restart-time = {peer.restart_time}"]
        for fam in peer.families:
            lines += ["  [[neighbors.afi-safis]]", "    [neighbors.afi-safis.config]",
                      f"      afi-safi-name = {_toml_str(fam)}"]
            if peer.graceful_restart:
                lines += ["    [neighbors.afi-safis.mp-graceful-restart.config]",
                          "      enabled = true"]
        if peer.extra:
            lines.append(peer.extra)
    if extra:
        lines += ["", extra]
    return "\n".join(lines) + "\n"


#: GoBGP's JSON ``session_state`` (the gRPC ``PeerState.SessionState`` enum).
_GOBGP_STATES = {0: "unknown", 1: "idle", 2: "connect", 3: "active", 4: "opensent",
                 5: "openconfirm", 6: "established"}
#: BGP ORIGIN values (RFC 4271 4.3) as BIRD prints them.
_ORIGINS = {0: "IGP", 1: "EGP", 2: "Incomplete"}
#: Extended community sub-types (RFC 4360 / 7153) in BIRD's spelling.
_EXT_KINDS = {2: "rt", 3: "ro"}


def _asdot(text: str) -> str:
    if "." in text and text.count(".") == 1:  # GoBGP prints 4-byte ASNs as asdot
        high, low = text.split(".")
        return str(int(high) << 16 | int(low))
    return text


def _gobgp_ext(value: dict[str, Any]) -> str:
    kind = _EXT_KINDS.get(value.get("subtype", -1))
    raw = value.get("value")
    if kind is not None and isinstance(raw, str) and ":" in raw:
        admin, number = raw.rsplit(":", 1)
        return f"({kind}, {_asdot(admin)}, {number})"
    return json.dumps(value, sort_keys=True)


def parse_gobgp_path(key: str, path: dict[str, Any]) -> dict[str, Any]:
    """One path of ``gobgp ... -j`` output in the keys of :func:`parse_bird_routes`:
    ``prefix``, ``next_hop`` (str; the global address for IPv6, with the link-local one in
    ``link_local_next_hop``), ``as_path``, ``origin``, ``med``, ``local_pref``, ``communities``,
    ``large_communities``, ``ext_communities`` (BIRD's spelling, ``"(rt, 65000, 100)"``),
    ``rd``/``labels`` (VPN), ``best``, ``from_neighbor``, ``attributes`` (the raw list)."""
    nlri = path.get("nlri", {})
    route: dict[str, Any] = {
        "prefix": nlri.get("prefix", key), "next_hop": None, "link_local_next_hop": None,
        "as_path": [], "origin": None, "med": None, "local_pref": None, "communities": [],
        "large_communities": [], "ext_communities": [], "best": bool(path.get("best")),
        "from_neighbor": path.get("neighbor-ip"), "attributes": path.get("attrs", []),
    }
    if "rd" in nlri:
        rd = nlri["rd"]
        route["rd"] = f"{_asdot(str(rd.get('admin')))}:{rd.get('assigned')}" \
            if isinstance(rd, dict) else str(rd)
    if "labels" in nlri:
        route["labels"] = list(nlri["labels"])
    for attr in route["attributes"]:
        kind = attr.get("type")
        if kind == 1:
            route["origin"] = _ORIGINS.get(attr.get("value"), attr.get("value"))
        elif kind == 2:
            route["as_path"] = [asn for seg in attr.get("as_paths", [])
                                for asn in seg.get("asns", [])]
        elif kind == 3:
            route["next_hop"] = attr.get("nexthop")
        elif kind == 4:
            route["med"] = attr.get("metric")
        elif kind == 5:
            route["local_pref"] = attr.get("value")
        elif kind == 8:
            route["communities"] = [f"{c >> 16}:{c & 0xFFFF}"
                                    for c in attr.get("communities", [])]
        elif kind == 14:
            route["next_hop"] = attr.get("nexthop")
            route["link_local_next_hop"] = attr.get("linklocal_nexthop") or None
        elif kind == 16:
            route["ext_communities"] = [_gobgp_ext(v) for v in attr.get("value", [])]
        elif kind == 32:
            route["large_communities"] = [
                f"{v['ASN']}:{v['LocalData1']}:{v['LocalData2']}" for v in attr.get("value", [])]
    return route


def _parse_gobgp_table(text: str) -> list[dict[str, Any]]:
    if not text.strip():
        return []
    data = json.loads(text)
    if isinstance(data, list):  # adj-in of some versions: a plain list of paths
        return [parse_gobgp_path("", p) for p in data]
    return [parse_gobgp_path(key, path) for key, paths in data.items() for path in paths]


class Gobgp(_Daemon):
    """GoBGP (``gobgpd``) in namespace ``ns``, its gRPC API on ``127.0.0.1:api_port`` there.

    Args:
        ns: the namespace to run in.
        config: TOML (see :func:`gobgp_config`).
        api_port: the API port inside the namespace.
    """

    label = "gobgp"

    def __init__(self, ns: str, config: str, api_port: int = GOBGP_API_PORT) -> None:
        super().__init__(ns, config)
        self.conf_path = self.workdir / "gobgpd.toml"
        self.api_port = api_port

    def start(self) -> None:
        """Write the config, start gobgpd (plain-text log, no pprof listener) and wait until
        its API answers.

        Raises:
            DaemonError: gobgpd exited (bad config: the log says why) or did not answer.
        """
        self.conf_path.write_text(self.config)
        self._spawn(["gobgpd", "-f", str(self.conf_path), "-t", "toml", "-p",
                     "--pprof-disable", "--api-hosts", f"127.0.0.1:{self.api_port}"])
        self._wait_started(lambda: bool(self.cli("global", check=False).strip()))

    def cli(self, *args: str, check: bool = True) -> str:
        """``ip netns exec NS gobgp -p PORT ARGS...``; returns stdout.

        Raises:
            DaemonError: with ``check``, the command failed (the message has its stderr).
        """
        return _run(["ip", "netns", "exec", self.ns, "gobgp", "-u", "127.0.0.1",
                     "-p", str(self.api_port), *args], check=check)

    def neighbor(self, address: str) -> dict[str, Any]:
        """``gobgp neighbor ADDR -j``, decoded."""
        data: dict[str, Any] = json.loads(self.cli("neighbor", address, "-j"))
        return data

    def neighbor_state(self, address: str) -> str:
        """The session state, lower case as GoBGP spells it: ``idle``, ``connect``,
        ``active``, ``opensent``, ``openconfirm``, ``established``."""
        state = self.neighbor(address).get("state", {}).get("session_state", 0)
        if isinstance(state, int):
            return _GOBGP_STATES.get(state, str(state))
        return str(state).lower().removeprefix("session_state_")

    def wait_state(self, address: str, state: str = "established", timeout: float = 20) -> str:
        """Poll until ``neighbor_state(address) == state``.

        Raises:
            DaemonError: timeout (with the last state and the log tail) or gobgpd died.
        """
        return self._wait(f"state {state} of {address}", lambda: self.neighbor_state(address),
                          lambda s: s == state, timeout)

    def rib(self, family: str = "ipv4") -> list[dict[str, Any]]:
        """``gobgp global rib -a FAMILY -j`` parsed by :func:`parse_gobgp_path`."""
        return _parse_gobgp_table(self.cli("global", "rib", "-a", family, "-j"))

    def adj_in(self, address: str, family: str = "ipv4") -> list[dict[str, Any]]:
        """``gobgp neighbor ADDR adj-in -a FAMILY -j`` parsed by :func:`parse_gobgp_path`."""
        return _parse_gobgp_table(self.cli("neighbor", address, "adj-in", "-a", family, "-j"))

    def wait_rib(self, predicate: Callable[[list[dict[str, Any]]], bool],
                 family: str = "ipv4", timeout: float = 20) -> list[dict[str, Any]]:
        """Poll :meth:`rib` until ``predicate(routes)`` holds; returns those routes."""
        found: list[list[dict[str, Any]]] = [[]]

        def current() -> str:
            found[0] = self.rib(family)
            return json.dumps(found[0], default=str)[:2000]

        self._wait(f"matching routes in {family}", current, lambda _: predicate(found[0]),
                   timeout)
        return found[0]

    @staticmethod
    def _route_args(prefix: str, *, next_hop: str | None = None,
                    communities: Iterable[str] = (), large_communities: Iterable[str] = (),
                    med: int | None = None, local_pref: int | None = None,
                    rd: str | None = None, rt: Iterable[str] = (),
                    label: int | None = None) -> list[str]:
        args = [prefix]
        if label is not None:
            args += ["label", str(label)]
        if rd is not None:
            args += ["rd", rd]
        rts = list(rt)
        if rts:
            args += ["rt", *rts]
        if next_hop is not None:
            args += ["nexthop", next_hop]
        if med is not None:
            args += ["med", str(med)]
        if local_pref is not None:
            args += ["local-pref", str(local_pref)]
        comms = list(communities)
        if comms:
            args += ["community", ",".join(comms)]
        larges = list(large_communities)
        if larges:
            args += ["large-community", ",".join(larges)]
        return args

    def add_route(self, prefix: str, family: str = "ipv4", next_hop: str | None = None,
                  communities: Iterable[str] = (), large_communities: Iterable[str] = (),
                  med: int | None = None, local_pref: int | None = None,
                  rd: str | None = None, rt: Iterable[str] = (),
                  label: int | None = None) -> None:
        """``gobgp global rib -a FAMILY add PREFIX [label N] [rd RD] [rt RT...] [nexthop A]
        [med N] [local-pref N] [community a:b,...] [large-community a:b:c,...]``.

        Communities are ``"a:b"`` strings, large ones ``"a:b:c"``; RDs and RTs ``"a:b"``
        (GoBGP wants asdot, ``"64086.59904:7"``, for a 4-byte ASN).
        """
        self.cli("global", "rib", "-a", family, "add", *self._route_args(
            prefix, next_hop=next_hop, communities=communities,
            large_communities=large_communities, med=med, local_pref=local_pref, rd=rd, rt=rt,
            label=label))

    def del_route(self, prefix: str, family: str = "ipv4", rd: str | None = None,
                  label: int | None = None) -> None:
        """``gobgp global rib -a FAMILY del PREFIX [label N] [rd RD]``."""
        self.cli("global", "rib", "-a", family, "del",
                 *self._route_args(prefix, rd=rd, label=label))

