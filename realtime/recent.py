"""The newest stored events of a topic, kept in memory by the room, so that (re)subscribing to a busy
topic reads no database: in a connect storm every viewer would otherwise run the same history query.

The cache answers exactly what `eventlog.read_history` would, or declines: it holds every replayable
event with an id above `floor` (up to the room's last id), as already-encoded text. Anything that can
change past history (a comment withdrawn or restored, a gap filled from the database) empties it, and
the next subscriber's database read seeds it again.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Replay:
    """What a subscriber is sent before the live feed: encoded events, newest id, and whether events
    were skipped."""

    texts: list[str]
    last_id: int
    truncated: bool


class RecentEvents:
    def __init__(self) -> None:
        self.items: deque[tuple[int, str]] = deque()
        self.floor: int | None = None  # None: not usable
        self.capacity = 0

    def seed(self, replay_ids: list[int], texts: list[str], *, since: int | None, capacity: int) -> None:
        """Fill from a database read that returned the newest events (since=None) or all after `since`."""
        self.capacity = capacity
        self.items = deque(zip(replay_ids, texts, strict=True))
        if since is None:
            # The newest `capacity` replayable events; fewer means there are no more.
            self.floor = 0 if len(self.items) < capacity else self.items[0][0] - 1
        else:
            self.floor = since
        while len(self.items) > capacity:
            self.floor = self.items.popleft()[0]

    def add(self, id: int, text: str) -> None:
        if self.floor is None:
            return
        self.items.append((id, text))
        if len(self.items) > self.capacity:
            self.floor = self.items.popleft()[0]

    def clear(self) -> None:
        self.items.clear()
        self.floor = None

    def replay(self, since: int | None, limit: int, last_id: int) -> Replay | None:
        """The replay for a subscriber, or None when only the database can answer."""
        if self.floor is None or limit != self.capacity or (since is not None and since > last_id):
            return None
        if since is None:
            if self.floor and len(self.items) < limit:
                return None
            chosen = list(self.items)[-limit:]
            return Replay([text for _, text in chosen], last_id, False)
        newer = [(id, text) for id, text in self.items if id > since]
        if since >= self.floor:
            return Replay([text for _, text in newer[-limit:]], last_id, len(newer) > limit)
        if len(self.items) >= limit:
            # More than `limit` replayable events lie after `since` (these, and the one at `floor`).
            return Replay([text for _, text in newer[-limit:]], last_id, True)
        return None
