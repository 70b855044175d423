"""WebSocket URL patterns: the consumer at `REALTIME["WEBSOCKET_PATH"]`, the path the template tag hands
the browser, so moving one moves both. Mount them with `realtime.asgi.websocket_application()`.

The path is read when the patterns are asked for, never when this module is imported: projects build
their ASGI application after settings are configured, and tests can `override_settings` it.
"""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.urls import URLPattern, re_path

__all__ = ["get_websocket_urlpatterns", "websocket_urlpatterns"]  # noqa: F822 (made by __getattr__)


def get_websocket_urlpatterns() -> list[URLPattern]:
    """The consumer's route at `REALTIME["WEBSOCKET_PATH"]` as it is set now."""
    from .conf import realtime_settings
    from .consumer import RealtimeConsumer

    setting = realtime_settings.WEBSOCKET_PATH
    if not isinstance(setting, str) or not setting.startswith("/") or len(setting) < 2:
        raise ImproperlyConfigured(
            f"REALTIME['WEBSOCKET_PATH'] must be an absolute URL path such as '/ws/realtime/', not {setting!r}."
        )
    # Channels routes on the path without its leading slash; the rest is matched literally (a path
    # with `<` or `.` in it means those characters, not converters or wildcards).
    route = "^" + re.escape(setting.lstrip("/")) + r"\Z"
    return [re_path(route, RealtimeConsumer.as_asgi(), name="realtime")]


def __getattr__(name: str) -> Any:
    # `from realtime.routing import websocket_urlpatterns` keeps working, computed on first access.
    if name == "websocket_urlpatterns":
        return get_websocket_urlpatterns()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
