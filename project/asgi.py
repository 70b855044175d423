"""ASGI entry point: HTTP through Django, WebSockets through realtime.

This is the whole integration a project needs: `realtime.asgi.websocket_application()` wraps the app's
WebSocket routes in origin validation (against ALLOWED_HOSTS), session and ticket authentication.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
# Django must be set up (get_asgi_application does it) before anything imports models.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from realtime.asgi import websocket_application  # noqa: E402


class StaticFilesInDebug:
    """daphne serves no static files itself: in development Django does (in production, the web server).

    DEBUG is read per request, not when this module is imported: the module is imported once per process
    and settings can change after that (override_settings in the test suite), so a choice made at import
    would depend on whichever test imported it first.
    """

    def __init__(self, django_app):
        self.django_app = django_app
        self.app = ASGIStaticFilesHandler(django_app)  # `app`: what realtime's W005 check looks for

    async def __call__(self, scope, receive, send):
        handler = self.app if settings.DEBUG else self.django_app
        return await handler(scope, receive, send)


http_application = StaticFilesInDebug(django_asgi_app)

application = ProtocolTypeRouter(
    {
        "http": http_application,
        "websocket": websocket_application(),
    }
)
