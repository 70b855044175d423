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

from realtime.asgi import websocket_application  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": websocket_application(),
    }
)
