"""Handshake authentication checks (`realtime.handshake`): session auth when there are cookies, tickets
otherwise, and the server's send.

A handshake reaches this only after `realtime.origins` accepted its Origin (or, without one, dropped
its cookies: not a browser, so only a ticket can authenticate it). docs/security.md has the rules.
"""

from __future__ import annotations

import functools
import logging
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import Error as DatabaseError
from django.utils.translation import gettext as _

from . import protocol
from .exceptions import Unavailable
from .handshake import CheckMiddleware, Receive, Scope, Send
from .hub.registry import database_outage
from .ops import metrics
from .tickets import SUBPROTOCOL, TICKET_PROTOCOL_PREFIX, TicketError, redeem

logger = logging.getLogger(__name__)

SERVER_SEND_KEY = "realtime.server_send"
CLOSE_TRY_AGAIN = 4013  # authentication failed on our side (database down): reconnect after retry_after


async def authenticate_session(scope: Scope, receive: Receive, send: Send) -> Send | None:
    """The handshake check (`realtime.handshake`): the session's user for a handshake with cookies,
    through Channels' session and auth middleware; the one shared AnonymousUser for one without.

    Why not Channels' AuthMiddlewareStack for every handshake: without a cookie there is no session to
    find, yet it would still resolve the user on a database thread: a thread hop per anonymous viewer,
    12% of a connect in bench/'s connect storm. If the database fails, the handshake is refused for
    now (`refuse_for_now`).
    """
    if not has_cookies(scope):
        scope["user"] = anonymous_user()
        return send
    try:
        # Channels' stack hands back its scope and send instead of calling an application, so only
        # authentication's failures are caught here.
        resolved, send = await _with_session()(scope, receive, send)
    except DatabaseError as exc:
        await refuse_for_now(scope, receive, send, exc, "loading the session")
        return None
    database_outage(None)
    scope.update(resolved)
    return send


@functools.cache
def _with_session() -> Any:
    from channels.auth import AuthMiddlewareStack

    return AuthMiddlewareStack(_resolved)


class SessionAuthWhenCookies(CheckMiddleware):
    """`authenticate_session` as a middleware."""

    def __init__(self, inner: Any) -> None:
        super().__init__(authenticate_session, inner)


def has_cookies(scope: dict[str, Any]) -> bool:
    return any(name == b"cookie" for name, _ in scope.get("headers", ()))


@functools.cache
def anonymous_user() -> Any:
    """One AnonymousUser for every cookie-less connection: it has no state of its own (Django and
    Channels never set attributes on it, logging out puts a new one in the scope), so one per socket
    was only memory."""
    from django.contrib.auth.models import AnonymousUser

    return AnonymousUser()


def _redeem(ticket: str) -> tuple[Any, Any]:
    """The ticket's user, and the session that asked for it (None for a session-less ticket)."""
    from importlib import import_module

    redemption = redeem(ticket)
    key = redemption.session_key
    # The store is only a handle (it loads nothing until read): the consumer takes its key, so logging
    # that session out closes this socket too.
    return redemption.user, import_module(settings.SESSION_ENGINE).SessionStore(key) if key else None


async def authenticate_ticket(scope: Scope, receive: Receive, send: Send) -> Send | None:
    """The handshake check (`realtime.handshake`): a ticket authenticates the connection as its user
    (overriding any session user).

    Presented as the subprotocol `realtime.ticket.<ticket>` next to `realtime` (the server then
    accepts with `realtime` selected: echoing the ticket back would only spread it) or as
    `?ticket=...`. The socket then belongs to the session that asked for the ticket, so logging that
    session out closes it. A bad ticket does not refuse the handshake (browsers cannot read HTTP errors
    on WebSockets); it sets `scope["realtime.auth_error"]` and the consumer closes with 4001 after
    saying why. If the database fails, the handshake is refused for now (`refuse_for_now`): the ticket
    may be used up, so the client fetches a new one.
    """
    try:
        scope.update(await ticket_auth(scope))
    except DatabaseError as exc:
        await refuse_for_now(scope, receive, send, exc, "redeeming a ticket")
        return None
    return send


class TicketAuthMiddleware(CheckMiddleware):
    """`authenticate_ticket` as a middleware."""

    def __init__(self, inner: Any) -> None:
        super().__init__(authenticate_ticket, inner)


async def ticket_auth(scope: dict[str, Any]) -> dict[str, Any]:
    """What a handshake's ticket changes in its scope (nothing without one): the user and session, or
    `realtime.auth_error`; the ticket itself leaves the subprotocols and headers. Raises the database's
    errors (redeeming is authentication's only database work)."""
    offered = scope.get("subprotocols") or ()
    tickets = [p[len(TICKET_PROTOCOL_PREFIX) :] for p in offered if p.startswith(TICKET_PROTOCOL_PREFIX)]
    found: dict[str, Any] = {}
    if tickets:
        # The inner application has no use for the ticket; keep it out of anything that logs scopes.
        found["subprotocols"] = [p for p in offered if not p.startswith(TICKET_PROTOCOL_PREFIX)]
        found["headers"] = [(k, v) for k, v in scope.get("headers", ()) if k != b"sec-websocket-protocol"]
    query = scope.get("query_string", b"")
    if b"ticket" in query:
        tickets += parse_qs(query.decode("latin-1")).get("ticket", [])
    if len(tickets) > 1:
        found["realtime.auth_error"] = _("Present one ticket, either as a subprotocol or as ?ticket=.")
    elif tickets:
        try:
            found["user"], found["session"] = await database_sync_to_async(_redeem)(tickets[0])
            found["realtime.ticket"] = True  # counted apart by realtime.ops.metrics
        except TicketError as exc:
            found["realtime.auth_error"] = str(exc)
        database_outage(None)
    return found


async def _resolved(scope: dict[str, Any], receive: Any, send: Any) -> tuple[dict[str, Any], Any]:
    return scope, send


async def refuse_for_now(
    scope: dict[str, Any], receive: Any, send: Any, exc: BaseException, during: str
) -> None:
    """The database failed authentication: accept, send `unavailable` with `retry_after`, close with 4013
    (the client reconnects after that pause; not 1011 or an HTTP 500). Logged once per outage."""
    database_outage(exc, f"{during} for a WebSocket handshake")
    if (await receive())["type"] != "websocket.connect":
        return
    selected = {"subprotocol": SUBPROTOCOL} if SUBPROTOCOL in (scope.get("subprotocols") or ()) else {}
    await send({"type": "websocket.accept", **selected})
    refusal = Unavailable(_("The server cannot authenticate connections right now; reconnect shortly."))
    await send({"type": "websocket.send", "text": protocol.error(refusal)})
    metrics.error(refusal.code)
    metrics.close(CLOSE_TRY_AGAIN)
    await send({"type": "websocket.close", "code": CLOSE_TRY_AGAIN})


def selecting_subprotocol(scope: Scope, send: Send) -> Send:
    """The send for an application that does not select the `realtime` subprotocol itself (your
    routes; the consumer does): accepting selects it when the client offered it."""
    if SUBPROTOCOL not in (scope.get("subprotocols") or ()):
        return send

    async def select(message: dict[str, Any]) -> None:
        if message["type"] == "websocket.accept" and not message.get("subprotocol"):
            message = dict(message, subprotocol=SUBPROTOCOL)
        await send(message)

    return select


class SubprotocolSelector:
    """`selecting_subprotocol` as a middleware, innermost in the chain (not a check: it refuses nothing)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> Any:
        return await self.inner(scope, receive, selecting_subprotocol(scope, send))


async def keep_server_send(scope: Scope, receive: Receive, send: Send) -> Send:
    """The handshake check (`realtime.handshake`) that refuses nothing: keep the server's own `send`
    in the scope, so the hub can write to the socket directly.

    Also says whether daphne's socket is TLS: daphne puts no `scheme` in a WebSocket scope, so without
    this the origin check would take daphne serving TLS itself (`-e ssl:`) for `http` and refuse every
    browser page served over https by the same daphne."""
    scope[SERVER_SEND_KEY] = send
    if "scheme" not in scope and is_tls(send):
        scope["scheme"] = "wss"
    return send


def is_tls(send: Send) -> bool:
    """Whether daphne's socket behind this ASGI `send` is TLS (Twisted's public ISSLTransport)."""
    from .writers import daphne_protocol  # Twisted is imported only where daphne runs

    protocol = daphne_protocol(send)
    if protocol is None:
        return False
    from twisted.internet.interfaces import ISSLTransport

    return ISSLTransport.providedBy(protocol.transport)


class ServerSendMiddleware(CheckMiddleware):
    """`keep_server_send` as a middleware."""

    def __init__(self, inner: Any) -> None:
        super().__init__(keep_server_send, inner)
