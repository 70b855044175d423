"""What a (re)subscriber is replayed, and the room's memory of recent events that answers it.

`select_replay` is the one definition of a replay; `eventlog.read_history` computes the same answer
in SQL, and `RecentEvents` computes it from memory when it holds enough, so a connect storm on a busy
topic reads no database. Markers (events that announce a change to earlier events or to the topic's
state, such as `comment.deleted`) ride along with the events they concern and never count against
the limit: a limit of 3 after three deletions still replays three comments.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Replay:
    """What a subscriber is sent before the live feed: encoded events, the newest id on the topic, and
    whether events were skipped."""

    texts: list[str]
    last_id: int
    truncated: bool


@dataclass(frozen=True, slots=True)
class Item:
    """One replayable (not withdrawn) event as the cache holds it."""

    id: int
    marker: bool
    text: str


def select_replay(items: Sequence[Item], since: int | None, limit: int) -> tuple[list[Item], bool]:
    """The replay for `since` from `items` (every replayable event above some floor, in id order).

    The newest `limit` events after `since` that are not markers, plus every marker newer than the
    oldest of them (or after `since` when there are no more than `limit`). Truncated: a resuming
    client missed more than `limit` events.
    """
    after = [item for item in items if since is None or item.id > since]
    content = [item for item in after if not item.marker]
    if len(content) <= limit:
        return after, False
    if limit <= 0:
        return [], since is not None
    oldest = content[-limit].id
    return [item for item in after if item.id >= oldest], since is not None


class RecentEvents:
    """The replayable events of one topic with id above `floor`, all of them, as encoded text.

    `floor` None means "not usable": the cache is empty until a database read seeds it, and anything
    that may change past history (a withdrawal, a gap filled from the database) empties it.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.items: deque[Item] = deque()
        self.floor: int | None = None
        self._content = 0  # items that are not markers
        # An event that is not a marker is known to lie at or below the floor (then a fresh subscriber
        # needs only the `limit` newest held here, whatever markers lie between them and the floor).
        self.content_below = False

    def seed(self, items: list[Item], floor: int, *, content_below: bool = False) -> None:
        self.items = deque(items)
        self.floor = floor
        self.content_below = content_below
        self._content = sum(not item.marker for item in items)
        self._trim()

    def add(self, item: Item) -> None:
        if self.floor is None:
            return
        self.items.append(item)
        self._content += not item.marker
        self._trim()

    def _trim(self) -> None:
        # Keep one event more than a replay needs (so "truncated" can be told), and a bounded number of
        # markers: a topic with many deletions must not grow the cache without end.
        while self.items and (self._content > self.limit + 1 or len(self.items) > 4 * self.limit + 4):
            dropped = self.items.popleft()
            self._content -= not dropped.marker
            self.content_below = self.content_below or not dropped.marker
            self.floor = dropped.id

    def clear(self) -> None:
        self.items.clear()
        self._content = 0
        self.content_below = False
        self.floor = None

    def replay(self, since: int | None, limit: int, last_id: int) -> Replay | None:
        """What `eventlog.read_history(since, limit)` would answer, or None when only it can."""
        if self.floor is None or limit != self.limit or (since is not None and since > last_id):
            return None
        if since is None or since < self.floor:
            # Events at or below the floor are unknown here: answerable only if more than `limit` lie
            # above it (then the replay starts above the floor whatever lies below), or if none exist.
            if self._content == limit and since is None and self.content_below and limit > 0:
                # The database holds more than `limit`: the replay starts at the oldest held here.
                oldest = next(item.id for item in self.items if not item.marker)
                return Replay([item.text for item in self.items if item.id >= oldest], last_id, False)
            if self._content <= limit and not (since is None and self.floor == 0):
                return None
        chosen, truncated = select_replay(self.items, since, limit)
        return Replay([item.text for item in chosen], last_id, truncated)
