"""What `Client.subscribe()` returns: a topic's events as an async iterator, across reconnects."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import RealtimeError
from .topics import EventInfo, TopicState


@dataclass(frozen=True)
class Event:
    """One event on a topic. `id` is None for ephemeral events (viewer counts, reaction totals);
    `history` marks a first subscribe's replay of recent events, `resumed` a reconnect's replay of
    what was missed; `frame` is the server's frame as received."""

    topic: str
    event: str
    data: dict[str, Any]
    id: int | None
    at: str | None
    history: bool = False
    resumed: bool = False
    frame: dict[str, Any] = field(default_factory=dict, repr=False)


class Subscription:
    """A topic's events, each stored event exactly once and in id order, across reconnects.

    The guarantee: the client resubscribes after every reconnect with `since` = the last id it
    delivered, and drops any id not above it, so stored events arrive once each, in order, with no
    gap, as long as the server still holds them (`HISTORY_LIMIT`; past that `subscribed.truncated`
    says some were skipped). Ephemeral events sent while disconnected are not replayed.

    Events wait in memory until read: a consumer that stops reading grows this queue.
    """

    def __init__(self, topic: str, unsubscribe: Callable[[Subscription], None]) -> None:
        self.topic = topic
        self.subscribed: dict[str, Any] | None = None  # the latest `subscribed` frame
        self.last_id: int | None = None
        self._unsubscribe = unsubscribe
        self._queue: asyncio.Queue[Event | RealtimeError | None] = asyncio.Queue()
        self._ready = asyncio.Event()
        self._ended: RealtimeError | None = None
        self._done = False
        self._topic: TopicState | None = None  # the engine's state for this topic, set by the client

    @property
    def state(self) -> dict[str, Any]:
        """The topic's snapshot from the latest `subscribed` (e.g. a stream's viewer count)."""
        return dict((self.subscribed or {}).get("state") or {})

    @property
    def duplicates(self) -> int:
        """Events the client dropped because their id was not above the last one delivered. With a
        server that honours `since` this stays 0 (it counts, it does not fix, server-side doubling)."""
        return self._topic.duplicates if self._topic is not None else 0

    async def ready(self, timeout: float | None = None) -> dict[str, Any]:
        """Wait until the server confirmed the subscription; returns the `subscribed` frame.

        Raises RealtimeError when it was refused (forbidden, not_found, ...) or the client stopped.
        """
        await asyncio.wait_for(self._ready.wait(), timeout)
        if self._ended is not None and self.subscribed is None:
            raise self._ended
        return self.subscribed or {}

    async def next(self, timeout: float | None = None) -> Event:
        """The next event; raises RealtimeError if the subscription ended (refused, kicked, closed)."""
        if self._done:
            raise StopAsyncIteration
        item = await asyncio.wait_for(self._queue.get(), timeout)
        if item is None:
            self._done = True
            raise StopAsyncIteration
        if isinstance(item, RealtimeError):
            self._done = True
            raise item
        return item

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        return await self.next()

    def unsubscribe(self) -> None:
        """Stop receiving; the iterator ends after the events already queued."""
        self._unsubscribe(self)
        self._queue.put_nowait(None)

    # -- called by the client ----------------------------------------------------------------------
    def _deliver(self, frame: dict[str, Any], info: EventInfo) -> None:
        event_id, data = frame.get("id"), frame.get("data")
        event = Event(
            topic=self.topic,
            event=str(frame.get("event") or ""),
            data=data if isinstance(data, dict) else {},
            id=event_id if isinstance(event_id, int) and not isinstance(event_id, bool) else None,
            at=frame.get("at") if isinstance(frame.get("at"), str) else None,
            history=info.history,
            resumed=info.resumed,
            frame=frame,
        )
        if event.id is not None:
            self.last_id = event.id
        self._queue.put_nowait(event)

    def _on_subscribed(self, frame: dict[str, Any]) -> None:
        self.subscribed = frame
        self._ready.set()

    def _on_refused(self, error: RealtimeError) -> None:
        self._ended = error
        self._ready.set()
        # client.close() ends the iteration quietly; a refusal, a kick or signed_out raise.
        self._queue.put_nowait(None if error.code == "closed" else error)
