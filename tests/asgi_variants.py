"""ASGI applications as a tutorial's reader might write them, for the system checks' tests."""

from channels.routing import ProtocolTypeRouter, URLRouter
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.asgi import get_asgi_application

from realtime.asgi import websocket_application

django_asgi_app = get_asgi_application()

# Everything right (as project/asgi.py in DEBUG).
good = ProtocolTypeRouter(
    {"http": ASGIStaticFilesHandler(django_asgi_app), "websocket": websocket_application()}
)
# Forgot to mount realtime: a router without its WebSocket route.
no_websocket = ProtocolTypeRouter(
    {"http": ASGIStaticFilesHandler(django_asgi_app), "websocket": URLRouter([])}
)
# Only HTTP: `asgi.py` left as startproject wrote it.
plain_django = django_asgi_app
# The README's old snippet: sockets mounted, static files not served under daphne.
no_static = ProtocolTypeRouter({"http": django_asgi_app, "websocket": websocket_application()})
