"""The one exception tree of netlinkbgp.

Every error the library raises on purpose is a :class:`NetlinkBGPError`. Foreign exceptions
(``struct.error``, ``OSError``, construct errors) are translated where they cross into our code,
so callers need one ``except`` clause per kind of failure, never one per module.

::

    NetlinkBGPError
    ├── DecodeError             bytes from the kernel or a peer are truncated or inconsistent
    ├── LocalProtocolError      the caller asked for something impossible
    │   └── InvalidValueError   a text form (community, RD, prefix...) does not parse
    ├── RemoteProtocolError     a BGP peer misbehaved; carries the NOTIFICATION to send
    ├── NetlinkError            the kernel refused a request (errno + extended ack)
    ├── TransportError          a socket could not be opened, bound, or used
    └── ConfigError             a configuration key is wrong (key + line)
"""

from __future__ import annotations

import errno as _errno
import os

__all__ = [
    "ConfigError",
    "DecodeError",
    "InvalidValueError",
    "LocalProtocolError",
    "NetlinkBGPError",
    "NetlinkError",
    "RemoteProtocolError",
    "TransportError",
]


class NetlinkBGPError(Exception):
    """Base class of every error netlinkbgp raises on purpose."""


class DecodeError(NetlinkBGPError):
    """Input bytes are truncated or inconsistent.

    Attributes:
        offset: byte offset, from the start of the buffer handed to the decoder, where the
            problem was found.
    """

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(f"{message} (at byte {offset})")
        self.reason = message
        self.offset = offset

    def __reduce__(self) -> tuple[type, tuple[str, int]]:
        return (type(self), (self.reason, self.offset))


class LocalProtocolError(NetlinkBGPError):
    """The caller misused the API (a message that cannot be encoded, a call in the wrong state)."""


class InvalidValueError(LocalProtocolError, ValueError):
    """A text form given by the caller does not parse (community, RD, route target, prefix)."""


class RemoteProtocolError(NetlinkBGPError):
    """A BGP peer sent something that breaks the protocol.

    Attributes:
        code: NOTIFICATION error code to send (RFC 4271 §4.5).
        subcode: NOTIFICATION error subcode.
        data: NOTIFICATION data field.
    """

    def __init__(self, message: str, code: int, subcode: int = 0, data: bytes = b"") -> None:
        super().__init__(message)
        self.code = code
        self.subcode = subcode
        self.data = data

    def __reduce__(self) -> tuple[type, tuple[str, int, int, bytes]]:
        return (type(self), (str(self), self.code, self.subcode, self.data))


class NetlinkError(NetlinkBGPError):
    """The kernel answered a request with an error.

    Attributes:
        errno: positive errno value (``errno.EEXIST`` ...).
        extack: the kernel's extended-ack text, or ``""`` when it gave none.
        offset: extended-ack offset of the offending attribute in our request, or ``None``.
    """

    def __init__(self, errno: int, extack: str = "", offset: int | None = None) -> None:
        name = _errno.errorcode.get(errno, f"errno {errno}")
        text = f"{name}: {os.strerror(errno)}"
        if extack:
            text += f" ({extack})"
        super().__init__(text)
        self.errno = errno
        self.extack = extack
        self.offset = offset

    def __reduce__(self) -> tuple[type, tuple[int, str, int | None]]:
        return (type(self), (self.errno, self.extack, self.offset))


class TransportError(NetlinkBGPError):
    """A socket could not be created, configured or used (missing privilege or kernel feature)."""


class ConfigError(NetlinkBGPError):
    """A configuration value is wrong.

    Attributes:
        key: dotted name of the offending key (``neighbors[0].config.peer-as``).
        line: 1-based line in the file, or ``None`` when not known.
    """

    def __init__(self, message: str, key: str = "", line: int | None = None) -> None:
        where = key
        if line is not None:
            where = f"{key} (line {line})" if key else f"line {line}"
        super().__init__(f"{where}: {message}" if where else message)
        self.reason = message
        self.key = key
        self.line = line

    def __reduce__(self) -> tuple[type, tuple[str, str, int | None]]:
        return (type(self), (self.reason, self.key, self.line))
