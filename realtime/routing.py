"""WebSocket URL patterns. Mount them with `realtime.asgi.websocket_application()`."""

from django.urls import path

from .consumer import RealtimeConsumer

websocket_urlpatterns = [
    path("ws/realtime/", RealtimeConsumer.as_asgi(), name="realtime"),
]
