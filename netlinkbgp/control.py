"""The daemon's control socket: JSON lines over a Unix stream socket.

One request per line, one reply per line, in order::

    {"id": 1, "method": "GetNetlinkExportStats", "params": {}}
    {"version": 1, "id": 1, "result": {"exported": 12, ...}}

A failed call replies ``{"version": 1, "id": ..., "error": {"type": ..., "message": ...}}``;
``type`` is the exception class name (``ConfigError``, ``InvalidValueError``, ...) or one of
``BadRequest`` (not JSON, not an object, no method), ``UnknownMethod`` and ``LineTooLong``.
Bad input never ends the daemon; a line over :data:`MAX_LINE` bytes also closes that
connection, since the rest of the line cannot be told from the next request.

The socket is created with mode 0600 (only its owner may connect) unless asked otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import stat
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from netlinkbgp.aio import cancel_and_wait
from netlinkbgp.errors import NetlinkBGPError, TransportError

__all__ = [
    "CONTROL_VERSION",
    "MAX_LINE",
    "ControlError",
    "ControlServer",
    "Handler",
    "call",
]

log = logging.getLogger(__name__)

#: Version of the reply envelope and of the result shapes documented in docs/cli.rst; it
#: changes when a field is removed or changes meaning (adding fields does not change it).
CONTROL_VERSION = 1
#: Longest request line accepted. The largest legitimate request (AddPath with many
#: communities) is well under 4 KiB; 64 KiB leaves room without letting a client make the
#: daemon buffer without bound.
MAX_LINE = 64 * 1024
#: Largest reply a client accepts: a full table listed by ListPath is ~1.2M routes of ~200
#: bytes each; 1 GiB is far above that and still a bound.
MAX_REPLY = 1 << 30

Handler = Callable[[str, Mapping[str, Any]], Awaitable[Any]]


class ControlError(NetlinkBGPError):
    """The daemon answered a control call with an error.

    Attributes:
        type: the error's type name as the daemon reported it.
    """

    def __init__(self, type_: str, message: str) -> None:
        super().__init__(message)
        self.type = type_


def _reply(request_id: Any, **body: Any) -> bytes:
    return json.dumps({"version": CONTROL_VERSION, "id": request_id, **body},
                      separators=(",", ":")).encode() + b"\n"


def _error(request_id: Any, type_: str, message: str) -> bytes:
    return _reply(request_id, error={"type": type_, "message": message})


class ControlServer:
    """Serves ``handler(method, params)`` on a Unix socket.

    Args:
        path: the socket's path; an existing socket file there is replaced (a stale one from
            a previous run), any other file is an error.
        handler: called for each request; its result must be JSON-serialisable. A
            :class:`~netlinkbgp.errors.NetlinkBGPError` becomes an error reply with its text;
            any other exception too, logged with its traceback (a bug, but not a reason to
            stop serving).
        mode: permission bits of the socket file.
    """

    def __init__(self, path: str, handler: Handler, mode: int = 0o600) -> None:
        self.path = path
        self.handler = handler
        self.mode = mode
        self._server: asyncio.AbstractServer | None = None
        self._clients: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Create the socket and accept connections.

        Raises:
            TransportError: the path is taken by something that is not a socket, or the
                socket cannot be created there.
        """
        with contextlib.suppress(FileNotFoundError):
            if not _is_socket(self.path):
                raise TransportError(f"control socket {self.path}: exists and is not a socket")
            os.unlink(self.path)
        old_umask = os.umask(0o777 & ~self.mode)
        try:
            self._server = await asyncio.start_unix_server(self._serve, self.path,
                                                           limit=MAX_LINE)
        except OSError as exc:
            raise TransportError(f"control socket {self.path}: {exc.strerror}") from None
        finally:
            os.umask(old_umask)
        os.chmod(self.path, self.mode)

    async def stop(self) -> None:
        """Stop accepting, close every connection and remove the socket file."""
        if self._server is not None:
            self._server.close()
            self._server = None
        await cancel_and_wait(self._clients)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        try:
            while True:
                try:
                    line = await reader.readuntil(b"\n")
                except asyncio.IncompleteReadError as exc:
                    if exc.partial.strip():  # a last request without its newline
                        writer.write(await self._answer(exc.partial))
                    break
                except asyncio.LimitOverrunError:
                    writer.write(_error(None, "LineTooLong",
                                        f"request line longer than {MAX_LINE} bytes"))
                    break
                writer.write(await self._answer(line))
                await writer.drain()
            await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._clients.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _answer(self, line: bytes) -> bytes:
        try:
            request = json.loads(line)
        except (ValueError, UnicodeDecodeError) as exc:
            return _error(None, "BadRequest", f"not JSON: {exc}")
        if not isinstance(request, dict):
            return _error(None, "BadRequest", "a request is a JSON object")
        request_id = request.get("id")
        method = request.get("method")
        params = request.get("params", {})
        if not isinstance(method, str) or not isinstance(params, dict):
            return _error(request_id, "BadRequest",
                          'a request needs "method" (a string) and optional "params" (an object)')
        try:
            result = await self.handler(method, params)
        except KeyError as exc:
            return _error(request_id, "UnknownMethod", str(exc.args[0]) if exc.args else method)
        except NetlinkBGPError as exc:
            return _error(request_id, type(exc).__name__, str(exc))
        except Exception as exc:  # a bug in a handler must not end the daemon
            log.exception("control call %s failed", method)
            return _error(request_id, "InternalError", f"{type(exc).__name__}: {exc}")
        try:
            return _reply(request_id, result=result)
        except (TypeError, ValueError) as exc:
            log.error("control call %s: result not serialisable: %s", method, exc)
            return _error(request_id, "InternalError", "result not serialisable")


def _is_socket(path: str) -> bool:
    return stat.S_ISSOCK(os.stat(path).st_mode)


async def call(path: str, method: str, params: Mapping[str, Any] | None = None,
               timeout: float = 30.0) -> Any:
    """One control call.

    Args:
        path: the daemon's control socket.
        method: the call's name (``ListPeer``, ``GetNetlinkExportStats``...).
        params: its parameters.
        timeout: seconds to wait for the reply.

    Returns:
        The ``result`` of the reply.

    Raises:
        TransportError: no daemon listens there, or the connection failed.
        ControlError: the daemon answered with an error.
    """
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_unix_connection(path, limit=MAX_REPLY), timeout)
    except (OSError, TimeoutError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "timed out"
        raise TransportError(f"cannot reach the daemon at {path}: {reason} "
                             "(is `netlinkbgp run` running, with this --control-socket?)") from None
    try:
        writer.write(json.dumps({"id": 1, "method": method, "params": dict(params or {})})
                     .encode() + b"\n")
        line = await asyncio.wait_for(reader.readline(), timeout)
    except (OSError, TimeoutError, asyncio.LimitOverrunError, ValueError) as exc:
        raise TransportError(f"control call {method}: {exc or 'timed out'}") from None
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    try:
        reply = json.loads(line)
    except ValueError:
        raise TransportError(f"control call {method}: the daemon closed the connection "
                             "or replied garbage") from None
    if not isinstance(reply, dict):
        raise TransportError(f"control call {method}: unexpected reply {line[:80]!r}")
    if "error" in reply:
        error = reply["error"]
        raise ControlError(str(error.get("type", "Error")), str(error.get("message", "")))
    return reply.get("result")

