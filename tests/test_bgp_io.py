"""TCP for BGP: real sockets in a private namespace — MD5 keys, GTSM, and a session pair
running over TCP with the sans-IO FSM."""

from __future__ import annotations

import asyncio
import time
from ipaddress import IPv4Address
from typing import Any

import pytest

from netlinkbgp import testing
from netlinkbgp.bgp.session import (
    CloseRequested,
    Established,
    Session,
    SessionConfig,
    State,
)
from netlinkbgp.bgp_io import TcpOptions, connect, listen
from netlinkbgp.errors import TransportError

pytestmark = pytest.mark.usefixtures("netns")


def _md5_body(server_key: str, client_key: str | None) -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        got: list[bytes] = []

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            got.append(await reader.readexactly(5))
            writer.close()

        server = await listen("127.0.0.1", 0, handler, md5_peers={"127.0.0.1": server_key})
        port = server.sockets[0].getsockname()[1]
        try:
            _, writer = await connect("127.0.0.1", port, TcpOptions(md5_password=client_key),
                                      timeout=1.0)
            writer.write(b"hello")
            await writer.drain()
            for _ in range(100):
                if got:
                    break
                await asyncio.sleep(0.01)
            writer.close()
            return {"ok": True, "got": got}
        except TransportError as exc:
            return {"ok": False, "error": str(exc)}
        finally:
            server.close()
    return asyncio.run(main())


def test_md5_matching_keys_connect() -> None:
    out = testing.run_in_netns(_md5_body, "s3cret", "s3cret")
    assert out == {"ok": True, "got": [b"hello"]}


def test_md5_wrong_or_missing_key_fails_with_a_clear_error() -> None:
    wrong = testing.run_in_netns(_md5_body, "s3cret", "other")
    assert not wrong["ok"] and "timed out" in wrong["error"] and "MD5" in wrong["error"]
    missing = testing.run_in_netns(_md5_body, "s3cret", None)
    assert not missing["ok"] and "timed out" in missing["error"]


def test_bad_options_are_typed_errors() -> None:
    async def main() -> list[str]:
        errors = []
        for options in (TcpOptions(md5_password="x" * 81), TcpOptions(bind_device="nope0"),
                        TcpOptions(local_address="203.0.113.254")):
            try:
                await connect("127.0.0.1", 9, options, timeout=0.5)
            except TransportError as exc:
                errors.append(str(exc))
        return errors
    errors = testing.run_in_netns(lambda: asyncio.run(main()))
    assert "80" in errors[0]
    assert "nope0" in errors[1]
    assert "203.0.113.254" in errors[2]


async def _drive(session: Session, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, seconds: float) -> list[Any]:
    """A minimal I/O loop: bytes in and out, timers by the wall clock."""
    events: list[Any] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        data = session.data_to_send()
        if data:
            writer.write(data)
            await writer.drain()
        while (event := session.next_event()) is not None:
            events.append(event)
            if isinstance(event, CloseRequested):
                writer.close()
                return events
        timer = session.get_timer()
        wait = min(0.05, max(0.0, (timer or deadline) - time.monotonic()))
        try:
            chunk = await asyncio.wait_for(reader.read(65536), wait)
        except TimeoutError:
            chunk = None
        now = time.monotonic()
        if chunk == b"":
            session.connection_lost(now)
        elif chunk:
            session.receive_data(chunk, now)
        session.handle_timer(now)
        if session.state is State.ESTABLISHED and any(isinstance(e, Established) for e in events):
            return events
    return events


def _tcp_session_body() -> dict[str, str]:
    a = SessionConfig(65001, IPv4Address("192.0.2.1"), peer_asn=65002, hold_time=9)
    b = SessionConfig(65002, IPv4Address("192.0.2.2"), peer_asn=65001, hold_time=9)

    async def main() -> dict[str, str]:
        passive = Session(b)
        passive.start(time.monotonic(), passive=True)
        done: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            passive.connection_made(time.monotonic(), outgoing=False)
            done.set_result(await _drive(passive, reader, writer, 5))

        server = await listen("127.0.0.1", 0, handler, TcpOptions(ttl_security=True))
        port = server.sockets[0].getsockname()[1]
        active = Session(a)
        active.start(time.monotonic())
        reader, writer = await connect("127.0.0.1", port, TcpOptions(ttl_security=True))
        active.connection_made(time.monotonic())
        await _drive(active, reader, writer, 5)
        await asyncio.wait_for(done, 5)
        server.close()
        return {"a": active.state.value, "b": passive.state.value}
    return asyncio.run(main())


def test_two_sessions_establish_over_tcp_with_gtsm() -> None:
    assert testing.run_in_netns(_tcp_session_body) == {"a": "Established", "b": "Established"}
