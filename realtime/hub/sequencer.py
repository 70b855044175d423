"""One topic's order of stored events, as a room receives them: pure logic, no I/O, no asyncio.

Stored events carry dense per-topic ids, so a room that sees id N+2 right after N knows N+1 exists
(committed, its publish still in flight or lost) and must wait for it or read it from the database,
never drop or reorder. The sequencer decides which events are now deliverable, in order and once
each, and keeps the recent-events cache that answers subscribers without a database read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..eventlog import History, StoredEvent
from .recent import Item, RecentEvents, Replay


@dataclass(frozen=True, slots=True)
class Delivery:
    """An event ready to go out: its id (None for ephemeral events) and its encoded envelope; `event`,
    the event itself, for what looks inside it (room listeners, last-value-wins keys; `hub.lastvalue`)."""

    id: int | None
    text: str
    event: StoredEvent | None = field(default=None, compare=False, repr=False)


class Sequencer:
    def __init__(self, encode: Callable[[StoredEvent], str], limit: int) -> None:
        self.encode = encode
        #: The highest id delivered in order; None until the room knows where the topic stands.
        self.last_id: int | None = None
        #: Events that arrived ahead of an id not yet seen.
        self.pending: dict[int, StoredEvent] = {}
        self.recent = RecentEvents(limit)

    # -- the live feed ----------------------------------------------------------------------------
    def accept(self, event: StoredEvent) -> list[Delivery]:
        """A stored event arrived from the layer; return what is now deliverable, in order."""
        assert event.id is not None
        if self.last_id is not None and event.id <= self.last_id:
            return []  # a duplicate (a retried publish, a resend after a lost one): already delivered
        self.pending[event.id] = event
        return self._drain()

    def begin(self, last_id: int) -> list[Delivery]:
        """The first history read tells where the topic stands; nothing up to `last_id` is delivered."""
        if self.last_id is None:
            self.last_id = last_id
            return self._drain()
        return []

    def missing(self) -> tuple[int, int] | None:
        """The ids (after, upto] to read from the database when events wait behind a gap."""
        if self.last_id is None or not self.pending:
            return None
        return self.last_id, max(self.pending)

    def fill(self, events: list[StoredEvent], upto: int) -> tuple[list[Delivery], list[tuple[int, int]]]:
        """Events (last_id, upto] read from the database, in id order.

        The database copy wins over a pending live copy (it knows whether the event was withdrawn since).
        Returns the deliveries and the ranges of ids the database lacked, which the room moves past (an
        id whose transaction rolled back after allocating it, or an event pruned meanwhile).
        """
        if self.last_id is None or upto <= self.last_id:
            return [], []
        # A gap may hide withdrawals whose announcements we never saw: the cache cannot be trusted.
        self.recent.clear()
        for event in events:
            if event.id is not None and self.last_id < event.id <= upto:
                self.pending[event.id] = event
        out: list[Delivery] = []
        skipped: list[tuple[int, int]] = []
        while True:
            out += self._drain(upto)
            if self.last_id >= upto:
                break
            following = min((id for id in self.pending if id > self.last_id), default=upto + 1)
            end = min(following - 1, upto)
            skipped.append((self.last_id + 1, end))
            self.last_id = end
        return out + self._drain(), skipped

    def _drain(self, upto: int | None = None) -> list[Delivery]:
        out: list[Delivery] = []
        last = self.last_id
        if last is None:
            return out
        while (upto is None or last < upto) and last + 1 in self.pending:
            last += 1  # the pending event's id: events are keyed by it
            event = self.pending.pop(last)
            self.last_id = last
            if event.resets_history:
                self.recent.clear()
            if event.withdrawn:
                continue
            text = self.encode(event)
            self.recent.add(Item(last, event.marker, text))
            out.append(Delivery(last, text, event))
        for stale in [id for id in self.pending if id <= last]:
            del self.pending[stale]
        return out

    # -- replay -----------------------------------------------------------------------------------
    def cached_replay(self, since: int | None, limit: int) -> Replay | None:
        """The replay from memory, when the room is caught up and the cache holds what is asked."""
        if self.last_id is None or self.pending:
            return None
        return self.recent.replay(since, limit, self.last_id)

    def seed(self, history: History, texts: list[str]) -> None:
        """Keep a database read as the cache when it ends exactly where the live feed stands."""
        if self.recent.floor is not None or self.pending or self.last_id != history.last_id:
            return
        if history.floor is None:
            return
        items = [
            Item(event.id, event.marker, text)
            for event, text in zip(history.events, texts, strict=True)
            if event.id is not None
        ]
        self.recent.seed(items, history.floor, content_below=history.content_below)
