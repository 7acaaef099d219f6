"""Helpers for tests and demos: private network namespaces and veth pairs.

Everything here works without root: when the process is not privileged, a user namespace is
created first (``unshare -Urn``), in which we are root over a fresh network namespace.

Typical use in a test::

    def check() -> list[str]:
        testing.ip("link", "add", "a0", "type", "veth", "peer", "name", "a1")
        return asyncio.run(my_coroutine())

    result = testing.run_in_netns(check)   # runs in a forked child, in a new namespace
"""

from __future__ import annotations

import ctypes
import os
import pickle
import select
import shutil
import signal
import socket
import subprocess
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

from netlinkbgp.bgp.session import CloseRequested, Event, Session, SessionConfig, State
from netlinkbgp.errors import TransportError

__all__ = [
    "NamespaceError",
    "SessionPair",
    "enter_named_netns",
    "ip",
    "netns_available",
    "run_forked",
    "run_in_netns",
    "unshare_netns",
    "veth_pair",
]

#: ``sched.h`` clone flags.
CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
#: How long a forked child may run before it is killed: no test or demo step comes near it,
#: and a hung child must not hang the caller (a test run, CI) for ever.
CHILD_TIMEOUT_SECONDS = 900
#: Where ``ip netns add`` keeps named namespaces.
NETNS_RUN_DIR = "/var/run/netns"

_T = TypeVar("_T")


class NamespaceError(TransportError):
    """A namespace could not be created or entered (kernel support or privilege missing)."""


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _write(path: str, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)


def unshare_netns() -> None:
    """Move this process into a new, empty network namespace, with ``lo`` up.

    As root only a network namespace is created; otherwise a user namespace too, mapping the
    current uid/gid to root inside it. The process must be single-threaded.

    Raises:
        NamespaceError: the kernel refused (user namespaces disabled, no privilege).
    """
    uid, gid = os.geteuid(), os.getegid()
    flags = CLONE_NEWNET if uid == 0 else CLONE_NEWNET | CLONE_NEWUSER
    if _libc().unshare(flags) != 0:
        err = ctypes.get_errno()
        what = "network" if uid == 0 else "user + network"
        raise NamespaceError(f"cannot create a {what} namespace: {os.strerror(err)}")
    if uid != 0:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"0 {uid} 1")
        _write("/proc/self/gid_map", f"0 {gid} 1")
    ip("link", "set", "lo", "up")


def enter_named_netns(name: str) -> None:
    """Move this process into the namespace ``ip netns add NAME`` created.

    Raises:
        NamespaceError: no such namespace, or no privilege to enter it.
    """
    path = os.path.join(NETNS_RUN_DIR, name)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise NamespaceError(f"network namespace {name!r}: {exc.strerror} ({path})") from exc
    try:
        if _libc().setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise NamespaceError(f"cannot enter network namespace {name!r}: {os.strerror(err)}")
    finally:
        os.close(fd)


def ip(*args: str, check: bool = True) -> str:
    """Run iproute2's ``ip`` with ``args``; returns its output.

    Raises:
        NamespaceError: ``ip`` is missing or (with ``check``) failed; the message has its stderr.
    """
    binary = shutil.which("ip")
    if binary is None:
        raise NamespaceError("iproute2's `ip` command is not installed")
    done = subprocess.run([binary, *args], capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise NamespaceError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def veth_pair(name: str, peer: str, *, up: bool = True) -> tuple[int, int]:
    """Create a veth pair in the current namespace; returns both interface indexes."""
    ip("link", "add", name, "type", "veth", "peer", "name", peer)
    if up:
        ip("link", "set", name, "up")
        ip("link", "set", peer, "up")
    # if_nametoindex asks the current namespace (/sys may show another one).
    return socket.if_nametoindex(name), socket.if_nametoindex(peer)


def run_in_netns(func: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """Run ``func(*args, **kwargs)`` in a forked child inside a new network namespace.

    The result (or exception) comes back pickled; the namespace vanishes with the child.

    Raises:
        NamespaceError: the namespace could not be created.
        Exception: whatever ``func`` raised, re-raised here with the child's traceback.
    """
    return _forked(True, func, args, kwargs)


def run_forked(func: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """Like :func:`run_in_netns`, in a forked child that stays in this namespace (for a child
    that changes its own credentials before creating namespaces)."""
    return _forked(False, func, args, kwargs)


def _forked(netns: bool, func: Callable[..., _T], args: Any, kwargs: Any) -> _T:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.close(read_fd)
        code = 0
        try:
            if netns:
                unshare_netns()
            payload: tuple[str, Any] = ("ok", func(*args, **kwargs))
        except BaseException as exc:  # report everything to the parent, then exit
            code = 1
            payload = ("error", (exc, traceback.format_exc()))
        try:
            data = pickle.dumps(payload)
        except Exception as exc:  # an unpicklable result or exception
            data = pickle.dumps(("error", (RuntimeError(repr(exc)), traceback.format_exc())))
        with os.fdopen(write_fd, "wb") as pipe:
            pipe.write(data)
        os._exit(code)
    os.close(write_fd)
    chunks: list[bytes] = []
    deadline = time.monotonic() + CHILD_TIMEOUT_SECONDS
    with os.fdopen(read_fd, "rb") as pipe:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([pipe], [], [], left)[0]:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise TimeoutError(f"the namespace child ran longer than "
                                   f"{CHILD_TIMEOUT_SECONDS} s and was killed")
            chunk = os.read(pipe.fileno(), 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    data = b"".join(chunks)
    os.waitpid(pid, 0)
    if not data:
        raise NamespaceError("the namespace child died without a result")
    status, value = pickle.loads(data)
    if status == "ok":
        return value  # type: ignore[no-any-return]
    error, text = value
    if isinstance(error, BaseException):
        error.add_note(f"in the namespace child:\n{text}")
        raise error
    raise RuntimeError(text)  # pragma: no cover


def unshare_thread_netns() -> int:
    """Move the calling *thread* into a new, empty network namespace (``lo`` up).

    Namespaces belong to threads: sockets this thread opens afterwards, and processes it
    starts (``ip`` included), live in the new namespace while the rest of the process stays
    where it was. Needs CAP_SYS_ADMIN in the current user namespace: root, or a process
    inside :func:`run_in_netns`.

    Returns:
        The thread's id, which ``ip link set DEV netns ID`` accepts to move an interface in.

    Raises:
        NamespaceError: the kernel refused.
    """
    if _libc().unshare(CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise NamespaceError(f"cannot create a network namespace: {os.strerror(err)}")
    ip("link", "set", "lo", "up")
    return threading.get_native_id()


def netns_available() -> str | None:
    """``None`` when :func:`run_in_netns` works here, else the reason it does not."""
    try:
        run_in_netns(lambda: None)
    except NamespaceError as exc:
        return str(exc)
    return None


class SessionPair:
    """Two BGP sessions wired back to back in memory, with the clock in hand (no sockets).

    ``a`` connects actively, ``b`` passively. :meth:`pump` moves bytes both ways until both
    are quiet; :meth:`advance` moves the clock, firing every timer on the way in order.
    Every event each session emits is kept in :attr:`events_a` / :attr:`events_b`.

    Args:
        a: configuration of the active side.
        b: configuration of the passive side.
        now: the starting time.
    """

    def __init__(self, a: SessionConfig, b: SessionConfig, now: float = 0.0) -> None:
        self.a = Session(a)
        self.b = Session(b)
        self.now = now
        self.events_a: list[Event] = []
        self.events_b: list[Event] = []
        self.connected = False
        #: drop bytes in these directions ("a->b", "b->a") to simulate a stalled link
        self.blocked: set[str] = set()

    def connect(self) -> None:
        """Start both sides and bring the TCP connection up."""
        self.a.start(self.now)
        self.b.start(self.now, passive=True)
        self.a.connection_made(self.now, outgoing=True)
        self.b.connection_made(self.now, outgoing=False)
        self.connected = True
        self.pump()

    def establish(self) -> None:
        """:meth:`connect`, and check both sides reached Established.

        Raises:
            AssertionError: they did not (the events say why).
        """
        self.connect()
        if self.a.state is not State.ESTABLISHED or self.b.state is not State.ESTABLISHED:
            raise AssertionError(f"not established: {self.events_a} / {self.events_b}")

    def _collect(self, session: Session, into: list[Event]) -> bool:
        closed = False
        while (event := session.next_event()) is not None:
            into.append(event)
            if isinstance(event, CloseRequested):
                closed = True
        return closed

    def pump(self) -> None:
        """Deliver queued bytes both ways until neither side has anything to send."""
        while True:
            moved = False
            for src, dst, direction in ((self.a, self.b, "a->b"), (self.b, self.a, "b->a")):
                data = src.data_to_send()
                if data and self.connected and direction not in self.blocked:
                    dst.receive_data(data, self.now)
                    moved = True
            closed_a = self._collect(self.a, self.events_a)
            closed_b = self._collect(self.b, self.events_b)
            if (closed_a or closed_b) and self.connected:
                self.connected = False
                # The NOTIFICATION (if any) went out before the close: deliver it, then drop.
                for src, dst in ((self.a, self.b), (self.b, self.a)):
                    data = src.data_to_send()
                    if data:
                        dst.receive_data(data, self.now)
                for session in (self.a, self.b):
                    if session.state is not State.IDLE:
                        session.connection_lost(self.now)
                self._collect(self.a, self.events_a)
                self._collect(self.b, self.events_b)
                moved = True
            if not moved:
                return

    def advance(self, seconds: float) -> None:
        """Move the clock forward, firing due timers in time order and pumping after each."""
        target = self.now + seconds
        while True:
            due = [t for t in (self.a.get_timer(), self.b.get_timer()) if t is not None]
            if not due or min(due) > target:
                break
            self.now = max(self.now, min(due))
            self.a.handle_timer(self.now)
            self.b.handle_timer(self.now)
            self.pump()
        self.now = target
