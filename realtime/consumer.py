"""The one WebSocket endpoint: a multiplexed, authenticated connection speaking docs/protocol.md."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any

from channels.consumer import AsyncConsumer
from channels.exceptions import StopConsumer
from django.db import DatabaseError

from . import protocol
from .conf import realtime_settings
from .exceptions import ProtocolError, Unavailable
from .hub import Hub, Replay, get_hub
from .protocol import Request
from .topics import load_topic
from .transport import CLOSE_AUTH_FAILED, CLOSE_POLICY, Frame, Writer, make_writer

logger = logging.getLogger("realtime.consumer")

SERVER_SEND_KEY = "realtime.server_send"


class RealtimeConsumer(AsyncConsumer):
    """Routes client requests to topics and the hub.

    Unlike a tutorial consumer it has no channel-layer channel of its own: the process's hub is the
    only layer reader, and it writes events straight to this connection's `writer`. Everything this
    consumer sends after the handshake goes through the same writer, so replies, history and live
    events leave in one order.
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
        self.errors: deque[float] | None = None  # malformed requests, for the abuse limit
        self.closed = False
        try:
            # One receiver, so no await_many_dispatch: that wraps each receive in a task of its own,
            # an extra task (and its memory) per idle connection.
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass
        finally:
            # Also when daphne cancels us (an application that does not exit after disconnect): a
            # connection that left no trace in its rooms would count as a viewer for ever.
            self._teardown()

    async def dispatch(self, message: dict[str, Any]) -> None:
        handler = {"websocket.connect": self.websocket_connect, "websocket.receive": self.websocket_receive,
                   "websocket.disconnect": self.websocket_disconnect}.get(message["type"])
        if handler is not None:
            await handler(message)

    # -- lifecycle --------------------------------------------------------------------------------
    async def websocket_connect(self, message: dict[str, Any]) -> None:
        await self.base_send({"type": "websocket.accept"})
        self.writer = make_writer(self.scope.get(SERVER_SEND_KEY), self.base_send,
                                  max_pending=int(realtime_settings.MAX_PENDING_BYTES),
                                  on_overflow=self._on_overflow)
        auth_error = self.scope.get("realtime.auth_error")
        if auth_error:
            self.send_frame(protocol.error(ProtocolError("auth_failed", auth_error)))
            self.close_with(CLOSE_AUTH_FAILED)
            return
        self.hub = await get_hub()
        self.hub.connections.add(self)
        user = {"id": self.user_id, "username": self.user.get_username()} if self.user_id else None
        self.send_frame(protocol.reply("hello", user=user, heartbeat=realtime_settings.HEARTBEAT,
                                       max_frame=realtime_settings.MAX_FRAME_BYTES))

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        raise StopConsumer()

    def _teardown(self) -> None:
        self.closed = True
        if hasattr(self, "hub"):
            self.hub.drop(self)
        if hasattr(self, "writer"):
            self.writer.release()

    async def websocket_receive(self, message: dict[str, Any]) -> None:
        if self.closed:
            return
        request: Request | None = None
        try:
            request = protocol.parse_request(message.get("text"), max_bytes=int(realtime_settings.MAX_FRAME_BYTES))
            if request.type == "ping":
                self.send_frame(protocol.reply("pong", request.ref))
            elif request.type == "subscribe":
                await self.subscribe(request)
            elif request.type == "unsubscribe":
                self.unsubscribe(request)
            else:
                await self.publish(request)
        except ProtocolError as exc:
            self.refuse(exc, request)
        except DatabaseError as exc:
            # The database is down or failing over: not the client's fault, and worth retrying.
            logger.warning("Database unavailable while handling %s (%s)", request.type if request else "a frame", exc)
            self.refuse(Unavailable(), request)
        except Exception:
            # A bug, not the client's fault: say so, keep the connection, log it for us to fix.
            logger.exception("Unexpected error handling %s", request.type if request else "a frame")
            self.refuse(ProtocolError("internal_error", "The server failed to handle this request."), request)

    # -- requests ---------------------------------------------------------------------------------
    async def subscribe(self, request: Request) -> None:
        assert request.topic is not None
        held = self.hub.subscriptions(self)
        if request.topic not in held and len(held) >= int(realtime_settings.MAX_SUBSCRIPTIONS):
            raise ProtocolError("too_many_subscriptions",
                                f"A connection may hold {realtime_settings.MAX_SUBSCRIPTIONS} subscriptions.")
        topic = await load_topic(request.topic)
        await topic.authorize_subscribe(self)

        def make_reply(replay: Replay | None, state: dict[str, Any]) -> str:
            return protocol.reply(
                "subscribed", request.ref, topic=topic.name,
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
            raise ProtocolError("not_subscribed", f"This connection is not subscribed to {request.topic[:80]!r}.")
        self.send_frame(protocol.reply("unsubscribed", request.ref, topic=request.topic))

    async def publish(self, request: Request) -> None:
        assert request.topic is not None and request.event is not None
        topic = self.hub.topic_of(self, request.topic)
        if topic is None:
            raise ProtocolError("not_subscribed", f"Subscribe to {request.topic[:80]!r} before publishing on it.")
        ack = await topic.publish(self, request.event, request.data)
        self.send_frame(protocol.reply("ack", request.ref, topic=topic.name, **ack))

    # -- sending and closing ----------------------------------------------------------------------
    def send_frame(self, text: str) -> None:
        self.writer.write(Frame(text))

    def refuse(self, exc: ProtocolError, request: Request | None) -> None:
        if self.closed:
            return
        self.send_frame(protocol.error(exc, ref=request.ref if request else None,
                                       topic=request.topic if request else None))
        if exc.code not in protocol.ABUSE_CODES:
            return  # refusals of well-formed requests (muted, rate limited, server failures) are not abuse
        now = time.monotonic()
        if self.errors is None:
            self.errors = deque()
        self.errors.append(now)
        window = float(realtime_settings.ABUSE_WINDOW)
        while self.errors and self.errors[0] < now - window:
            self.errors.popleft()
        if len(self.errors) > int(realtime_settings.ABUSE_LIMIT):
            logger.info("Closing connection of user %s after %d malformed requests in %.0f s",
                        self.user_id, len(self.errors), window)
            self.close_with(CLOSE_POLICY)

    def kicked(self, topic: str, code: str, message: str) -> None:
        """The hub ended one subscription (e.g. a ban); the connection stays open."""
        self.send_frame(protocol.reply("kicked", topic=topic, code=code, message=message))

    def close_with(self, code: int) -> None:
        if self.closed:
            return
        self.closed = True
        if hasattr(self, "hub"):
            self.hub.drop(self)
        self.writer.write_close(code)

    def _on_overflow(self) -> None:
        # Called from inside the hub's fan-out loop: leave the rooms once that loop is done.
        self.closed = True
        if hasattr(self, "hub"):
            asyncio.get_running_loop().call_soon(self.hub.drop, self)
