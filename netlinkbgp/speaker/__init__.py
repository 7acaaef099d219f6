"""The Speaker: BGP sessions with many peers, local routes out, best paths in.

``from netlinkbgp.speaker import Speaker, SpeakerConfig, PeerConfig`` (also exported by the
package top level). The parts:

* :mod:`~netlinkbgp.speaker.core` — :class:`Speaker`: peers, local RIB, Loc-RIB, sinks,
  events and awaitable milestones;
* :mod:`~netlinkbgp.speaker.peer` — one neighbour: its sans-IO session driven over asyncio,
  connection handling (collisions, graceful restart), Adj-RIB-In and Adj-RIB-Out;
* :mod:`~netlinkbgp.speaker.feed` — a sink's bounded, coalescing queue.
"""

from netlinkbgp.speaker.core import Speaker
from netlinkbgp.speaker_config import (
    PeerConfig,
    PeerEvent,
    PeerStatus,
    PrefixFilter,
    SpeakerConfig,
    SpeakerStats,
)

__all__ = ["PeerConfig", "PeerEvent", "PeerStatus", "PrefixFilter", "Speaker", "SpeakerConfig",
           "SpeakerStats"]
