"""The real ``netlinkbgp run`` process in a named network namespace, for end-to-end tests.

Test tooling, not part of the ``netlinkbgp`` package. The daemon is started as
``ip netns exec NS python -m netlinkbgp run -f CONFIG --control-socket SOCK`` (``ip netns
exec`` execs, so the process id is the daemon's own: ``/proc/PID/fd`` and
``/proc/PID/status`` are its). Readiness is the control socket answering, never a sleep;
every wait has a deadline and fails with the daemon's log tail.

The peers (BIRD 2, GoBGP) come from :mod:`tests.interop.daemons`, in the topology's other
namespace. The kernel is read with ``ip -j route`` in our namespace.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from netlinkbgp.control import call
from netlinkbgp.errors import NetlinkBGPError
from tests.interop.daemons import (
    KILL_GRACE_SECONDS,
    POLL_INTERVAL_SECONDS,
    DaemonError,
    Gobgp,
    GobgpPeer,
    Topology,
    _Daemon,
    _run,
    gobgp_config,
)

__all__ = ["GOBGP_PORT", "GOBGP_V4", "Neighbor", "Netlinkbgpd", "RouteMonitor", "dsts",
           "gobgp_beside", "ip_routes", "ours_toml", "wait_for"]

_T = TypeVar("_T")

#: The worktree whose ``netlinkbgp`` the subprocesses run (not whatever is installed).
REPO = Path(__file__).resolve().parents[2]
#: GoBGP's own address and port in the peers' namespace, when it runs beside BIRD (which
#: listens on port 179 of every address there): see :func:`gobgp_beside`.
GOBGP_V4 = "10.77.0.3"
GOBGP_PORT = 1790
#: Seconds the daemon may take from exec to answering its control socket (imports and
#: start take well under a second; the bound is for a loaded shared VM).
START_SECONDS = 15.0
#: Seconds a session, a route or a kernel change may take to show (each takes well under
#: 3 s here; the bound only turns a hang into a readable failure).
WAIT_SECONDS = 20.0


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"]
                                     if env.get("PYTHONPATH") else "")
    env.pop("NETLINKBGP_CONTROL_SOCKET", None)
    return env


def wait_for(read: Callable[[], _T], predicate: Callable[[_T], bool],
             timeout: float = WAIT_SECONDS, what: str = "a condition",
             log: Callable[[], str] | None = None) -> _T:
    """Poll ``read()`` until ``predicate(value)`` holds; returns that value.

    Raises:
        DaemonError: not within ``timeout`` seconds (with the last value and ``log()``).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if predicate(value):
            return value
        if time.monotonic() > deadline:
            tail = f"\nlog:\n{log()}" if log is not None else ""
            raise DaemonError(f"no {what} within {timeout} s; last: {value!r}{tail}")
        time.sleep(POLL_INTERVAL_SECONDS)


def ip_routes(ns: str, *selector: str, family: int = 4) -> list[dict[str, Any]]:
    """``ip -n NS -j -FAMILY route show SELECTOR...`` decoded (``[]`` for an empty table, or
    one the kernel does not have: ``ip`` then prints ``[`` and fails)."""
    argv = ["ip", "-n", ns, "-j", f"-{family}", "route", "show", *selector]
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=15)
    if done.returncode != 0:
        if "table does not exist" in done.stderr:
            return []
        raise DaemonError(f"`{' '.join(argv)}` exited {done.returncode}: {done.stderr}")
    return json.loads(done.stdout) if done.stdout.strip() else []


def dsts(routes: Iterable[dict[str, Any]]) -> set[str]:
    """The destinations of ``ip -j route`` entries, with ``/32``/``/128`` added to hosts."""
    out = set()
    for r in routes:
        dst = r["dst"]
        if "/" not in dst and dst != "default":
            dst += "/128" if ":" in dst else "/32"
        out.add(dst)
    return out


def gobgp_beside(topo: Topology, asn: int, our_asn: int, families: tuple[str, ...]) -> Gobgp:
    """GoBGP (not started) at :data:`GOBGP_V4` port :data:`GOBGP_PORT` in the peers'
    namespace, passive towards us (give our neighbour ``remote_port=GOBGP_PORT``)."""
    _run(["ip", "-n", topo.ns_daemon, "addr", "add", f"{GOBGP_V4}/{topo.prefix_len_v4}",
          "dev", topo.if_daemon])
    return Gobgp(topo.ns_daemon, gobgp_config(asn, GOBGP_V4, [GobgpPeer(
        topo.ours_v4, our_asn, passive=True, families=families, local_address=GOBGP_V4)],
        port=GOBGP_PORT, listen_addresses=[GOBGP_V4]))


# ------------------------------------------------------------------------------------------
# Configuration.
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Neighbor:
    """One ``[[neighbors]]`` of :func:`ours_toml`."""

    address: str
    asn: int
    families: tuple[str, ...] = ()
    remote_port: int | None = None
    graceful_restart: bool | None = None
    extra: str = ""


def ours_toml(asn: int, router_id: str, neighbors: Sequence[Neighbor], extra: str = "",
              graceful_restart: bool = False, restart_time: int = 60) -> str:
    """Our daemon's configuration (GoBGP-shaped TOML): we never listen, we connect at once
    and retry every second."""
    lines = ["[global.config]", f"  as = {asn}", f'  router-id = "{router_id}"']
    if graceful_restart:
        lines += ["[global.graceful-restart.config]", "  enabled = true",
                  f"  restart-time = {restart_time}"]
    for n in neighbors:
        lines += ["", "[[neighbors]]", "  [neighbors.config]",
                  f'    neighbor-address = "{n.address}"', f"    peer-as = {n.asn}",
                  "  [neighbors.timers.config]", "    connect-retry = 1",
                  "    idle-hold-time-after-reset = 0.5"]
        if n.remote_port is not None:
            lines += ["  [neighbors.transport.config]", f"    remote-port = {n.remote_port}"]
        for fam in n.families:
            lines += ["  [[neighbors.afi-safis]]", "    [neighbors.afi-safis.config]",
                      f'      afi-safi-name = "{fam}"']
        if n.extra:
            lines.append(n.extra)
    if extra:
        lines += ["", extra.strip()]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------
# The daemon.
# ------------------------------------------------------------------------------------------


class Netlinkbgpd(_Daemon):
    """``netlinkbgp run`` in namespace ``ns``; its config, control socket and log (stdout and
    stderr, appended across restarts) in a private temp dir.

    Args:
        ns: the namespace to run in.
        config: the TOML text.
        metrics: ``HOST:PORT`` for ``--metrics``.
    """

    label = "netlinkbgp"

    def __init__(self, ns: str, config: str, metrics: str | None = None) -> None:
        super().__init__(ns, config)
        self.conf_path = self.workdir / "netlinkbgp.toml"
        self.sock = str(self.workdir / "control.sock")
        self.metrics = metrics

    # -- lifecycle ----------------------------------------------------------------------------

    def _spawn(self, argv: Sequence[str]) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(["ip", "netns", "exec", self.ns, *argv],
                                         stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         env=_env(), cwd=str(REPO))

    def start(self, restarting: bool = False) -> None:
        """Write the config, exec the daemon and wait until its control socket answers.

        Raises:
            DaemonError: it exited (its log says why) or did not answer in time.
        """
        self.conf_path.write_text(self.config)
        argv = [sys.executable, "-m", "netlinkbgp", "run", "-f", str(self.conf_path),
                "--control-socket", self.sock, "--log-level", "info"]
        if self.metrics:
            argv += ["--metrics", self.metrics]
        if restarting:
            argv.append("--graceful-restart")
        self._spawn(argv)
        deadline = time.monotonic() + START_SECONDS
        while not self._answers():
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise DaemonError(f"netlinkbgp exited with {self.proc.returncode} at start; "
                                  f"log:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise DaemonError(f"netlinkbgp's control socket did not answer within "
                                  f"{START_SECONDS} s; log:\n{self.log_tail()}")
            time.sleep(POLL_INTERVAL_SECONDS)

    def __enter__(self) -> Netlinkbgpd:
        try:
            self.start()
        except BaseException:
            self.stop()  # a failed start leaves no process and no temp dir behind
            raise
        return self

    def _answers(self) -> bool:
        if not os.path.exists(self.sock):
            return False
        try:
            self.ctl("GetStats", timeout=2)
        except NetlinkBGPError:  # not listening yet (or not answering yet): poll again
            return False
        return True

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not running"
        return self.proc.pid

    def signal(self, signum: int) -> None:
        os.kill(self.pid, signum)

    def terminate(self, timeout: float = 10.0) -> int:
        """SIGTERM and wait for the exit; returns the exit code (the temp dir stays)."""
        proc = self.proc
        assert proc is not None
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise DaemonError(f"netlinkbgp ignored SIGTERM for {timeout} s; "
                              f"log:\n{self.log_tail()}") from None
        self.proc = None
        return code

    def kill9(self) -> None:
        """SIGKILL: nothing is cleaned up (the temp dir stays)."""
        proc = self.proc
        assert proc is not None
        proc.kill()
        proc.wait(KILL_GRACE_SECONDS)
        self.proc = None

    def reconfigure(self, text: str) -> None:
        """Write a new config file and send SIGHUP (nothing is waited for)."""
        self.config = text
        self.conf_path.write_text(text)
        self.signal(signal.SIGHUP)

    # -- control ------------------------------------------------------------------------------

    def ctl(self, method: str, params: dict[str, Any] | None = None,
            timeout: float = 10.0) -> Any:
        """One control call (:func:`netlinkbgp.control.call`)."""
        return asyncio.run(call(self.sock, method, params or {}, timeout))

    def cli(self, *args: str, check: bool = False,
            socket: str | None = None) -> subprocess.CompletedProcess[str]:
        """``python -m netlinkbgp ARGS... --control-socket SOCK`` (no namespace needed: the
        socket is a file)."""
        done = subprocess.run([sys.executable, "-m", "netlinkbgp", *args, "--control-socket",
                               socket or self.sock], capture_output=True, text=True,
                              check=False, timeout=30, env=_env(), cwd=str(REPO))
        if check and done.returncode != 0:
            raise DaemonError(f"netlinkbgp {' '.join(args)} exited {done.returncode}: "
                              f"{done.stderr.strip()}")
        return done

    def cli_json(self, *args: str) -> Any:
        """``netlinkbgp ARGS... --json``: checks the envelope, returns ``result``."""
        done = self.cli(*args, "--json", check=True)
        reply = json.loads(done.stdout)
        assert set(reply) == {"version", "result"} and reply["version"] == 1, reply
        return reply["result"]

    def peers(self) -> dict[str, dict[str, Any]]:
        """ListPeer, keyed by address."""
        return {p["address"]: p for p in self.ctl("ListPeer")}

    def wait_established(self, *addresses: str, timeout: float = WAIT_SECONDS
                         ) -> dict[str, dict[str, Any]]:
        """Poll ListPeer until every one of ``addresses`` is Established."""
        return wait_for(self.peers, lambda ps: all(
            ps.get(a, {}).get("state") == "Established" for a in addresses),
            timeout, f"sessions with {', '.join(addresses)} established", self.log_tail)

    def wait_exported(self, predicate: Callable[[list[dict[str, Any]]], bool],
                      what: str = "exported routes", timeout: float = WAIT_SECONDS
                      ) -> list[dict[str, Any]]:
        """Poll ListNetlinkExport until ``predicate(routes)`` holds."""
        return wait_for(lambda: self.ctl("ListNetlinkExport"), predicate, timeout, what,
                        self.log_tail)

    # -- process figures ----------------------------------------------------------------------

    def fd_count(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


class RouteMonitor:
    """``ip -n NS monitor route`` in the background, from the moment :meth:`start` returns
    (it waits until a marker route change shows up, so nothing later is missed).

    ``lines`` holds what it printed, marker lines excluded.
    """

    #: A route in a table nothing else uses, replaced until the monitor prints it.
    MARKER_TABLE = "252"

    def __init__(self, ns: str) -> None:
        self.ns = ns
        self._lines: list[str] = []
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    def start(self) -> RouteMonitor:
        self._proc = subprocess.Popen(["ip", "-n", self.ns, "monitor", "route"],
                                      stdout=subprocess.PIPE, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        marker = ["ip", "-n", self.ns, "route", "replace", "unreachable", "10.254.254.0/24",
                  "table", self.MARKER_TABLE]
        deadline = time.monotonic() + WAIT_SECONDS
        while not any(f"table {self.MARKER_TABLE}" in line for line in self._lines):
            if time.monotonic() > deadline:
                raise DaemonError("ip monitor route printed nothing")
            subprocess.run(marker, check=True, capture_output=True, timeout=15)
            time.sleep(POLL_INTERVAL_SECONDS)
        return self

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            self._lines.append(line.strip())

    @property
    def lines(self) -> list[str]:
        return [line for line in self._lines if f"table {self.MARKER_TABLE}" not in line]

    def stop(self) -> list[str]:
        """Stop the monitor; returns what it printed."""
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(5)
        if self._reader is not None:
            self._reader.join(5)
        return self.lines

    def __enter__(self) -> RouteMonitor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
