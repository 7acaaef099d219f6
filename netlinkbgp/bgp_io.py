"""asyncio TCP for BGP sessions: connect, listen, TCP MD5 (RFC 2385), TTL security (GTSM,
RFC 5082) and binding to a VRF device.

These functions only prepare sockets and move bytes; the protocol is
:class:`netlinkbgp.bgp.session.Session`'s. A missing kernel feature or privilege raises one
:class:`~netlinkbgp.errors.TransportError` that names it.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address

from netlinkbgp.errors import TransportError

__all__ = [
    "BGP_PORT",
    "TcpOptions",
    "apply_options",
    "connect",
    "listen",
    "set_md5_key",
]

#: The BGP port (RFC 4271 §8.2.1).
BGP_PORT = 179
#: ``TCP_MD5SIG`` socket option (linux/tcp.h) and the longest key it takes.
TCP_MD5SIG = 14
TCP_MD5SIG_MAXKEYLEN = 80
#: ``IP_MINTTL`` (linux/in.h) and ``IPV6_MINHOPCOUNT`` (linux/in6.h): drop packets whose
#: TTL / hop limit is below this (GTSM, RFC 5082).
IP_MINTTL = 21
IPV6_MINHOPCOUNT = 73
#: ``SO_BINDTODEVICE`` (asm-generic/socket.h).
SO_BINDTODEVICE = 25
#: struct tcp_md5sig: sockaddr_storage (128), flags u8, prefixlen u8, keylen u16,
#: ifindex s32, key[80].
_MD5SIG = struct.Struct("=128sBBHi80s")
#: Seconds a connection attempt may take before it counts as failed.
DEFAULT_CONNECT_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class TcpOptions:
    """Socket options of one BGP connection.

    Attributes:
        local_address: source address to bind, or ``None`` for the kernel's choice.
        md5_password: TCP MD5 key shared with the peer (RFC 2385), at most 80 bytes.
        ttl_security: GTSM (RFC 5082): send with TTL 255 and accept only TTL 255 - hops + 1.
        ttl_hops: hops to the peer allowed under GTSM (1 = directly connected).
        bind_device: interface or VRF device to bind to (``SO_BINDTODEVICE``).
    """

    local_address: str | None = None
    md5_password: str | None = None
    ttl_security: bool = False
    ttl_hops: int = 1
    bind_device: str | None = None


def _sockaddr_storage(address: IPv4Address | IPv6Address) -> bytes:
    if address.version == 4:
        raw = struct.pack("=H2x4s", socket.AF_INET, address.packed)
    else:
        raw = struct.pack("=H2xI16sI", socket.AF_INET6, 0, address.packed, 0)
    return raw.ljust(128, b"\0")


def set_md5_key(sock: socket.socket, peer: str, password: str | None) -> None:
    """Install (or, with ``None``, remove) the TCP MD5 key for ``peer`` on ``sock``.

    Raises:
        TransportError: the key is too long, or the kernel lacks TCP MD5 support.
    """
    key = (password or "").encode()
    if len(key) > TCP_MD5SIG_MAXKEYLEN:
        raise TransportError(f"TCP MD5 password is {len(key)} bytes; the kernel takes 80")
    address = ip_address(peer)
    if sock.family == socket.AF_INET6 and address.version == 4:
        address = IPv6Address(f"::ffff:{address}")  # a v4 peer on a dual-stack socket
    value = _MD5SIG.pack(_sockaddr_storage(address), 0, 0, len(key), 0, key)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, TCP_MD5SIG, value)
    except OSError as exc:
        if exc.errno in (errno.ENOPROTOOPT, errno.EINVAL, errno.ENOENT) and password:
            raise TransportError(f"TCP MD5 (RFC 2385) is not available: {exc.strerror} "
                                 "(kernel built without CONFIG_TCP_MD5SIG?)") from exc
        if exc.errno == errno.ENOENT:
            return  # removing a key that was never set
        raise TransportError(f"cannot set the TCP MD5 key for {peer}: {exc.strerror}") from exc


def apply_options(sock: socket.socket, peer: str | None, options: TcpOptions) -> None:
    """Set the options on a socket before connect/listen.

    Raises:
        TransportError: an option is not supported or not permitted; the message names it.
    """
    v6 = sock.family == socket.AF_INET6
    if options.bind_device:
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, options.bind_device.encode())
        except OSError as exc:
            hint = " (needs CAP_NET_RAW)" if exc.errno == errno.EPERM else ""
            raise TransportError(f"cannot bind to device {options.bind_device!r}: "
                                 f"{exc.strerror}{hint}") from exc
    if options.ttl_security:
        if not 1 <= options.ttl_hops <= 254:
            raise TransportError(f"ttl_hops {options.ttl_hops} is outside 1..254")
        try:
            if v6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 255)
                sock.setsockopt(socket.IPPROTO_IPV6, IPV6_MINHOPCOUNT, 256 - options.ttl_hops)
            else:
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 255)
                sock.setsockopt(socket.IPPROTO_IP, IP_MINTTL, 256 - options.ttl_hops)
        except OSError as exc:
            raise TransportError(f"TTL security (GTSM) is not available: {exc.strerror}") from exc
    if options.md5_password and peer is not None:
        set_md5_key(sock, peer, options.md5_password)
    if options.local_address:
        try:
            sock.bind((options.local_address, 0))
        except OSError as exc:
            raise TransportError(f"cannot bind to {options.local_address}: "
                                 f"{exc.strerror}") from exc


async def connect(
    peer: str, port: int = BGP_PORT, options: TcpOptions = TcpOptions(),
    timeout: float = DEFAULT_CONNECT_TIMEOUT,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open a TCP connection to a BGP peer with the given options.

    Raises:
        TransportError: the options could not be applied, or the connection failed or timed
            out (with MD5, a wrong key shows as a timeout: the peer drops our segments).
    """
    family = socket.AF_INET6 if ip_address(peer).version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        apply_options(sock, peer, options)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await asyncio.wait_for(loop.sock_connect(sock, (peer, port)), timeout)
        return await asyncio.open_connection(sock=sock)
    except TimeoutError:
        sock.close()
        why = " (a TCP MD5 key mismatch looks like this)" if options.md5_password else ""
        raise TransportError(f"connection to {peer} port {port} timed out{why}") from None
    except OSError as exc:
        sock.close()
        # asyncio's sock_connect puts "Connect call failed (addr)" in strerror: name the errno
        reason = os.strerror(exc.errno) if exc.errno else exc.strerror
        raise TransportError(f"cannot connect to {peer} port {port}: {reason}") from exc
    except BaseException:
        sock.close()
        raise


async def listen(
    address: str, port: int,
    handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
    options: TcpOptions = TcpOptions(), md5_peers: dict[str, str] | None = None,
) -> asyncio.Server:
    """Listen for BGP connections (port 0 picks a free port: see ``server.sockets``).

    Args:
        address: the address to listen on.
        port: the port.
        handler: called for each accepted connection.
        options: socket options (``md5_password`` is ignored here: give keys per peer).
        md5_peers: peer address -> TCP MD5 password; segments from these peers must carry it.

    Raises:
        TransportError: the address cannot be bound (in use, not local, no privilege for
            ports below 1024...).
    """
    family = socket.AF_INET6 if ip_address(address).version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        apply_options(sock, None, TcpOptions(None, None, options.ttl_security, options.ttl_hops,
                                             options.bind_device))
        for peer, password in (md5_peers or {}).items():
            set_md5_key(sock, peer, password)
        sock.bind((address, port))
        sock.listen(64)
        sock.setblocking(False)
        return await asyncio.start_server(handler, sock=sock)
    except OSError as exc:
        sock.close()
        hint = " (ports below 1024 need CAP_NET_BIND_SERVICE)" if exc.errno == errno.EACCES else ""
        raise TransportError(f"cannot listen on {address} port {port}: "
                             f"{exc.strerror}{hint}") from exc
    except BaseException:
        sock.close()
        raise
