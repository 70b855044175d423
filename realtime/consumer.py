"""The one WebSocket endpoint: a multiplexed, authenticated connection speaking docs/protocol.md."""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import Any

from channels.consumer import AsyncConsumer
from channels.exceptions import StopConsumer
from django.db import Error as DatabaseError  # InterfaceError too: a dropped connection
from django.utils.translation import gettext as _

from . import protocol, requests
from .conf import realtime_settings
from .exceptions import ProtocolError, Unavailable
from .hub import Hub, get_hub
from .hub.registry import database_outage
from .limits import AbuseCounter, ConnectionCounter, RequestBudget, client_address
from .ops import logs, metrics
from .ops.status import error_sent
from .pipeline import Pipeline
from .protocol import Request
from .tickets import SUBPROTOCOL
from .transport import (
    CLOSE_AUTH_FAILED,
    CLOSE_POLICY,
    CLOSE_TOO_MANY_CONNECTIONS,
    Frame,
    Writer,
)
from .writers import make_writer

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
    against the request budget on arrival. Refusals and pings are answered at once; accepted requests
    are carried out in arrival order by the connection's `Pipeline` (many publishes in flight at once,
    in order), so a refusal may overtake them (clients match answers by `ref`).
    """

    # Slots, not a per-instance dict: one of these lives as long as its socket (`log_id`: set by
    # realtime.ops.logs when the connection is first logged about; `presence_id`: by the presence
    # tracker on the socket's first presence topic).
    __slots__ = (
        "scope",
        "base_send",
        "channel_layer",
        "user",
        "user_id",
        "session_key",
        "abuse",
        "budget",
        "pipeline",
        "counted",
        "closed",
        "writer",
        "hub",
        "log_id",
        "presence_id",
    )
    hub: Hub
    writer: Writer

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        # Deliberately not AsyncConsumer.__call__: that allocates a layer channel and a reader task
        # per connection, and closes stale DB connections (a thread hop) before every frame.
        self.scope = scope
        self.base_send = send
        self.channel_layer = None
        self.user: Any = scope.get("user")
        authenticated = getattr(self.user, "is_authenticated", False)
        self.user_id: int | None = getattr(self.user, "pk", None) if authenticated else None
        session = scope.get("session")
        self.session_key: str | None = getattr(session, "session_key", None) if self.user_id else None
        self.abuse: AbuseCounter | None = None  # made on the first refusal that counts
        self.budget: RequestBudget | None = None  # made on the first request
        self.pipeline: Pipeline | None = None  # made on the first request that needs an await
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
        kind = message["type"]  # no dict of bound methods per frame: this runs for every frame
        if kind == "websocket.receive":
            await self.websocket_receive(message)
        elif kind == "websocket.connect":
            await self.websocket_connect(message)
        elif kind == "websocket.disconnect":
            await self.websocket_disconnect(message)

    # -- lifecycle --------------------------------------------------------------------------------
    async def websocket_connect(self, message: dict[str, Any]) -> None:
        # Select the `realtime` subprotocol when offered (browsers then check it), whichever
        # middleware is in front: `realtime.asgi` calls this consumer without wrapping its send.
        offered = self.scope.get("subprotocols") or ()
        accept = {"type": "websocket.accept"}
        if SUBPROTOCOL in offered:
            accept["subprotocol"] = SUBPROTOCOL
        await self.base_send(accept)
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
                extra=logs.context(self),
            )
            self.send_frame(protocol.error(exc))
            self.close_with(CLOSE_TOO_MANY_CONNECTIONS)
            return
        self.hub.connections.add(self)
        user = (self.user_id, self.user.get_username()) if self.user_id else None
        limits = (
            realtime_settings.HEARTBEAT,
            realtime_settings.MAX_FRAME_BYTES,
            realtime_settings.MAX_PUBLISHES_IN_FLIGHT,
            realtime_settings.REQUEST_RATE,
            realtime_settings.REQUEST_BURST,
        )
        self.send_frame(protocol.hello(user, limits))

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        raise StopConsumer()

    def _teardown(self) -> None:
        self.closed = True
        if self.pipeline is not None:
            # Cancelled mid-request, it unwinds (a subscribe in progress leaves its room) on its own.
            self.pipeline.cancel()
        if hasattr(self, "hub"):
            self.hub.drop(self)
            if self.counted is not None:
                self.hub.service(ConnectionCounter).release(self.counted)
                self.counted = None
        if hasattr(self, "writer"):
            self.writer.release()

    async def websocket_receive(self, message: dict[str, Any]) -> None:
        """Judge a frame on arrival: answer or refuse it now, or hand it to the pipeline (never waits)."""
        if self.closed or not hasattr(self, "hub"):
            return
        try:
            request = protocol.parse_request(
                message.get("text"), max_bytes=int(realtime_settings.MAX_FRAME_BYTES)
            )
        except ProtocolError as exc:
            # A malformed request whose `ref` could be read is answered with that `ref`.
            self.refuse(exc, None, ref=exc.ref if isinstance(exc, protocol.MalformedRequest) else None)
            return
        if self.budget is None:
            self.budget = RequestBudget.from_settings()
        pipeline = self.pipeline
        over_budget = self.budget.refusal(pipeline.waiting() if pipeline else 0)
        if over_budget is not None:
            # Counted toward the abuse limit unless it is the client's own frames already on the wire.
            self.refuse(over_budget, request, abuse=not over_budget.excused)
            return
        if request.type == "ping" or (request.type == "unsubscribe" and pipeline is None):
            # A ping waits for nothing; an unsubscribe with nothing before it needs no await.
            self._sync_request(request)
            return
        if pipeline is None:
            pipeline = self.pipeline = Pipeline(self.handle, partial(self.hub.topic_of, self), self._idle)
        refusal = pipeline.refusal(request)
        if refusal is not None:  # a producer ahead of its answers: told to wait, not abuse
            self.refuse(refusal, request)
            return
        pipeline.submit(request)

    def _idle(self) -> None:
        self.pipeline = None  # every request is answered: an idle socket keeps no queue or task set

    def _sync_request(self, request: Request) -> None:
        try:
            if request.type == "ping":
                self.send_frame(protocol.reply("pong", request.ref))
            else:
                requests.unsubscribe(self, request)
        except ProtocolError as exc:
            self.refuse(exc, request)

    async def handle(self, request: Request) -> None:
        """Carry out one accepted request; every outcome is answered (a reply or an `error`)."""
        try:
            if request.type == "subscribe":
                await requests.subscribe(self, request)
            elif request.type == "publish":
                await requests.publish(self, request)
            elif request.type == "presence":
                requests.presence(self, request)
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
            logger.exception(
                "Unexpected error handling %s", request.type, extra=logs.context(self, request.topic)
            )
            self.refuse(
                ProtocolError("internal_error", _("The server failed to handle this request.")), request
            )

    # -- sending and closing ----------------------------------------------------------------------
    def send_frame(self, text: str) -> None:
        self.writer.write(Frame(text))

    def refuse(
        self, exc: ProtocolError, request: Request | None, *, abuse: bool = False, ref: str | None = None
    ) -> None:
        """Answer with an `error` (carrying the request's `ref`, or `ref` for a frame that did not parse);
        past ABUSE_LIMIT refusals that count (malformed requests, and requests over the connection's
        budget: `abuse=True`), close with 4429 right after it."""
        if self.closed:
            return
        if request is not None:
            ref = request.ref
        self.send_frame(protocol.error(exc, ref=ref, topic=request.topic if request else None))
        metrics.error(exc.code)
        error_sent(self.hub, exc.code)  # the admin's status page: recent errors by code
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
                extra=logs.context(self),
            )
            self.close_with(CLOSE_POLICY)

    def kicked(self, topic: str, code: str, message: str) -> None:
        """The hub ended one subscription (e.g. a ban); the connection stays open."""
        self.send_frame(protocol.reply("kicked", topic=topic, code=code, message=message))

    def close_with(self, code: int) -> None:
        if self.closed:
            return
        self.closed = True
        if self.pipeline is not None:  # requests not yet started stay unanswered: the close answers them
            self.pipeline.clear()
        if hasattr(self, "hub"):
            self.hub.drop(self)
        metrics.close(code)
        self.writer.write_close(code)

    def _on_overflow(self) -> None:
        # Called from inside the hub's fan-out loop: leave the rooms once that loop is done.
        self.closed = True
        metrics.slow_client_cut()
        if hasattr(self, "hub"):
            asyncio.get_running_loop().call_soon(self.hub.drop, self)
