"""Live viewer counts: exact in one process, summed across processes within a few seconds.

Each hub knows its own subscribers exactly. Once per `PRESENCE_INTERVAL` it tells the other hubs its
counts in one control message (cost: one layer message per process per interval, whatever the number of
viewers); a process that stops reporting is forgotten after a few intervals. Viewers receive a
`viewers` event when the total changes, at most once per interval per topic (a connect storm of 2000
viewers must not become 2000 x 2000 count frames).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from .. import protocol
from .conf import realtime_settings

if TYPE_CHECKING:
    from ..hub import Hub, Room

logger = logging.getLogger("realtime.streams.presence")

EXPIRY_INTERVALS = 3.5  # a process silent for this many intervals no longer counts
MESSAGE_TYPE = "realtime.presence"


class Presence:
    """One per hub (`hub.service(Presence)`), attached through the hub's public hooks."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.interval = float(realtime_settings.PRESENCE_INTERVAL)
        self.tracked: set[str] = set()  # topics with local rooms whose viewers are counted
        # topic -> origin hub channel -> (count, expires at loop time)
        self.remote: dict[str, dict[str, tuple[int, float]]] = {}
        self.sent: dict[str, int] = {}
        self.last_emit: dict[str, float] = {}
        self.scheduled: set[str] = set()
        self.reported: set[str] = set()
        hub.room_observers.append(self.changed)
        hub.closed_observers.append(self.forget)
        hub.on_message(MESSAGE_TYPE, self.receive)
        hub.spawn(self.run())

    def track(self, topic: str) -> int:
        """Count viewers of `topic` from now on (while it has a room here); return the current total."""
        if topic not in self.tracked:
            self.tracked.add(topic)
            self._schedule(topic)
        return self.total(topic)

    def forget(self, topic: str) -> None:
        """The topic's room closed here: keep nothing about it but what other processes report."""
        self.tracked.discard(topic)
        self.sent.pop(topic, None)
        self.last_emit.pop(topic, None)
        self.scheduled.discard(topic)

    def local(self, topic: str) -> int:
        room = self.hub.rooms.get(topic)
        return len(room) if room is not None else 0

    def total(self, topic: str) -> int:
        now = asyncio.get_running_loop().time()
        remote = sum(count for count, expires in self.remote.get(topic, {}).values() if expires > now)
        return self.local(topic) + remote

    def changed(self, room: Room) -> None:
        if room.topic in self.tracked:
            self._schedule(room.topic)

    def _schedule(self, topic: str) -> None:
        if topic in self.scheduled:
            return
        self.scheduled.add(topic)
        loop = asyncio.get_running_loop()
        delay = self.last_emit.get(topic, -1e9) + self.interval - loop.time()
        if delay > 0:
            loop.call_later(delay, self._emit, topic)
        else:
            loop.call_soon(self._emit, topic)

    def _emit(self, topic: str) -> None:
        self.scheduled.discard(topic)
        room = self.hub.rooms.get(topic)
        if room is None or topic not in self.tracked:
            self.forget(topic)
            return
        count = self.total(topic)
        if self.sent.get(topic) == count:
            return
        self.sent[topic] = count
        self.last_emit[topic] = asyncio.get_running_loop().time()
        room.push(protocol.event_envelope(topic, "viewers", {"count": count}))

    def receive(self, message: dict[str, Any]) -> None:
        origin = message.get("origin")
        if not isinstance(origin, str) or origin == self.hub.channel:
            return
        counts = message.get("counts") or {}
        expires = asyncio.get_running_loop().time() + EXPIRY_INTERVALS * float(message.get("interval", 1.0))
        touched = set(counts)
        for topic, origins in list(self.remote.items()):
            if origin in origins and topic not in counts:
                del origins[origin]
                touched.add(topic)
                if not origins:
                    del self.remote[topic]
        for topic, count in counts.items():
            self.remote.setdefault(topic, {})[origin] = (int(count), expires)
        for topic in touched:
            if topic in self.tracked:
                self._schedule(topic)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self._report()
                self._expire()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("Presence report failed (%s)", exc)

    async def _report(self) -> None:
        rooms = self.hub.rooms
        counts = {t: len(rooms[t]) for t in self.tracked if t in rooms and len(rooms[t])}
        if not counts and not self.reported:
            return
        self.reported = set(counts)
        await self.hub.send_to_hubs(
            {"type": MESSAGE_TYPE, "origin": self.hub.channel, "counts": counts, "interval": self.interval}
        )

    def _expire(self) -> None:
        now = asyncio.get_running_loop().time()
        for topic, origins in list(self.remote.items()):
            stale = [origin for origin, (_, expires) in origins.items() if expires <= now]
            for origin in stale:
                del origins[origin]
            if not origins:
                del self.remote[topic]
            if stale and topic in self.tracked:
                self._schedule(topic)
