"""The WebSocket side of a project's `asgi.py`, with every check in the right order."""

from __future__ import annotations

from typing import Any

from channels.routing import URLRouter
from channels.security.websocket import WebsocketDenier
from django.db import Error as DatabaseError
from django.urls import re_path
from django.utils import translation

from .language import SCOPE_KEY as LANGUAGE_KEY
from .language import LanguageMiddleware, language_of
from .origins import BrowserOriginValidator, origin_verdict, without_cookies
from .security import (
    ServerSendMiddleware,
    SessionAuthWhenCookies,
    TicketAuthMiddleware,
    _selecting_subprotocol,
    anonymous_user,
    has_cookies,
    refuse_for_now,
    ticket_auth,
)
from .serverpatch import lighten_daphne
from .tickets import SUBPROTOCOL

SERVER_SEND_KEY = "realtime.server_send"


def websocket_application(urlpatterns: list[Any] | None = None) -> Any:
    """realtime's WebSocket routes (plus any of yours) behind origin validation and authentication.

    In asgi.py, after `get_asgi_application()`:

        application = ProtocolTypeRouter({
            "http": django_asgi_app,
            "websocket": websocket_application(),
        })

    Order, outside in: the connection's language (its error messages are in the viewer's language, as
    the page is); keep the server's send for direct writes; refuse foreign origins (and drop
    cookies from non-browser handshakes); session auth (when there are cookies); ticket auth (wins
    over the session).

    The consumer is mounted at `REALTIME["WEBSOCKET_PATH"]` as set when this is called. A handshake on
    any other path is refused (HTTP 403) rather than raising in the server, so scanners probing random
    paths leave no tracebacks in the log.
    """
    from .routing import get_websocket_urlpatterns

    lighten_daphne()
    # re_path is typed for views; Channels' URLRouter takes ASGI applications in it too.
    refuse_the_rest = re_path(r"", refuse_handshake)  # type: ignore[arg-type]
    own = get_websocket_urlpatterns()  # validates WEBSOCKET_PATH now, as before
    routes = own + list(urlpatterns or []) + [refuse_the_rest]
    # The same checks as a chain of the middlewares, for what the one-frame path below leaves to it.
    chain = LanguageMiddleware(
        ServerSendMiddleware(
            BrowserOriginValidator(SessionAuthWhenCookies(TicketAuthMiddleware(URLRouter(routes))))
        )
    )
    rest = URLRouter(list(urlpatterns or []) + [refuse_the_rest])
    return Handshake(chain, rest)


class Handshake:
    """The middlewares above, run in one coroutine on one copy of the scope.

    Why: each idle socket kept every layer's coroutine frame and its own copy of the scope alive for
    its whole life (the scope copied five times, Channels' router a sixth): ~5 KB of a socket's ~29 KB
    (tracemalloc, `bash bench/run --scenarios idle --memprofile`). Here the checks run in the same
    order and with the same outcomes, set their keys on one dict, and the consumer is called directly
    when the path is realtime's own. Anything else (another scope type, another path) goes the long
    way: `chain` (the middlewares themselves) or `rest` (your routes and the refusal, behind the checks).
    """

    realtime_websocket = True  # what `manage.py check` looks for in ASGI_APPLICATION (E006)

    def __init__(self, chain: Any, rest: Any) -> None:
        from .conf import realtime_settings
        from .consumer import RealtimeConsumer

        self.inner = chain  # also how `manage.py check` walks into it
        self.rest = rest
        self.consumer = RealtimeConsumer
        # The route Channels would match: the path without root_path and leading slashes, literally.
        self.path = str(realtime_settings.WEBSOCKET_PATH).lstrip("/")
        self.sessions = SessionAuthWhenCookies(None)  # only its `resolve`

    @staticmethod
    def _route_path(scope: dict[str, Any]) -> str | None:
        """The path Channels' outermost router would match, or None where it would not route it simply
        (no path, a path outside root_path, or inside another router): the chain does those."""
        path = scope.get("path")
        root_path = scope.get("root_path") or ""
        if "path_remaining" in scope or not isinstance(path, str) or not path.startswith(root_path):
            return None
        return path[len(root_path) :].lstrip("/")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        path = self._route_path(scope) if scope["type"] == "websocket" else None
        if path is None:
            return await self.inner(scope, receive, send)
        language = language_of(scope)
        # The connection runs in its viewer's language for its whole life (LanguageMiddleware).
        with translation.override(language):
            # The one copy: every check below sets its keys on it.
            scope = dict(scope, **{LANGUAGE_KEY: language, SERVER_SEND_KEY: send})
            verdict = origin_verdict(scope)
            if verdict is False:
                return await WebsocketDenier()(scope, receive, send)
            if verdict is None:  # not a browser: only a ticket may authenticate it
                scope["headers"] = without_cookies(scope.get("headers", []))
            if has_cookies(scope):
                resolved = await self.sessions.resolve(scope, receive, send)
                if resolved is None:
                    return None
                scope, send = resolved
            else:
                scope["user"] = anonymous_user()
            try:
                scope.update(await ticket_auth(scope))
            except DatabaseError as exc:  # the ticket may be used up: the client fetches a new one
                return await refuse_for_now(scope, receive, send, exc, "redeeming a ticket")
            if path == self.path:
                # The consumer selects the `realtime` subprotocol itself; no wrapper around send.
                return await self.consumer()(scope, receive, send)
            if SUBPROTOCOL in (scope.get("subprotocols") or ()):
                send = _selecting_subprotocol(send)
            return await self.rest(scope, receive, send)


async def refuse_handshake(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Close before accepting: the server answers the handshake with HTTP 403."""
    if scope["type"] == "websocket" and (await receive())["type"] == "websocket.connect":
        await send({"type": "websocket.close"})
