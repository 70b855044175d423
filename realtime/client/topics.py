"""One subscription's state across reconnects: the resume point, de-duplication, retries. No I/O.

Stored events carry a per-topic increasing `id`. The highest one seen is the resume point sent as
`since` on every resubscribe, so the server replays exactly what was missed; an event whose id is not
above it is dropped here (a live event racing the replay, or a bug anywhere on the path). Events
without an id (viewer counts, reaction totals) are ephemeral: always delivered, never replayed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import RealtimeError


@dataclass(frozen=True)
class EventInfo:
    """Where an event came from: `history` (a first subscribe's replay of recent events: old news)
    or `resumed` (a resubscribe's replay: what was missed while away). Neither: live."""

    history: bool = False
    resumed: bool = False


Deliver = Callable[[dict[str, Any], EventInfo], None]


class TopicState:
    """The client's one server subscription to a topic."""

    def __init__(
        self,
        name: str,
        *,
        since: int | None,
        deliver: Deliver,
        on_subscribed: Callable[[dict[str, Any]], None],
        on_refused: Callable[[RealtimeError], None],
    ) -> None:
        self.name = name
        self.last_id: int | None = since  # the resume point
        self.ready = False  # `subscribed` arrived on the current connection
        self.ref: str | None = None  # the ref of the subscribe waiting for its answer
        self.state: dict[str, Any] = {}
        self.retry_at: float | None = None  # a failed subscribe goes again at this time
        self.attempt = 0  # consecutive failures, for the backoff
        self.deliver = deliver
        self.on_subscribed = on_subscribed
        self.on_refused = on_refused
        self.duplicates = 0  # events dropped for an id not above the resume point
        self._history_left = 0
        self._resuming = False

    def subscribe_frame(self, ref: str) -> dict[str, Any]:
        """The subscribe request to send now, resuming after the last id seen."""
        self.ref = ref
        self.ready = False
        self.retry_at = None
        self._resuming = self.last_id is not None
        frame: dict[str, Any] = {"type": "subscribe", "topic": self.name, "ref": ref}
        if self.last_id is not None:
            frame["since"] = self.last_id
        return frame

    def subscribed(self, frame: dict[str, Any]) -> None:
        self.ready = True
        self.ref = None
        self.attempt = 0
        state = frame.get("state")
        self.state = state if isinstance(state, dict) else {}
        history = frame.get("history")
        self._history_left = history if isinstance(history, int) and not isinstance(history, bool) else 0
        self.on_subscribed(frame)

    def event(self, frame: dict[str, Any]) -> bool:
        """Deliver `frame` unless it is one we already have; returns whether it was delivered."""
        if not self.ready:
            # A stray of an earlier subscription (unsubscribed and subscribed again quickly): the
            # server sends `subscribed` before any event of a new one. Taken, its id would become the
            # resume point and the new subscription's replay would be dropped as duplicates.
            return False
        event_id = frame.get("id")
        info = EventInfo()
        if isinstance(event_id, int) and not isinstance(event_id, bool):
            if self._history_left > 0:
                self._history_left -= 1
                info = EventInfo(history=not self._resuming, resumed=self._resuming)
            if self.last_id is not None and event_id <= self.last_id:
                self.duplicates += 1
                return False
            self.last_id = event_id
        self.deliver(frame, info)
        return True

    def disconnected(self) -> None:
        """The connection dropped: the next one resubscribes at once (a pending retry is moot)."""
        self.ready = False
        self.ref = None
        self.retry_at = None
