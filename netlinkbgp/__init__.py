"""netlinkbgp: rtnetlink and BGP-4 by hand, wired together.

The public API is what this module exports; everything else is an implementation detail.
"""

from netlinkbgp.errors import (
    ConfigError,
    DecodeError,
    InvalidValueError,
    LocalProtocolError,
    NetlinkBGPError,
    NetlinkError,
    RemoteProtocolError,
    TransportError,
)
from netlinkbgp.route import NextHop, Origin, Route, RouteDistinguisher, RouteEvent, RouteSink

__all__ = [
    "ConfigError",
    "DecodeError",
    "InvalidValueError",
    "LocalProtocolError",
    "NetlinkBGPError",
    "NetlinkError",
    "NextHop",
    "Origin",
    "RemoteProtocolError",
    "Route",
    "RouteDistinguisher",
    "RouteEvent",
    "RouteSink",
    "TransportError",
]

__version__ = "0.1.0"
