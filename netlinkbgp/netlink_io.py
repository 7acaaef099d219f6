"""asyncio rtnetlink sockets: a command socket for requests and dumps, an event socket for
multicast notifications (DESIGN §4).

The sockets only move bytes; what the bytes mean is :mod:`netlinkbgp.codec`'s business, and
which reply belongs to which request is :class:`netlinkbgp.codec.channel.Channel`'s.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import socket
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network
from typing import TypeVar

from netlinkbgp.codec.attrs import Attr
from netlinkbgp.codec.channel import BatchReply, Channel, Reply
from netlinkbgp.codec.constants import (
    NETLINK_ROUTE,
    SOL_NETLINK,
    NetlinkSockOpt,
    NlmFlag,
    Rta,
    RtmFlag,
    RtmType,
    Rtnlgrp,
)
from netlinkbgp.codec.messages import (
    AddressMessage,
    LinkMessage,
    Message,
    RouteMessage,
    decode_messages,
    dump_request,
)
from netlinkbgp.codec.route_requests import PackedRoutes, RouteSpec, encode_route_requests
from netlinkbgp.errors import DecodeError, NetlinkError, TransportError

__all__ = [
    "DEFAULT_EVENT_GROUPS",
    "DEFAULT_RCVBUF",
    "EventSocket",
    "NetlinkSocket",
    "Overrun",
]

#: Receive buffer asked for (bytes). The kernel accounts each reply by its skb size (~1 KiB
#: for a small message), so 8 MiB holds replies to several thousand failed requests, and a
#: burst of a few thousand events. Without CAP_NET_ADMIN the kernel caps it at rmem_max.
DEFAULT_RCVBUF = 8 * 1024 * 1024
#: ``SO_RCVBUFFORCE`` (asm-generic/socket.h); the socket module does not export it.
_SO_RCVBUFFORCE = 33
#: Send buffer: one batch datagram plus slack.
DEFAULT_SNDBUF = 1024 * 1024
#: Largest datagram the kernel hands us for a dump or an event burst (NLMSG_GOODSIZE is one
#: page up to 8 KiB; 32 KiB leaves room for large pages and big link messages).
RECV_BUFFER_SIZE = 64 * 1024
#: Receive-buffer bytes to reserve per request of a batch, so that even if every request of a
#: datagram fails, the error replies fit (an NLMSG_ERROR with extended ack is one small skb).
_RCVBUF_PER_REQUEST = 1536
#: Requests per batch datagram sent from the event loop's thread: about 64 KiB of route
#: requests, which the kernel handles in one ``sendmsg`` of a few milliseconds, so events and
#: timers are not held up.
MAX_BATCH_REQUESTS = 768
#: Requests per datagram of a bigger batch, sent from the socket's sender thread (the loop
#: goes on meanwhile): about 256 KiB, so that a batch of 100,000 routes costs a few dozen
#: hand-overs between the threads rather than hundreds.
MAX_THREADED_BATCH_REQUESTS = 3072
#: How often a dump interrupted by a concurrent change (NLM_F_DUMP_INTR) is retried.
MAX_DUMP_RETRIES = 5

#: Multicast groups the event socket joins by default: links, addresses and routes of both
#: families (what the Importer and the Exporter's next-hop cache need).
DEFAULT_EVENT_GROUPS: tuple[int, ...] = (
    Rtnlgrp.RTNLGRP_LINK,
    Rtnlgrp.RTNLGRP_IPV4_IFADDR,
    Rtnlgrp.RTNLGRP_IPV6_IFADDR,
    Rtnlgrp.RTNLGRP_IPV4_ROUTE,
    Rtnlgrp.RTNLGRP_IPV6_ROUTE,
)


_Item = TypeVar("_Item")


@dataclass(frozen=True, slots=True)
class Overrun:
    """The event socket's receive buffer overflowed (ENOBUFS): events were lost.

    The consumer must resynchronise (dump and diff). ``count`` is the number of overruns seen
    on this socket so far.
    """

    count: int


def _open(rcvbuf: int, groups: Iterable[int] = ()) -> tuple[socket.socket, int]:
    """Open, configure and bind an rtnetlink socket; returns it and its effective rcvbuf."""
    try:
        sock = socket.socket(
            socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC,
            NETLINK_ROUTE,
        )
    except OSError as exc:
        raise TransportError(f"cannot open an rtnetlink socket: {exc.strerror}") from exc
    try:
        try:
            # SO_RCVBUFFORCE passes rmem_max but needs CAP_NET_ADMIN in the initial namespace.
            sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, rcvbuf)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, DEFAULT_SNDBUF)
        sock.setsockopt(SOL_NETLINK, NetlinkSockOpt.NETLINK_EXT_ACK, 1)
        sock.setsockopt(SOL_NETLINK, NetlinkSockOpt.NETLINK_GET_STRICT_CHK, 1)
        # Errors echo only the request's header: replies stay small whatever we sent.
        sock.setsockopt(SOL_NETLINK, NetlinkSockOpt.NETLINK_CAP_ACK, 1)
        sock.bind((0, 0))
        for group in groups:
            sock.setsockopt(SOL_NETLINK, NetlinkSockOpt.NETLINK_ADD_MEMBERSHIP, group)
        effective = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    except OSError as exc:
        sock.close()
        raise TransportError(
            f"cannot configure the rtnetlink socket: {exc.strerror} (kernel 4.20 or later is "
            "needed for NETLINK_GET_STRICT_CHK)"
        ) from exc
    return sock, effective


class NetlinkSocket:
    """The command socket: requests, batches and dumps, one at a time in order.

    Use as an async context manager, or call :meth:`close`.

    Args:
        rcvbuf: receive buffer to ask for, in bytes.
    """

    def __init__(self, rcvbuf: int = DEFAULT_RCVBUF) -> None:
        self._sock, self.rcvbuf = _open(rcvbuf)
        self._channel = Channel()
        self._buffer = bytearray(RECV_BUFFER_SIZE)
        self._lock = asyncio.Lock()
        #: Requests a datagram may carry so that all their error replies fit the buffer.
        self.batch_requests = max(8, self.rcvbuf // _RCVBUF_PER_REQUEST)
        #: The thread that sends the datagrams of big batches (made on first use; our own,
        #: so that work queued on the loop's default executor never holds a batch up).
        self._sender: ThreadPoolExecutor | None = None

    async def __aenter__(self) -> NetlinkSocket:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the socket. Pending requests are abandoned."""
        self._channel.abandon()
        if self._sender is not None:
            self._sender.shutdown(wait=False)
        self._sock.close()

    async def _recv(self) -> bytes:
        loop = asyncio.get_running_loop()
        try:
            n = await loop.sock_recv_into(self._sock, self._buffer)
        except OSError as exc:
            if exc.errno == errno.ENOBUFS:
                # Replies were dropped: we cannot tell which requests succeeded.
                lost = self._channel.abandon()
                raise TransportError(
                    f"netlink replies lost (ENOBUFS) for {len(lost)} requests; raise rcvbuf"
                ) from exc
            raise TransportError(f"netlink receive failed: {exc.strerror}") from exc
        return bytes(self._buffer[:n])

    def _send(self, data: bytes) -> None:
        try:
            self._sock.send(data)
        except OSError as exc:
            raise self._send_failed(exc) from exc

    def _send_failed(self, exc: OSError) -> TransportError:
        self._channel.abandon()
        return TransportError(f"netlink send failed: {exc.strerror}")

    async def _wait(self, seq: int) -> Reply:
        """Receive until the request numbered ``seq`` has its reply."""
        while True:
            for reply in self._channel.receive(await self._recv()):
                if isinstance(reply, Reply) and reply.seq == seq:
                    return reply

    async def _wait_batch(self, first: int) -> BatchReply:
        """Receive until the batch starting at ``first`` is settled."""
        while True:
            for reply in self._channel.receive(await self._recv()):
                if isinstance(reply, BatchReply) and reply.first == first:
                    return reply

    async def request(self, msg: Message) -> Reply:
        """Send one request and wait for its ACK (or answer).

        Raises:
            NetlinkError: the kernel refused it (errno and extended-ack text).
            TransportError: the socket failed.
        """
        async with self._lock:
            seq, data = self._channel.request(msg)
            self._send(data)
            reply = await self._wait(seq)
        if reply.error is not None:
            raise reply.error
        return reply

    async def dump(self, msg: Message) -> list[Message]:
        """Send a dump request and collect every entry until NLMSG_DONE.

        An interrupted dump (NLM_F_DUMP_INTR: the table changed meanwhile) is repeated up to
        :data:`MAX_DUMP_RETRIES` times; after that the last, possibly inconsistent, result is
        returned.

        Raises:
            NetlinkError: the kernel refused the dump.
        """
        async with self._lock:
            for _attempt in range(MAX_DUMP_RETRIES + 1):
                seq, data = self._channel.request(msg, ack=False)
                # Python's cyclic GC walks every live container; a dump creates hundreds of
                # thousands of small tuples, and collections triggered meanwhile would take a
                # third of the time. Nothing here is cyclic, so pause it for the dump.
                paused = gc.isenabled()
                gc.disable()
                try:
                    self._send(data)
                    reply = await self._wait(seq)
                finally:
                    if paused:
                        gc.enable()
                if reply.error is not None:
                    raise reply.error
                if not reply.interrupted:
                    break
        return list(reply.messages)

    async def batch(self, messages: Sequence[Message]) -> list[NetlinkError | None]:
        """Send many requests, packed many per datagram, and return each one's outcome.

        Only the last request of each datagram asks for an ACK; failures come back per
        request anyway (see :mod:`netlinkbgp.codec.channel`).

        Returns:
            For each message, in order: ``None`` on success or the :class:`NetlinkError`.

        Raises:
            TransportError: the socket failed (outcomes unknown).
        """
        return await self._batched(messages, self._channel.batch)

    async def routes(
        self, msg_type: int, specs: Sequence[RouteSpec], flags: int = 0
    ) -> list[NetlinkError | None]:
        """Add, replace or delete many routes (the fast path of :meth:`batch`).

        Args:
            msg_type: RTM_NEWROUTE or RTM_DELROUTE.
            specs: the routes (a :class:`~netlinkbgp.codec.route_requests.PackedRoutes` is
                encoded without a spec per route).
            flags: for adds, NLM_F_CREATE | NLM_F_EXCL (fail if present) or
                NLM_F_CREATE | NLM_F_REPLACE (add or replace).

        Returns:
            For each spec, in order: ``None`` on success or the :class:`NetlinkError`
            (a delete of a missing route gives ESRCH).
        """

        def encode(chunk: Sequence[RouteSpec]) -> tuple[int, bytes]:
            first = self._channel.reserve(len(chunk))
            return first, encode_route_requests(chunk, msg_type, flags, first)

        if msg_type != RtmType.RTM_DELROUTE or len(specs) < 2:
            return await self._batched(specs, encode)
        # The IPv4 FIB trie rebalances on every delete; removing prefixes in ascending order
        # makes it shrink node by node (measured: 45k deletes/s), descending order does not
        # (200k+/s). Deletes are independent, so we send them highest prefix first and put
        # the results back in the caller's order.
        ordered_specs: Sequence[RouteSpec]
        if isinstance(specs, PackedRoutes):
            order = specs.descending()
            ordered_specs = specs.take(order)
        else:
            order = sorted(range(len(specs)), key=lambda i: (specs[i][0], specs[i][1]),
                           reverse=True)
            ordered_specs = [specs[i] for i in order]
        results = await self._batched(ordered_specs, encode)
        ordered: list[NetlinkError | None] = [None] * len(specs)
        for position, index in enumerate(order):
            ordered[index] = results[position]
        return ordered

    async def _batched(
        self, items: Sequence[_Item], encode: Callable[[Sequence[_Item]], tuple[int, bytes]]
    ) -> list[NetlinkError | None]:
        """Send ``items`` in datagrams of ``encode``, one at a time, each once the previous
        one's outcome is in (so that its error replies always fit the receive buffer).

        The kernel does a datagram's work inside ``sendmsg``, a few milliseconds for hundreds
        of routes. A batch that needs more than one datagram of :data:`MAX_BATCH_REQUESTS`
        goes in datagrams of :data:`MAX_THREADED_BATCH_REQUESTS`, each sent from this
        socket's sender thread (``sendmsg`` releases the GIL) while the loop's thread encodes
        the next one: the kernel's work and ours overlap, and the event loop is free meanwhile.
        """
        results: list[NetlinkError | None] = [None] * len(items)
        async with self._lock:
            if len(items) <= min(self.batch_requests, MAX_BATCH_REQUESTS):
                first, data = encode(items)
                self._send(data)
                for seq, error in (await self._wait_batch(first)).errors.items():
                    results[seq - first] = error
                return results
            step = min(self.batch_requests, MAX_THREADED_BATCH_REQUESTS)
            loop = asyncio.get_running_loop()
            if self._sender is None:
                self._sender = ThreadPoolExecutor(1, thread_name_prefix="netlinkbgp-send")
            following: tuple[int, bytes] | None = encode(items[:step])
            try:
                for start in range(0, len(items), step):
                    assert following is not None
                    first, data = following
                    following = None
                    sending = loop.run_in_executor(self._sender, self._sock.send, data)
                    if start + step < len(items):
                        following = encode(items[start + step : start + 2 * step])
                    try:
                        await asyncio.shield(sending)
                    except OSError as exc:
                        raise self._send_failed(exc) from exc
                    except asyncio.CancelledError:
                        # Let the kernel finish this datagram before the lock goes: one sent
                        # beside it could overflow the receive buffer with both's errors.
                        await asyncio.wait((sending,))
                        if not sending.cancelled() and sending.exception() is not None:
                            self._channel.abandon()
                        raise
                    for seq, error in (await self._wait_batch(first)).errors.items():
                        results[start + seq - first] = error
            finally:
                if following is not None:  # encoded, never sent (an error, a cancellation)
                    self._channel.release(following[0])
        return results

    async def dump_routes(
        self, family: int = socket.AF_UNSPEC, table: int = 0
    ) -> list[RouteMessage]:
        """Every route of ``family`` (both when AF_UNSPEC), of ``table`` only when non-zero."""
        messages = await self.dump(dump_request(RtmType.RTM_GETROUTE, family, table))
        return [m for m in messages if isinstance(m, RouteMessage)]

    async def dump_links(self) -> list[LinkMessage]:
        """Every network interface."""
        messages = await self.dump(dump_request(RtmType.RTM_GETLINK))
        return [m for m in messages if isinstance(m, LinkMessage)]

    async def dump_addresses(self, family: int = socket.AF_UNSPEC) -> list[AddressMessage]:
        """Every interface address of ``family``."""
        messages = await self.dump(dump_request(RtmType.RTM_GETADDR, family))
        return [m for m in messages if isinstance(m, AddressMessage)]

    async def get_route(
        self,
        destination: IPv4Address | IPv6Address | IPv4Network | IPv6Network,
        oif: int = 0,
        fibmatch: bool = True,
    ) -> RouteMessage | None:
        """Look up the route the kernel would use for ``destination`` (RTM_GETROUTE).

        The kernel's lookup follows the policy rules; it cannot be pinned to a table except
        through a VRF device (pass the VRF's index as ``oif``). Table-scoped checks belong to
        the caller (the Exporter dumps the table and matches prefixes itself).

        Args:
            destination: an address (or a prefix, whose network address is looked up).
            oif: force this outgoing interface (or VRF device).
            fibmatch: return the FIB entry that matched (RTM_F_FIB_MATCH), as
                ``ip route get fibmatch`` does, rather than a resolved, cloned route.

        Returns:
            The matching route, or ``None`` when there is none (ENETUNREACH, EHOSTUNREACH...).
        """
        net = ip_network(destination)
        family = socket.AF_INET if net.version == 4 else socket.AF_INET6
        attrs: list[Attr] = [(Rta.RTA_DST, net.network_address.packed)]
        if oif:
            attrs.append((Rta.RTA_OIF, oif))
        msg = RouteMessage(
            RtmType.RTM_GETROUTE, NlmFlag.NLM_F_REQUEST, 0, 0, family, net.max_prefixlen,
            0, 0, 0, 0, 0, 0, RtmFlag.RTM_F_FIB_MATCH if fibmatch else 0, tuple(attrs),
        )
        try:
            reply = await self.request(msg)
        except NetlinkError as exc:
            if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ESRCH, errno.ENOENT):
                return None
            raise
        routes = [m for m in reply.messages if isinstance(m, RouteMessage)]
        return routes[0] if routes else None


class EventSocket:
    """The event socket: multicast notifications of route, link and address changes.

    Iterate with ``async for batch in events`` to get lists of messages, one list per
    datagram, or an :class:`Overrun` when the kernel dropped events.

    Args:
        groups: multicast groups (:class:`Rtnlgrp`) to join.
        rcvbuf: receive buffer to ask for, in bytes; the smaller, the sooner an overrun.
    """

    def __init__(
        self, groups: Sequence[int] = DEFAULT_EVENT_GROUPS, rcvbuf: int = DEFAULT_RCVBUF
    ) -> None:
        self._sock, self.rcvbuf = _open(rcvbuf, groups)
        self._buffer = bytearray(RECV_BUFFER_SIZE)
        #: Overruns seen so far.
        self.overruns = 0
        #: Datagrams that failed to decode (counted and skipped).
        self.decode_errors = 0

    async def __aenter__(self) -> EventSocket:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the socket."""
        self._sock.close()

    def fileno(self) -> int:
        """The socket's file descriptor."""
        return self._sock.fileno()

    async def receive(self) -> list[Message] | Overrun:
        """Wait for the next datagram of events.

        Returns:
            Its messages, or an :class:`Overrun` when events were lost.

        Raises:
            TransportError: the socket failed for another reason.
        """
        loop = asyncio.get_running_loop()
        while True:
            try:
                n = await loop.sock_recv_into(self._sock, self._buffer)
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    self.overruns += 1
                    return Overrun(self.overruns)
                raise TransportError(f"netlink event receive failed: {exc.strerror}") from exc
            try:
                return decode_messages(bytes(self._buffer[:n]))
            except DecodeError:
                self.decode_errors += 1

    def drain(self) -> list[Message] | Overrun:
        """Read what is queued now without waiting (an empty list when nothing is)."""
        out: list[Message] = []
        while True:
            try:
                n = self._sock.recv_into(self._buffer)
            except BlockingIOError:
                return out
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    self.overruns += 1
                    return Overrun(self.overruns)
                raise TransportError(f"netlink event receive failed: {exc.strerror}") from exc
            try:
                out.extend(decode_messages(bytes(self._buffer[:n])))
            except DecodeError:
                self.decode_errors += 1

    def __aiter__(self) -> AsyncIterator[list[Message] | Overrun]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[list[Message] | Overrun]:
        while True:
            yield await self.receive()
