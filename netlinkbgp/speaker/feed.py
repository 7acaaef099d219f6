"""Feeding a route sink through a bounded, coalescing queue."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Iterable

from netlinkbgp.bgp.nlri import Family
from netlinkbgp.bgp.rib import LocRib, Path, RibChange, split_key
from netlinkbgp.route import Route, RouteEvent, RouteSink
from netlinkbgp.speaker.out import key_network

__all__ = ["SinkFeed"]

log = logging.getLogger(__name__)


class SinkFeed:
    """One sink's coalescing queue: prefix -> the best path the sink saw last."""

    def __init__(self, sink: RouteSink) -> None:
        self.sink = sink
        self.pending: dict[tuple[Family, int], Path | None] = {}
        self.wake = asyncio.Event()
        self.idle = asyncio.Event()
        self.idle.set()
        self.end_of_rib = False
        self.delivered = 0
        self.errors = 0
        self.task: asyncio.Task[None] | None = None

    def push(self, changes: Iterable[RibChange]) -> None:
        pending = self.pending
        for change in changes:
            ident = (change.family, change.key)
            if ident not in pending:
                pending[ident] = change.old
        if pending:
            self.idle.clear()
            self.wake.set()

    def mark_end_of_rib(self) -> None:
        self.end_of_rib = True
        self.idle.clear()
        self.wake.set()

    async def run(self, loc_rib: LocRib, batch: int) -> None:
        pending = self.pending
        while True:
            await self.wake.wait()
            self.wake.clear()
            while pending or self.end_of_rib:
                events: list[RouteEvent] = []
                for ident in list(itertools.islice(pending, batch)):
                    old = pending.pop(ident)
                    family, key = ident
                    new = loc_rib.best(family, key)
                    if new is old:
                        continue
                    if new is None:
                        assert old is not None
                        rd = split_key(family, key)[2]
                        events.append(RouteEvent("withdraw", Route(
                            key_network(family, key), rd=rd, labels=old.labels,
                            source=str(old.peer.address))))
                    else:
                        events.append(RouteEvent("announce", new.to_route(family, key)))
                if not pending and self.end_of_rib:
                    self.end_of_rib = False
                    events.append(RouteEvent("end-of-rib", None))
                if events:
                    try:
                        self.sink.apply(events)
                    except Exception:  # a failing sink must not stop the speaker
                        self.errors += 1
                        log.exception("route sink %r failed", self.sink)
                    self.delivered += len(events)
                await asyncio.sleep(0)
            self.idle.set()


