"""The WebSocket side of a project's `asgi.py`, with every check in the right order."""

from __future__ import annotations

from typing import Any

from channels.routing import URLRouter
from django.urls import re_path

from .handshake import CheckMiddleware, run_checks
from .language import LanguageMiddleware, connection_language, speaking
from .origins import check_origin
from .security import (
    SubprotocolSelector,
    authenticate_session,
    authenticate_ticket,
    keep_server_send,
    selecting_subprotocol,
)
from .serverpatch import lighten_daphne

# The handshake's checks, outside in: keep the server's send for direct writes; refuse foreign origins
# (and drop cookies from non-browser handshakes); session auth (when there are cookies); ticket auth
# (wins over the session). The one order, for both ways a handshake goes (`Handshake`, the chain).
CHECKS = (keep_server_send, check_origin, authenticate_session, authenticate_ticket)


def websocket_application(urlpatterns: list[Any] | None = None) -> Any:
    """realtime's WebSocket routes (plus any of yours) behind origin validation and authentication.

    In asgi.py, after `get_asgi_application()`:

        application = ProtocolTypeRouter({
            "http": django_asgi_app,
            "websocket": websocket_application(),
        })

    Order, outside in: the connection's language (its error messages are in the viewer's language, as
    the page is), then `CHECKS`.

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
    inner: Any = SubprotocolSelector(URLRouter(routes))
    for check in reversed(CHECKS):
        inner = CheckMiddleware(check, inner)
    chain = LanguageMiddleware(inner)
    rest = URLRouter(list(urlpatterns or []) + [refuse_the_rest])
    return Handshake(chain, rest)


class Handshake:
    """The middlewares above, run in one coroutine on one copy of the scope.

    Why: each idle socket kept every layer's coroutine frame and its own copy of the scope alive for
    its whole life (the scope copied five times, Channels' router a sixth): ~5 KB of a socket's ~29 KB
    (tracemalloc, `bash bench/run --scenarios idle --memprofile`). Here the same check functions the
    middlewares are made of (`realtime.handshake`) run in the same order on one dict, and the consumer
    is called directly when the path is realtime's own. Anything else (another scope type, another
    path) goes the long way: `chain` (the middlewares themselves) or `rest` (your routes and the
    refusal, behind the checks).
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
        self.checks = CHECKS

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
        # The one copy: every check below sets its keys on it.
        scope = dict(scope)
        # The connection runs in its viewer's language for its whole life (LanguageMiddleware).
        with speaking(connection_language(scope)):
            checked = await run_checks(self.checks, scope, receive, send)
            if checked is None:
                return None  # refused, and answered
            if path == self.path:
                # The consumer selects the `realtime` subprotocol itself; no wrapper around send.
                return await self.consumer()(scope, receive, checked)
            return await self.rest(scope, receive, selecting_subprotocol(scope, checked))


async def refuse_handshake(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Close before accepting: the server answers the handshake with HTTP 403."""
    if scope["type"] == "websocket" and (await receive())["type"] == "websocket.connect":
        await send({"type": "websocket.close"})
