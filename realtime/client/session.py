"""The protocol engine: everything the client decides, fed frames, closes and the clock. No I/O.

`Client` (connection.py) wires it to a socket and asyncio's clock; tests/protocol_cases.json drives it
with a fake clock, the way tests/js drive realtime.js with a fake socket, so both clients obey one
table. Frames to send pile up in `outgoing`; the owner drains them with `take()` after every call.

Why this module is long: it is the one place where the client's rules meet (hello, heartbeat, resume,
the publish window, the request budget, close codes); the rules themselves live in their own modules
(backoff, outbox, pacing, topics), and splitting the wiring would scatter the order of decisions that
the shared table checks step by step.
"""

from __future__ import annotations

import itertools
import secrets
from collections import deque
from collections.abc import Callable
from typing import Any

from .backoff import Decision, Random, Reconnect, backoff_delay
from .errors import RealtimeError, subscribe_is_retried
from .outbox import DEFAULT_MAX_IN_FLIGHT, Outbox, Publish, Settle
from .pacing import RequestPacer
from .topics import Deliver, TopicState

DEFAULT_HEARTBEAT = 25.0  # seconds, until the server's `hello` says otherwise


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class Session:
    def __init__(self, *, random: Random, has_tickets: bool = False, heartbeat: float = DEFAULT_HEARTBEAT):
        self.random = random
        self.reconnect = Reconnect(random, has_tickets=has_tickets)
        self.topics: dict[str, TopicState] = {}
        self.outbox = Outbox(random)
        self.heartbeat = heartbeat
        self.connected = False  # a socket is open
        self.greeted = False  # and its server said `hello`: publishes may go out
        self.hello: dict[str, Any] | None = None
        self.stopped: str | None = None  # why the client stopped for good ("closed", "signed_out", ...)
        self.dead = False  # the heartbeat gave up on the current socket: close it (code 4000)
        self.outgoing: list[dict[str, Any]] = []
        # The server's request budget (pacing.py): None before `hello`, or when it announces none.
        self.pacer: RequestPacer | None = None
        self._queued: deque[dict[str, Any]] = deque()  # requests other than publishes, waiting for it
        self._spent = 0  # requests sent on this connection before the pacer existed
        self._paced = False  # something waits for the pacer's next token: wake up then
        self._clock = 0.0  # the latest `now` we were given (subscribe/unsubscribe take none)
        self._refs = itertools.count(1)
        self._ref_prefix = secrets.token_hex(4)
        self._retry_after_close: float | None = None
        self._last_frame_at = 0.0
        self._ping_sent_at: float | None = None
        self._next_ping_at = 0.0

    def take(self) -> list[dict[str, Any]]:
        out, self.outgoing = self.outgoing, []
        return out

    def new_ref(self) -> str:
        return f"{self._ref_prefix}-{next(self._refs)}"

    # -- what the caller asks --------------------------------------------------------------------
    def subscribe(
        self,
        name: str,
        *,
        since: int | None,
        deliver: Deliver,
        on_subscribed: Callable[[dict[str, Any]], None],
        on_refused: Callable[[RealtimeError], None],
        now: float | None = None,
    ) -> TopicState:
        if name in self.topics:
            raise ValueError(f"already subscribed to {name!r}: use the Subscription you have")
        topic = TopicState(
            name, since=since, deliver=deliver, on_subscribed=on_subscribed, on_refused=on_refused
        )
        self.topics[name] = topic
        if self.connected:
            self._request(topic.subscribe_frame(self.new_ref()), now)
        return topic

    def unsubscribe(self, name: str, now: float | None = None) -> None:
        if self.topics.pop(name, None) is None:
            return
        # Publishes still waiting to go out would now be sent without the subscription they needed.
        self.outbox.reject(
            RealtimeError("unsubscribed", f"unsubscribed from {name} before this was sent"),
            topic=name,
            unsent_only=True,
        )
        if self.connected:
            self._request({"type": "unsubscribe", "topic": name, "ref": self.new_ref()}, now)

    def publish(
        self,
        topic: str,
        event: str,
        data: dict[str, Any],
        *,
        retry: bool,
        timeout: float,
        settle: Settle,
        now: float,
    ) -> str:
        if self.stopped:
            settle(None, RealtimeError(self._stop_code(), f"the client stopped: {self.stopped}"))
            return ""
        self._clock = now
        ref = self.new_ref()
        frame = {"type": "publish", "ref": ref, "topic": topic, "event": event, "data": data}
        self.outbox.add(Publish(ref, topic, frame, retry, timeout, settle))
        self._flush(now)
        return ref

    def stop(self, reason: str) -> None:
        """Stop for good: pending publishes and subscriptions end with `closed` (or `signed_out`)."""
        if self.stopped:
            return
        self.stopped = reason
        self.connected = self.greeted = False
        error = RealtimeError(self._stop_code(), f"the client stopped: {reason}")
        self.outbox.reject(error)
        for topic in list(self.topics.values()):
            topic.disconnected()
            topic.on_refused(error)

    def _stop_code(self) -> str:
        # As realtime.js: a revoked session says so; every other stop is "closed" to the caller.
        return "signed_out" if self.stopped == "signed_out" else "closed"

    # -- what the transport reports ------------------------------------------------------------------
    def connection_made(self, now: float) -> None:
        self.connected, self.greeted, self.dead = True, False, False
        self._last_frame_at, self._ping_sent_at = now, None
        self._next_ping_at = now + self.heartbeat
        self._new_budget()
        # Resubscribe at once, resuming after the last id seen; publishes wait for `hello`.
        for topic in self.topics.values():
            self._request(topic.subscribe_frame(self.new_ref()), now)

    def connection_lost(self, code: int | None, now: float) -> Decision:
        """The socket is gone; returns what to do next (the caller sleeps `delay`, then reconnects)."""
        self.connected = self.greeted = False
        self._new_budget()  # what waited for the pacer is re-sent by the next connection, if at all
        for topic in self.topics.values():
            topic.disconnected()
        self.outbox.connection_lost()
        retry_after, self._retry_after_close = self._retry_after_close, None
        decision = self.reconnect.after_close(code, retry_after)
        if decision.action == "stop" and decision.reason:
            self.stop(decision.reason)
        return decision

    def frame_received(self, frame: dict[str, Any], now: float) -> None:
        self._clock = now
        self._last_frame_at, self._ping_sent_at = now, None  # any frame is a sign of life
        kind = frame.get("type")
        if kind == "batch":
            for message in frame.get("messages") or []:
                if isinstance(message, dict):
                    self.frame_received(message, now)
            return
        topic = self.topics.get(frame.get("topic"))  # type: ignore[arg-type]
        if kind == "hello":
            self._hello(frame, now)
        elif kind == "event" and topic is not None:
            topic.event(frame)
        elif kind == "subscribed" and topic is not None and frame.get("ref") == topic.ref:
            # Only the answer to the latest subscribe: a late one to a subscribe made before an
            # unsubscribe would let the old subscription's events in.
            topic.subscribed(frame)
        elif kind == "kicked" and topic is not None:
            # The server removed us on purpose (e.g. banned): coming back on reconnect would be wrong.
            del self.topics[topic.name]
            error = RealtimeError.from_frame(frame)
            self.outbox.reject(error, topic=topic.name)
            topic.on_refused(error)
        elif kind == "ack":
            self.outbox.answered(frame, now)
        elif kind == "error":
            self._error(frame, now)
        self._flush(now)

    def _hello(self, frame: dict[str, Any], now: float) -> None:
        self.hello = frame
        # Only a greeting proves the server serves us; resetting on a bare TCP open would let an
        # accept-then-close loop run at full speed.
        self.reconnect.greeted()
        self.greeted = True
        heartbeat = _number(frame.get("heartbeat"))
        if heartbeat and heartbeat > 0 and heartbeat != self.heartbeat:
            self.heartbeat = heartbeat
            self._next_ping_at = now + heartbeat
        window = frame.get("max_in_flight")
        has_window = isinstance(window, int) and not isinstance(window, bool) and window > 0
        self.outbox.max_in_flight = window if has_window else DEFAULT_MAX_IN_FLIGHT  # type: ignore[assignment]
        self.pacer = RequestPacer.from_hello(frame, now, spent=self._spent)

    def _error(self, frame: dict[str, Any], now: float) -> None:
        ref = frame.get("ref")
        retry_after = _number(frame.get("retry_after"))
        if frame.get("code") == "rate_limited" and retry_after is not None and self.pacer is not None:
            self.pacer.refused(retry_after, now)  # whichever request it answers (a ping has no ref)
        if not ref:
            # An `unavailable` answering no request comes before a 4013 close: how long to stay away.
            if frame.get("code") == "unavailable":
                self._retry_after_close = _number(frame.get("retry_after"))
            return
        if self.outbox.answered(frame, now):
            return
        topic = next((t for t in self.topics.values() if t.ref == ref), None)
        if topic is None:
            return
        error = RealtimeError.from_frame(frame)
        if subscribe_is_retried(error.code, error.retry_after):
            # The server failed (database or layer down), it did not say no: ask again later.
            topic.ref = None
            wait = error.retry_after
            topic.retry_at = now + (wait if wait is not None else backoff_delay(topic.attempt, self.random))
            topic.attempt += 1
            return
        # A refusal (not_found, forbidden, ...) will be refused again: forget it, and its publishes.
        del self.topics[topic.name]
        self.outbox.reject(error, topic=topic.name)
        topic.on_refused(error)

    # -- the clock -----------------------------------------------------------------------------------
    def poll(self, now: float) -> None:
        """Run what fell due by `now`: pings, the dead-socket check, retries, timeouts."""
        self._clock = now
        self.outbox.expire(now)
        if not self.connected:
            return
        if now >= self._next_ping_at:
            self._ping(now)
            self._next_ping_at = now + self.heartbeat
        # A socket can look open long after the network under it died: only silence tells. Give up
        # only on a ping that has had a whole interval to be answered.
        if now - self._last_frame_at > 2 * self.heartbeat:
            if self._ping_sent_at is None:
                self._ping(now)
            elif now - self._ping_sent_at >= self.heartbeat:
                self.dead = True
        for topic in self.topics.values():
            if topic.retry_at is not None and topic.retry_at <= now:
                self._request(topic.subscribe_frame(self.new_ref()), now)
        self._flush(now)

    def next_wakeup(self) -> float | None:
        """When `poll` next has something to do (None: only a frame or a call can change anything)."""
        times = [t.retry_at for t in self.topics.values() if t.retry_at is not None]
        deadline = self.outbox.next_deadline()
        if deadline is not None:
            times.append(deadline)
        if self.connected:
            times.append(min(self._next_ping_at, self._last_frame_at + 2 * self.heartbeat + 0.001))
            if self._paced and self.pacer is not None:
                times.append(self.pacer.ready_at())
            if self._ping_sent_at is not None:
                times.append(self._ping_sent_at + self.heartbeat)
        return min(times, default=None)

    def _ping(self, now: float) -> None:
        self._request({"type": "ping"}, now)
        if self._ping_sent_at is None:
            self._ping_sent_at = now

    # -- sending, within the server's budget ----------------------------------------------------------
    def _new_budget(self) -> None:
        self.pacer, self._spent, self._paced = None, 0, False
        self._queued.clear()

    def _request(self, frame: dict[str, Any], now: float | None) -> None:
        """Send a request other than a publish, after those already waiting for the pacer."""
        if self.pacer is None:
            self.outgoing.append(frame)
            self._spent += 1
            return
        self._queued.append(frame)
        self._release(self._clock if now is None else now)

    def _release(self, now: float) -> bool:
        """Send the waiting requests the pacer allows; True once none waits."""
        while self._queued and (self.pacer is None or self.pacer.take(now)):
            self.outgoing.append(self._queued.popleft())
        self._paced = self._paced or bool(self._queued)
        return not self._queued

    def _affordable(self, now: float) -> bool:
        if self.pacer is None or self.pacer.take(now):
            return True
        self._paced = True
        return False

    def _flush(self, now: float) -> None:
        self._clock, self._paced = now, False
        # Requests other than publishes go first: they are few, and publishes may wait on them.
        if not self._release(now) or not self.greeted:
            return
        for publish in self.outbox.due(now, self._can_send, lambda: self._affordable(now)):
            self.outgoing.append(publish.frame)

    def _can_send(self, topic: str) -> bool:
        held = self.topics.get(topic)
        # Publishing needs the subscription on this connection when the caller holds one.
        return held is None or held.ready
