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

# daphne serves no static files itself; in development let Django do it (use a CDN/whitenoise in prod).
http_application = ASGIStaticFilesHandler(django_asgi_app) if settings.DEBUG else django_asgi_app

application = ProtocolTypeRouter(
    {
        "http": http_application,
        "websocket": websocket_application(),
    }
)
