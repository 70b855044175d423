"""The WebSocket side of a project's `asgi.py`, with every check in the right order."""

from __future__ import annotations

from typing import Any

from channels.routing import URLRouter
from django.urls import re_path

from .language import LanguageMiddleware
from .origins import BrowserOriginValidator
from .security import (
    ServerSendMiddleware,
    SessionAuthWhenCookies,
    TicketAuthMiddleware,
)


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

    # re_path is typed for views; Channels' URLRouter takes ASGI applications in it too.
    refuse_the_rest = re_path(r"", refuse_handshake)  # type: ignore[arg-type]
    routes = get_websocket_urlpatterns() + list(urlpatterns or []) + [refuse_the_rest]
    app = TicketAuthMiddleware(URLRouter(routes))
    mounted: Any = LanguageMiddleware(
        ServerSendMiddleware(BrowserOriginValidator(SessionAuthWhenCookies(app)))
    )
    mounted.realtime_websocket = True  # what `manage.py check` looks for in ASGI_APPLICATION (E006)
    return mounted


async def refuse_handshake(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Close before accepting: the server answers the handshake with HTTP 403."""
    if scope["type"] == "websocket" and (await receive())["type"] == "websocket.connect":
        await send({"type": "websocket.close"})
