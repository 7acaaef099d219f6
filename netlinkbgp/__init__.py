"""netlinkbgp: rtnetlink and BGP-4 by hand, wired together.

The public API is what this module exports; everything else is an implementation detail.

The exceptions are imported here; the rest on first use (PEP 562 ``__getattr__``), so that a
process that needs only part of the package (``netlinkbgp route -b FILE`` needs the rtnetlink
codec, not the BGP speaker) does not pay for importing all of it at start-up.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from netlinkbgp.config import DaemonConfig, VrfConfig, parse_config
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

#: Public name -> the module that defines it (imported on first access).
_LAZY = {
    "DaemonConfig": "netlinkbgp.config",
    "VrfConfig": "netlinkbgp.config",
    "parse_config": "netlinkbgp.config",
    "ExportConfig": "netlinkbgp.export_config",
    "ExportRule": "netlinkbgp.export_config",
    "ExportStats": "netlinkbgp.export_config",
    "ExportVrf": "netlinkbgp.export_config",
    "ExportedRoute": "netlinkbgp.export_config",
    "Exporter": "netlinkbgp.exporter",
    "ImportConfig": "netlinkbgp.importer",
    "ImportStats": "netlinkbgp.importer",
    "Importer": "netlinkbgp.importer",
    "VrfImport": "netlinkbgp.importer",
    "NextHop": "netlinkbgp.route",
    "Origin": "netlinkbgp.route",
    "Route": "netlinkbgp.route",
    "RouteDistinguisher": "netlinkbgp.route",
    "RouteEvent": "netlinkbgp.route",
    "RouteSink": "netlinkbgp.route",
    "Speaker": "netlinkbgp.speaker",
    "PeerConfig": "netlinkbgp.speaker_config",
    "PeerEvent": "netlinkbgp.speaker_config",
    "PeerStatus": "netlinkbgp.speaker_config",
    "PrefixFilter": "netlinkbgp.speaker_config",
    "SpeakerConfig": "netlinkbgp.speaker_config",
    "SpeakerStats": "netlinkbgp.speaker_config",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'netlinkbgp' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later lookups find it directly
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

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
