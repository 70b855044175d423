"""`Client`: the protocol engine (session.py) on a real WebSocket, with asyncio's clock.

Every rule lives in the engine and its parts (outbox.py, topics.py, backoff.py); this module only
dials, reads, writes, sleeps and reports its state.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random as _random
from collections.abc import Callable
from typing import Any

from .backoff import Decision
from .errors import RealtimeError
from .session import DEFAULT_HEARTBEAT, Session
from .subscription import Subscription
from .tickets import FixedTicket, TicketSource, ticket_protocols

logger = logging.getLogger("realtime.client")
PUBLISH_TIMEOUT = 15.0  # seconds from sending, as realtime.js
HEARTBEAT_GAVE_UP = 4000  # the close code we use when the heartbeat gives up on a silent socket


def _websockets_connect() -> Any:
    try:
        from websockets.asyncio.client import connect
    except ImportError as exc:  # the client is an optional part of the distribution
        from importlib.metadata import packages_distributions

        dist = (packages_distributions().get("realtime") or ["<this package>"])[0]
        raise ImportError(
            f"realtime.client needs the 'websockets' package (13 or newer): pip install '{dist}[client]'"
        ) from exc
    return connect


class Client:
    """A connection to a realtime server that keeps itself up, for bots, services and tests.

    Delivery: subscriptions get every stored event once, in order, across reconnects (see
    `Subscription`); a publish whose `data` carries a `client_id` is stored exactly once however often
    the connection drops under it (it is re-sent with the same `client_id` until answered), and one
    without is never sent twice. The reconnect, heartbeat, in-flight and retry rules are realtime.js's
    (tests/protocol_cases.json holds them for both).

    `url` is the WebSocket URL (`ws://host/ws/realtime/`); `tickets` a TicketSource (`HttpTickets`
    for services that reconnect) or one ticket string (one connection only); `headers` extra handshake
    headers. Use it as `async with Client(...) as client:`; `close()` is the only way it stops, besides
    the server revoking access (4003) or refusing our credentials.
    """

    def __init__(
        self,
        url: str,
        *,
        tickets: TicketSource | str | None = None,
        headers: dict[str, str] | None = None,
        heartbeat: float = DEFAULT_HEARTBEAT,
        open_timeout: float = 10.0,
        on_state: Callable[[str, str | None], None] | None = None,
        random: Callable[[], float] = _random.random,
    ) -> None:
        self.url = url
        self.tickets: TicketSource | None = FixedTicket(tickets) if isinstance(tickets, str) else tickets
        self.headers = dict(headers or {})
        self.open_timeout = open_timeout
        self.state = "connecting"  # connecting | live | reconnecting | offline
        self.reason: str | None = None
        self.on_state = on_state
        self._connect = _websockets_connect()
        self._session = Session(random=random, has_tickets=self.tickets is not None, heartbeat=heartbeat)
        self._subscriptions: dict[str, Subscription] = {}
        self._wake = asyncio.Event()
        self._live = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._socket: Any = None
        self.connections = 0  # sockets opened so far (1 + reconnects)

    @property
    def user(self) -> dict[str, Any] | None:
        """The server's `hello.user` (None while anonymous or before the first hello)."""
        return (self._session.hello or {}).get("user")

    @property
    def requeued(self) -> int:
        """Publishes whose answer was lost with a connection and that were kept to send again."""
        return self._session.outbox.requeued

    async def __aenter__(self) -> Client:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="realtime.client")

    async def wait_live(self, timeout: float | None = None) -> None:
        """Wait until a server has said `hello` on the current connection."""
        await asyncio.wait_for(self._live.wait(), timeout)

    def subscribe(self, topic: str, *, since: int | None = None) -> Subscription:
        """Subscribe to `topic` (kept across reconnects); `since`: start after this event id."""
        subscription = Subscription(topic, self._drop)
        subscription._topic = self._session.subscribe(
            topic,
            since=since,
            deliver=subscription._deliver,
            on_subscribed=subscription._on_subscribed,
            on_refused=subscription._on_refused,
            now=self._now(),
        )
        self._subscriptions[topic] = subscription
        self._wake.set()
        return subscription

    async def publish(
        self,
        topic: str,
        event: str,
        data: dict[str, Any],
        *,
        retry: bool | None = None,
        timeout: float = PUBLISH_TIMEOUT,
    ) -> dict[str, Any]:
        """Publish and wait for the server's `ack` (returned); raises RealtimeError on a refusal.

        Waits while disconnected and, when this client subscribes to `topic`, until that
        subscription is live. `retry` (default: whether `data` has a `client_id`) re-sends it on the
        next connection when the answer was lost with the last one; pass a `client_id`
        (`new_client_id()`) for anything that must not be stored twice. `timeout` (seconds, 0 = none)
        counts from sending. `too_many_in_flight` and `unavailable` are retried, never raised.
        `data` that JSON cannot encode raises TypeError at once.
        """
        # Refuse what cannot be sent now: failing later, inside the connection loop, would look like a
        # broken connection and be retried for ever.
        json.dumps(data)
        if retry is None:
            retry = isinstance(data.get("client_id"), str) and bool(data["client_id"])
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

        def settle(ack: dict[str, Any] | None, error: RealtimeError | None) -> None:
            if answer.done():
                return
            if ack is not None:
                answer.set_result(ack)
            else:
                answer.set_exception(error or RealtimeError("closed"))

        self._session.publish(
            topic, event, data, retry=retry, timeout=timeout, settle=settle, now=self._now()
        )
        self._wake.set()
        return await answer

    async def close(self) -> None:
        """Stop for good: pending publishes fail with `closed`, subscriptions end."""
        self._session.stop("closed")
        self._set_state("offline", "closed")
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._socket is not None:
            with contextlib.suppress(Exception):
                await self._socket.close()

    # -- the loop ------------------------------------------------------------------------------------
    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _drop(self, subscription: Subscription) -> None:
        if self._subscriptions.get(subscription.topic) is subscription:
            del self._subscriptions[subscription.topic]
            self._session.unsubscribe(subscription.topic, self._now())
            self._wake.set()

    def _set_state(self, state: str, reason: str | None = None) -> None:
        if (state, reason) == (self.state, self.reason):
            return
        self.state, self.reason = state, reason
        if state == "live":
            self._live.set()
        else:
            self._live.clear()
        if self.on_state is not None:
            self.on_state(state, reason)

    async def _run(self) -> None:
        session = self._session
        while not session.stopped:
            decision = await self._connection()
            if decision.action == "stop" or session.stopped:
                self._set_state("offline", decision.reason or session.stopped)
                return
            paused = decision.action == "pause"
            self._set_state("offline" if paused else "reconnecting", decision.reason)
            logger.info(
                "realtime.client: %s in %.2f s (%s)", decision.action, decision.delay, decision.reason
            )
            await self._wait(decision.delay or 0.0)

    async def _wait(self, delay: float) -> None:
        """Sleep `delay`, still running the clock (publish timeouts fall due while offline too)."""
        end = self._now() + delay
        while (left := end - self._now()) > 0:
            self._session.poll(self._now())
            wake = self._session.next_wakeup()
            await asyncio.sleep(min(left, max(wake - self._now(), 0.0)) if wake is not None else left)

    async def _connection(self) -> Decision:
        """One connection from dialling to its end; returns what to do next."""
        session = self._session
        protocols = None
        try:
            if self.tickets is not None:
                protocols = ticket_protocols(await self.tickets.ticket())
            socket = await self._connect(
                self.url,
                subprotocols=protocols,
                additional_headers=self.headers or None,
                open_timeout=self.open_timeout,
                ping_interval=None,  # our own heartbeat, as realtime.js: any frame counts
                proxy=None,
                max_size=8 * 1024 * 1024,
            )
        except RealtimeError as exc:
            if exc.code == "auth_failed":
                session.stop("auth_failed")
                logger.error("realtime.client: %s", exc)
                return Decision("stop", None, "auth_failed")
            logger.warning("realtime.client: %s", exc)
            return session.reconnect.failed()
        except Exception as exc:  # refused, reset, timed out, handshake rejected: all retried
            logger.warning("realtime.client: could not connect to %s: %s", self.url, exc)
            return session.reconnect.failed()
        self._socket = socket
        self.connections += 1
        code = await self._serve(socket)
        self._socket = None
        return session.connection_lost(code, self._now())

    async def _serve(self, socket: Any) -> int | None:
        session = self._session
        session.connection_made(self._now())
        reader = asyncio.get_running_loop().create_task(self._read(socket))
        try:
            while True:
                for frame in session.take():
                    await socket.send(json.dumps(frame))
                if session.greeted:
                    self._set_state("live")
                if reader.done():
                    return socket.close_code
                if session.stopped:
                    # close() also cancels this task, but Python 3.11's wait_for loses a cancellation
                    # that races a wake-up: the flag is what reliably ends the loop.
                    return 1000
                if session.dead:
                    await socket.close(HEARTBEAT_GAVE_UP, "no answer to pings")
                    return HEARTBEAT_GAVE_UP
                wake = session.next_wakeup()
                timeout = max(wake - self._now(), 0.0) if wake is not None else None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
                self._wake.clear()
                session.poll(self._now())
        except Exception as exc:  # a send on a socket that just closed: the reader says why
            logger.debug("realtime.client: connection ended: %r", exc)
            with contextlib.suppress(Exception):
                await reader
            return socket.close_code
        finally:
            reader.cancel()
            with contextlib.suppress(BaseException):
                await reader
            with contextlib.suppress(Exception):
                await socket.close()

    async def _read(self, socket: Any) -> None:
        with contextlib.suppress(Exception):
            async for raw in socket:
                try:
                    frame = json.loads(raw)
                except ValueError:
                    continue  # not ours to crash on; the server never sends such a frame
                if isinstance(frame, dict):
                    self._session.frame_received(frame, self._now())
                    self._wake.set()
        self._wake.set()
