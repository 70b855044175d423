"""The publish queue: order, the in-flight window, retries and timeouts. No I/O.

Rules (shared with realtime.js through tests/protocol_cases.json):

- At most `max_in_flight` publishes (the server's `hello.max_in_flight`, 64 when a server does not
  say) are sent and unanswered on a connection; the rest wait here, in the order they were made.
- An answer of `too_many_in_flight`, `unavailable` or `internal_error` (or `rate_limited` with a
  `retry_after`) is not the caller's problem: the same frame (same `ref`, same `client_id`) goes again
  after `retry_after` seconds, else the backoff. Until then no publish goes out, on any topic (the
  window and the database are the connection's, not a topic's); then they go in order, so nothing
  behind it overtakes it.
- A publish sent but unanswered when its connection drops is sent again on the next one when it may
  be (`retry`: the default when `data` has a `client_id`, which makes the server store it once); one
  that may not is rejected with `connection_lost`, since it may or may not have been carried out.
- `timeout` counts from sending (time queued while offline is not the server being slow).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .backoff import Random, backoff_delay
from .errors import RealtimeError, publish_is_retried

DEFAULT_MAX_IN_FLIGHT = 64  # what a server that does not send `hello.max_in_flight` allows
Settle = Callable[[dict[str, Any] | None, RealtimeError | None], None]


def new_client_id() -> str:
    """A fresh `client_id` for a post: the server stores a post retried with the same one only once."""
    return uuid.uuid4().hex


@dataclass(eq=False)
class Publish:
    ref: str
    topic: str
    frame: dict[str, Any]
    retry: bool
    timeout: float  # seconds from sending; 0 waits for ever
    settle: Settle  # called once: (ack frame, None) or (None, error)
    sent: bool = False  # on the wire on the current connection, unanswered
    deadline: float | None = None
    attempts: int = 0  # failures answered so far, for the backoff


class Outbox:
    def __init__(self, random: Random) -> None:
        self.random = random
        self.max_in_flight = DEFAULT_MAX_IN_FLIGHT
        # ref -> Publish; a dict keeps the order publishes were made, and a retried one keeps its place.
        self.items: dict[str, Publish] = {}
        self.requeued = 0  # publishes sent, unanswered when their connection dropped, and kept to re-send
        self.hold_until = 0.0  # the server asked us to wait: nothing goes out before then

    def add(self, publish: Publish) -> None:
        self.items[publish.ref] = publish

    def in_flight(self) -> int:
        return sum(1 for p in self.items.values() if p.sent)

    def due(
        self, now: float, can_send: Callable[[str], bool], affordable: Callable[[], bool] = lambda: True
    ) -> list[Publish]:
        """The publishes to send now, in order; they are marked sent. `affordable()` spends the
        request budget's token for one (False: the budget is spent, the rest wait)."""
        out: list[Publish] = []
        if now < self.hold_until:
            return out
        room = self.max_in_flight - self.in_flight()
        for publish in self.items.values():
            # A topic whose subscription is not live holds back its own publishes only, all of them.
            if publish.sent or not can_send(publish.topic):
                continue
            if room <= 0 or not affordable():
                break
            publish.sent = True
            publish.deadline = now + publish.timeout if publish.timeout > 0 else None
            room -= 1
            out.append(publish)
        return out

    def answered(self, frame: dict[str, Any], now: float) -> bool:
        """Handle an `ack` or `error` whose ref is one of ours; False when it is not."""
        publish = self.items.get(frame.get("ref"))  # type: ignore[arg-type]
        if publish is None or not publish.sent:
            return False  # a late answer to a publish that timed out, or not a publish at all
        if frame.get("type") == "ack":
            self._settle(publish, frame, None)
            return True
        error = RealtimeError.from_frame(frame)
        if publish_is_retried(error.code, error.retry_after):
            publish.sent = False
            publish.deadline = None
            wait = error.retry_after
            if wait is None:
                wait = backoff_delay(publish.attempts, self.random)
            self.hold_until = max(self.hold_until, now + wait)
            publish.attempts += 1
        else:
            self._settle(publish, None, error)
        return True

    def connection_lost(self) -> None:
        for publish in list(self.items.values()):
            if not publish.sent:
                continue
            publish.sent = False
            publish.deadline = None
            if publish.retry:
                self.requeued += 1
            else:
                self._settle(
                    publish,
                    None,
                    RealtimeError(
                        "connection_lost",
                        "the connection dropped before the server answered; it may or may not have been done",
                    ),
                )

    def expire(self, now: float) -> None:
        if self.hold_until <= now:
            self.hold_until = 0.0  # over: next_deadline must not keep reporting it
        for publish in list(self.items.values()):
            if publish.deadline is not None and publish.deadline <= now:
                self._settle(
                    publish,
                    None,
                    RealtimeError("timeout", f"no answer from the server within {publish.timeout} s"),
                )

    def next_deadline(self) -> float | None:
        """The earliest time a timeout or a retry falls due (None: nothing is waiting on the clock)."""
        times = [p.deadline for p in self.items.values() if p.deadline is not None]
        if self.hold_until and any(not p.sent for p in self.items.values()):
            times.append(self.hold_until)
        return min(times, default=None)

    def reject(self, error: RealtimeError, topic: str | None = None, unsent_only: bool = False) -> None:
        """Reject every publish (to `topic`, when given; not yet sent, when `unsent_only`)."""
        for publish in list(self.items.values()):
            if (topic is None or publish.topic == topic) and not (unsent_only and publish.sent):
                self._settle(publish, None, error)

    def _settle(self, publish: Publish, ack: dict[str, Any] | None, error: RealtimeError | None) -> None:
        self.items.pop(publish.ref, None)
        publish.sent = False
        publish.deadline = None
        publish.settle(ack, error)
