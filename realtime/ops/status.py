"""One process's status, as the admin's status page and `manage.py realtime_status` show it.

A `StatusSource` is a hub service (one per process), made by the first status request, status page
or refused request: from then on it samples the hub once a second (connections, rooms, stored events
per topic), keeps the last minutes of samples for the page's charts, and remembers the codes of the
last errors sent to clients. `snapshot()` is plain values only: it travels over the channel layer.

Event rates count stored events (the per-topic ids a room has delivered), read from each room's
sequencer once a second: no cost on the fan-out path. Ephemeral events (viewer counts, reactions)
carry no id and are not counted.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections import Counter, deque
from typing import TYPE_CHECKING, Any

from ..conf import realtime_settings
from . import conf as _conf  # noqa: F401  (declares STATUS_* keys)

if TYPE_CHECKING:
    from ..hub import Hub
    from ..outage import Outage

#: Wall-clock time this module was imported: the ASGI application loads it, so about when daphne started.
PROCESS_STARTED = time.time()
HISTORY_SECONDS = 300  # the charts' span: five minutes, one sample a second
RATE_SECONDS = 60  # hot topics are ranked by their stored events over this many seconds
ERRORS_KEPT = 200  # the ring of recent error codes
RECENT_ERRORS_SHOWN = 10


def process_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _health(outage: Outage) -> dict[str, Any]:
    since = outage.since
    return {"up": since is None, "down_for": None if since is None else round(time.monotonic() - since, 1)}


class StatusSource:
    """One per hub (`hub.service(StatusSource)`): samples it every second and answers for it."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.name = process_name()
        self.errors: deque[tuple[float, str]] = deque(maxlen=ERRORS_KEPT)
        # One sample a second: (unix second, connections, rooms, stored events delivered that second).
        self.history: deque[tuple[int, int, int, int]] = deque(maxlen=HISTORY_SECONDS)
        self.per_topic: dict[str, deque[int]] = {}  # topic -> events per second, the last RATE_SECONDS
        self.last_ids: dict[str, int] = {}
        hub.spawn(self._sample_every_second())

    # -- what happens ---------------------------------------------------------------------------
    def error_sent(self, code: str) -> None:
        """A client was sent an `error` with this code (the consumer calls it for each)."""
        self.errors.append((time.time(), code))

    def sample(self) -> None:
        """Take this second's sample (public for tests: the task calls it once a second)."""
        total = 0
        for topic, room in list(self.hub.rooms.items()):
            last = room.sequencer.last_id
            if last is None:
                continue
            before = self.last_ids.get(topic)
            self.last_ids[topic] = last
            count = max(0, last - before) if before is not None else 0
            self.per_topic.setdefault(topic, deque(maxlen=RATE_SECONDS)).append(count)
            total += count
        for topic in [t for t in self.per_topic if t not in self.hub.rooms]:
            del self.per_topic[topic], self.last_ids[topic]
        self.history.append((int(time.time()), len(self.hub.connections), len(self.hub.rooms), total))

    async def _sample_every_second(self) -> None:
        while True:
            await asyncio.sleep(1.0 - time.time() % 1.0)  # on the second, so processes' charts line up
            self.sample()

    # -- what is reported -----------------------------------------------------------------------
    def hot_topics(self, limit: int) -> list[dict[str, Any]]:
        rates = [
            (sum(counts) / RATE_SECONDS, topic)
            for topic, counts in self.per_topic.items()
            if any(counts) and topic in self.hub.rooms
        ]
        rates.sort(key=lambda pair: (-pair[0], pair[1]))
        return [
            {"topic": topic, "rate": round(rate, 2), "subscribers": len(self.hub.rooms[topic])}
            for rate, topic in rates[:limit]
        ]

    def snapshot(self) -> dict[str, Any]:
        hub = self.hub
        connections = list(hub.connections)
        signed_in = sum(1 for conn in connections if conn.user_id is not None)
        return {
            "id": hub.channel,  # unique per process (a host may run several, and pids repeat)
            "name": self.name,
            "started_at": round(PROCESS_STARTED, 3),
            "uptime": round(time.time() - PROCESS_STARTED, 1),
            "connections": len(connections),
            "signed_in": signed_in,
            "anonymous": len(connections) - signed_in,
            "rooms": len(hub.rooms),
            "subscriptions": sum(len(subs) for subs in list(hub.memberships.values())),
            "hot_topics": self.hot_topics(int(realtime_settings.STATUS_TOP_TOPICS)),
            "layer": _health(hub.link.outage),
            "database": _health(hub.database),
            "errors": dict(Counter(code for _, code in self.errors).most_common()),
            "recent_errors": [[round(at, 1), code] for at, code in list(self.errors)[-RECENT_ERRORS_SHOWN:]],
            "history": {
                "end": self.history[-1][0] if self.history else int(time.time()),
                "connections": [sample[1] for sample in self.history],
                "rooms": [sample[2] for sample in self.history],
                "events": [sample[3] for sample in self.history],
            },
        }


def status_of(hub: Hub) -> StatusSource:
    return hub.service(StatusSource)


def error_sent(hub: Hub, code: str) -> None:
    """Record an error code sent to a client of this process (one line in the consumer calls it)."""
    status_of(hub).error_sent(code)
