"""netlinkbgp: rtnetlink and BGP-4 by hand, wired together.

The public API is what this module exports; everything else is an implementation detail.
"""

from netlinkbgp.config import DaemonConfig, VrfConfig, parse_config
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
from netlinkbgp.export_config import (
    ExportConfig,
    ExportedRoute,
    ExportRule,
    ExportStats,
    ExportVrf,
)
from netlinkbgp.exporter import Exporter
from netlinkbgp.importer import ImportConfig, Importer, ImportStats, VrfImport
from netlinkbgp.route import NextHop, Origin, Route, RouteDistinguisher, RouteEvent, RouteSink
from netlinkbgp.speaker import Speaker
from netlinkbgp.speaker_config import (
    PeerConfig,
    PeerEvent,
    PeerStatus,
    PrefixFilter,
    SpeakerConfig,
    SpeakerStats,
)

__all__ = [
    "ConfigError",
    "DaemonConfig",
    "DecodeError",
    "ExportConfig",
    "ExportRule",
    "ExportStats",
    "ExportVrf",
    "ExportedRoute",
    "Exporter",
    "ImportConfig",
    "ImportStats",
    "Importer",
    "InvalidValueError",
    "LocalProtocolError",
    "NetlinkBGPError",
    "NetlinkError",
    "NextHop",
    "Origin",
    "PeerConfig",
    "PeerEvent",
    "PeerStatus",
    "PrefixFilter",
    "RemoteProtocolError",
    "Route",
    "RouteDistinguisher",
    "RouteEvent",
    "RouteSink",
    "Speaker",
    "SpeakerConfig",
    "SpeakerStats",
    "TransportError",
    "VrfConfig",
    "VrfImport",
    "parse_config",
]

__version__ = "0.1.0"
