"""Prometheus text exposition of the daemon's figures (``netlinkbgp run --metrics ADDR``).

The same counters as the control calls (``GetStats``), under stable names: every field of
ImportStats, ExportStats and SpeakerStats that is a number, and per-peer gauges labelled by
peer address. Served over plain HTTP/1.0 on ``GET /metrics``; anything else gets a 404.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from netlinkbgp.errors import TransportError

__all__ = ["MetricsServer", "render"]

#: Longest request head read (request line and headers). Prometheus sends a few hundred
#: bytes; anything longer is not a scraper.
MAX_REQUEST = 8192
#: Seconds a client may take to send its request.
REQUEST_TIMEOUT = 10.0

#: Counters (monotonic) among each section's fields; every other number is a gauge.
_COUNTERS = {
    "speaker": {"sink_events", "events_dropped"},
    "import": {"imported", "withdrawn", "errors", "resyncs", "overruns"},
    "export": {"exported", "withdrawn", "errors", "nexthop_validation_attempts",
               "nexthop_validation_failures", "dampened", "resyncs"},
    "peer": {"attempts", "connections", "established", "advertised", "withdrawn",
             "updates_received", "updates_sent"},
}
_PEER_FIELDS = ("attempts", "connections", "established", "advertised", "withdrawn",
                "received_prefixes", "accepted_prefixes", "stale_prefixes", "adj_rib_out",
                "updates_received", "updates_sent", "hold_time", "uptime")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render(stats: Mapping[str, Any]) -> str:
    """The text exposition of a ``GetStats`` result."""
    lines: list[str] = []
    typed: set[str] = set()

    def metric(name: str, value: float, labels: str = "", counter: bool = False) -> None:
        full = f"netlinkbgp_{name}" + ("_total" if counter else "")
        if full not in typed:
            typed.add(full)
            lines.append(f"# TYPE {full} {'counter' if counter else 'gauge'}")
        lines.append(f"{full}{labels} {value}")

    metric("uptime_seconds", round(float(stats.get("uptime", 0.0)), 3))
    for section in ("speaker", "import", "export"):
        values = stats.get(section) or {}
        if section != "speaker":
            metric(f"{section}_enabled", int(bool(values.get("enabled"))))
        for key, value in values.items():
            if key.endswith("_time"):
                if value is not None:
                    metric(f"{section}_{key}_seconds", value)
            elif _number(value) and key != "enabled":
                metric(f"{section}_{key}", value, counter=key in _COUNTERS[section])
    peers = stats.get("peers") or []
    for field in ("up", *_PEER_FIELDS):
        for peer in peers:
            labels = f'{{peer="{_escape(str(peer.get("address", "")))}"}}'
            if field == "up":
                metric("peer_up", int(peer.get("state") == "Established"), labels)
            elif _number(peer.get(field)):
                metric(f"peer_{field}", peer[field], labels,
                       counter=field in _COUNTERS["peer"])
    return "\n".join(lines) + "\n"


class MetricsServer:
    """Serves ``render(await stats())`` at ``http://HOST:PORT/metrics``.

    Args:
        host, port: where to listen (port 0: any free port, see :attr:`port`).
        stats: returns the ``GetStats`` result.
    """

    def __init__(self, host: str, port: int,
                 stats: Callable[[], Awaitable[Mapping[str, Any]]]) -> None:
        self.host = host
        self._port = port
        self._stats = stats
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        """The port actually listened on."""
        if self._server is None or not self._server.sockets:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        """Listen.

        Raises:
            TransportError: the address cannot be bound.
        """
        try:
            self._server = await asyncio.start_server(self._serve, self.host, self._port,
                                                      limit=MAX_REQUEST)
        except OSError as exc:
            raise TransportError(f"metrics {self.host}:{self._port}: {exc.strerror}") from None

    async def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_TIMEOUT)
            request = head.split(b"\r\n", 1)[0].split()
            if len(request) >= 2 and request[0] == b"GET" and request[1] in (b"/metrics",
                                                                             b"/"):
                body = render(await self._stats()).encode()
                status, kind = b"200 OK", b"text/plain; version=0.0.4"
            else:
                body, status, kind = b"not found: try /metrics\n", b"404 Not Found", b"text/plain"
            writer.write(b"HTTP/1.0 " + status + b"\r\nContent-Type: " + kind
                         + b"\r\nContent-Length: " + str(len(body)).encode()
                         + b"\r\nConnection: close\r\n\r\n" + body)
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ConnectionError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()
