"""
ASGI config for mysite: HTTP through Django, WebSockets through realtime.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
# Set Django up first: what is imported below uses models.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter
from django.conf import settings
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

from realtime.asgi import websocket_application

application = ProtocolTypeRouter(
    {
        # daphne serves no static files: in development Django does (in production, your web server).
        "http": ASGIStaticFilesHandler(django_asgi_app) if settings.DEBUG else django_asgi_app,
        # realtime's socket, behind its origin check, session and ticket authentication.
        "websocket": websocket_application(),
    }
)
