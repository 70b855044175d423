"""The WebSocket side of a project's `asgi.py`, with every check in the right order."""

from __future__ import annotations

from typing import Any

from channels.routing import URLRouter

from .security import (
    BrowserOriginValidator,
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

    Order, outside in: keep the server's send for direct writes; refuse foreign origins (and drop
    cookies from non-browser handshakes); session auth (when there are cookies); ticket auth (wins
    over the session).
    """
    from .routing import websocket_urlpatterns

    routes = list(websocket_urlpatterns) + list(urlpatterns or [])
    app = TicketAuthMiddleware(URLRouter(routes))
    return ServerSendMiddleware(BrowserOriginValidator(SessionAuthWhenCookies(app)))
