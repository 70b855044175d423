"""The one WebSocket endpoint: a multiplexed, authenticated connection speaking docs/protocol.md."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

from channels.consumer import AsyncConsumer
from channels.exceptions import StopConsumer
from django.db import Error as DatabaseError  # InterfaceError too: a dropped connection

from . import protocol
from .conf import realtime_settings
from .exceptions import ProtocolError, Unavailable
from .hub import Hub, Replay, get_hub
from .hub.registry import database_outage
from .limits import AbuseCounter, ConnectionCounter, RequestBudget, client_address
from .protocol import Request
from .topics import load_topic
from .transport import (
    CLOSE_AUTH_FAILED,
    CLOSE_POLICY,
    CLOSE_TOO_MANY_CONNECTIONS,
    Frame,
    Writer,
    make_writer,
)

logger = logging.getLogger("realtime.consumer")

SERVER_SEND_KEY = "realtime.server_send"


class RealtimeConsumer(AsyncConsumer):
    """Routes client requests to topics and the hub.

    Unlike a tutorial consumer it has no channel-layer channel of its own: the process's hub is the
    only layer reader, and it writes events straight to this connection's `writer`. Everything this
    consumer sends after the handshake goes through the same writer, so replies, history and live
    events leave in one order.

    Frames are read as soon as daphne has them (its queue to the application is unbounded: a consumer
    that read only when idle would let one client park any number of frames in it), parsed and judged
    against the request budget on arrival. Refusals are answered at once; accepted requests are carried
    out in order by a task that exists while there is work (`_work`), so a refusal may overtake them
    (clients match answers by `ref`).
    """

    hub: Hub
    writer: Writer

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        # Deliberately not AsyncConsumer.__call__: that allocates a layer channel and a reader task
        # per connection, and closes stale DB connections (a thread hop) before every frame.
        self.scope = scope
        self.base_send = send
        self.channel_layer = None
        self.user = scope.get("user")
        self.user_id: int | None = self.user.pk if getattr(self.user, "is_authenticated", False) else None
        session = scope.get("session")
        self.session_key: str | None = getattr(session, "session_key", None) if self.user_id else None
        self.abuse: AbuseCounter | None = None  # made on the first refusal that counts
        self.budget: RequestBudget | None = None  # made on the first request
        # Accepted requests not yet carried out, and their task: both exist only while there is work.
        self.queue: deque[Request] | None = None
        self.worker: asyncio.Task | None = None
        self.counted: tuple[str, Any] | None = None  # this connection's place in the connection caps
        self.closed = False
        try:
            # No await_many_dispatch: its task per receive is memory per idle connection.
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass
        finally:
            # Also when daphne cancels us: a connection left in its rooms would count as a viewer for ever.
            self._teardown()

    async def dispatch(self, message: dict[str, Any]) -> None:
        handler = {
            "websocket.connect": self.websocket_connect,
            "websocket.receive": self.websocket_receive,
            "websocket.disconnect": self.websocket_disconnect,
        }.get(message["type"])
        if handler is not None:
            await handler(message)

    # -- lifecycle --------------------------------------------------------------------------------
    async def websocket_connect(self, message: dict[str, Any]) -> None:
        await self.base_send({"type": "websocket.accept"})
        self.writer = make_writer(
            self.scope.get(SERVER_SEND_KEY),
            self.base_send,
            max_pending=int(realtime_settings.MAX_PENDING_BYTES),
            on_overflow=self._on_overflow,
        )
        auth_error = self.scope.get("realtime.auth_error")
        if auth_error:
            self.send_frame(protocol.error(ProtocolError("auth_failed", auth_error)))
            self.close_with(CLOSE_AUTH_FAILED)
            return
        self.hub = await get_hub()
        try:
            self.counted = self.hub.service(ConnectionCounter).admit(self.user_id, self.scope)
        except ProtocolError as exc:
            logger.info(
                "Refusing a connection of %s: %s",
                f"user {self.user_id}" if self.user_id else f"address {client_address(self.scope)}",
                exc.code,
            )
            self.send_frame(protocol.error(exc))
            self.close_with(CLOSE_TOO_MANY_CONNECTIONS)
            return
        self.hub.connections.add(self)
        user = {"id": self.user_id, "username": self.user.get_username()} if self.user_id else None
        self.send_frame(
            protocol.reply(
                "hello",
                user=user,
                heartbeat=realtime_settings.HEARTBEAT,
                max_frame=realtime_settings.MAX_FRAME_BYTES,
            )
        )

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        raise StopConsumer()

    def _teardown(self) -> None:
        self.closed = True
        self.queue = None
        if self.worker is not None:
            # Cancelled mid-request, it unwinds (a subscribe in progress leaves its room) on its own.
            self.worker.cancel()
        if hasattr(self, "hub"):
            self.hub.drop(self)
            if self.counted is not None:
                self.hub.service(ConnectionCounter).release(self.counted)
                self.counted = None
        if hasattr(self, "writer"):
            self.writer.release()

    async def websocket_receive(self, message: dict[str, Any]) -> None:
        """Judge a frame on arrival: refuse it now, or queue it for `_work` (never waits for it)."""
        if self.closed or not hasattr(self, "hub"):
            return
        try:
            request = protocol.parse_request(
                message.get("text"), max_bytes=int(realtime_settings.MAX_FRAME_BYTES)
            )
        except ProtocolError as exc:
            self.refuse(exc, None)
            return
        if self.budget is None:
            self.budget = RequestBudget.from_settings()
        refusal = self.budget.refusal(len(self.queue or ()) + (self.worker is not None))
        if refusal is not None:
            self.refuse(refusal, request, abuse=True)
            return
        if self.worker is None and request.type in ("ping", "unsubscribe"):
            # Nothing before it is waiting, and it needs no await: answer it without a task.
            self._sync_request(request)
            return
        if self.queue is None:
            self.queue = deque()
        self.queue.append(request)
        if self.worker is None:
            self.worker = asyncio.get_running_loop().create_task(self._work())

    async def _work(self) -> None:
        try:
            while self.queue and not self.closed:
                await self.handle(self.queue.popleft())
        finally:
            self.worker = None
            self.queue = None

    def _sync_request(self, request: Request) -> None:
        try:
            if request.type == "ping":
                self.send_frame(protocol.reply("pong", request.ref))
            else:
                self.unsubscribe(request)
        except ProtocolError as exc:
            self.refuse(exc, request)

    async def handle(self, request: Request) -> None:
        """Carry out one accepted request; every outcome is answered (a reply or an `error`)."""
        try:
            if request.type == "subscribe":
                await self.subscribe(request)
            elif request.type == "publish":
                await self.publish(request)
            else:
                self._sync_request(request)
                return
            database_outage(None)  # the database answered: an outage logged earlier is over
        except ProtocolError as exc:
            self.refuse(exc, request)
        except DatabaseError as exc:
            # The database is down or failing over: not the client's fault, and worth retrying. Logged
            # once per outage per process, not once per refused request.
            database_outage(exc, f"handling {request.type}")
            self.refuse(Unavailable(), request)
        except Exception:
            # A bug, not the client's fault: say so, keep the connection, log it for us to fix.
            logger.exception("Unexpected error handling %s", request.type)
            self.refuse(ProtocolError("internal_error", "The server failed to handle this request."), request)

    # -- requests ---------------------------------------------------------------------------------
    async def subscribe(self, request: Request) -> None:
        assert request.topic is not None
        held = self.hub.subscriptions(self)
        if request.topic not in held and len(held) >= int(realtime_settings.MAX_SUBSCRIPTIONS):
            raise ProtocolError(
                "too_many_subscriptions",
                f"A connection may hold {realtime_settings.MAX_SUBSCRIPTIONS} subscriptions.",
            )
        topic = await load_topic(request.topic)
        await topic.authorize_subscribe(self)

        def make_reply(replay: Replay | None, state: dict[str, Any]) -> str:
            return protocol.reply(
                "subscribed",
                request.ref,
                topic=topic.name,
                last_id=replay.last_id if replay else None,
                history=len(replay.texts) if replay else 0,
                truncated=replay.truncated if replay else False,
                state=state,
            )

        # Subscribing again to a topic replays from the new `since` (the hub replaces the old one).
        await self.hub.subscribe(self, topic, request.since, make_reply)

    def unsubscribe(self, request: Request) -> None:
        assert request.topic is not None
        if not self.hub.unsubscribe(self, request.topic):
            raise ProtocolError(
                "not_subscribed", f"This connection is not subscribed to {request.topic[:80]!r}."
            )
        self.send_frame(protocol.reply("unsubscribed", request.ref, topic=request.topic))

    async def publish(self, request: Request) -> None:
        assert request.topic is not None and request.event is not None
        topic = self.hub.topic_of(self, request.topic)
        if topic is None:
            raise ProtocolError(
                "not_subscribed", f"Subscribe to {request.topic[:80]!r} before publishing on it."
            )
        ack = await topic.publish(self, request.event, request.data)
        self.send_frame(protocol.reply("ack", request.ref, topic=topic.name, **ack))

    # -- sending and closing ----------------------------------------------------------------------
    def send_frame(self, text: str) -> None:
        self.writer.write(Frame(text))

    def refuse(self, exc: ProtocolError, request: Request | None, *, abuse: bool = False) -> None:
        """Answer with an `error`; past ABUSE_LIMIT refusals that count (malformed requests, and
        requests over the connection's budget: `abuse=True`), close with 4429 right after it."""
        if self.closed:
            return
        self.send_frame(
            protocol.error(
                exc, ref=request.ref if request else None, topic=request.topic if request else None
            )
        )
        if not abuse and exc.code not in protocol.ABUSE_CODES:
            return  # refusals of well-formed requests (muted, slow mode, server failures) are not abuse
        if self.abuse is None:
            self.abuse = AbuseCounter.from_settings()
        if self.abuse.add():
            logger.info(
                "Closing connection of user %s after %d malformed requests (or requests over its "
                "budget) in %.0f s",
                self.user_id,
                len(self.abuse.times),
                self.abuse.window,
            )
            self.close_with(CLOSE_POLICY)

    def kicked(self, topic: str, code: str, message: str) -> None:
        """The hub ended one subscription (e.g. a ban); the connection stays open."""
        self.send_frame(protocol.reply("kicked", topic=topic, code=code, message=message))

    def close_with(self, code: int) -> None:
        if self.closed:
            return
        self.closed = True
        self.queue = None  # requests not yet carried out stay unanswered: the close answers them
        if hasattr(self, "hub"):
            self.hub.drop(self)
        self.writer.write_close(code)

    def _on_overflow(self) -> None:
        # Called from inside the hub's fan-out loop: leave the rooms once that loop is done.
        self.closed = True
        if hasattr(self, "hub"):
            asyncio.get_running_loop().call_soon(self.hub.drop, self)
