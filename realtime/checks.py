"""System checks: catch a half-finished installation at `manage.py check` time, with the fix."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.compatibility)
def check_installation(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    if not getattr(settings, "ASGI_APPLICATION", None):
        errors.append(checks.Error(
            "ASGI_APPLICATION is not set, so WebSockets are not served.",
            hint="Set ASGI_APPLICATION = 'yourproject.asgi.application' and mount "
                 "realtime.asgi.websocket_application() for 'websocket' in that module.",
            id="realtime.E001",
        ))
    layers = getattr(settings, "CHANNEL_LAYERS", None) or {}
    default = layers.get("default")
    if not default or not default.get("BACKEND"):
        errors.append(checks.Error(
            "No default channel layer is configured; realtime's hubs talk through it.",
            hint="Add CHANNEL_LAYERS = {'default': realtime.layers.memory_layer()} for one process, or "
                 "{'default': realtime.layers.redis_layer(REDIS_URL)} for several.",
            id="realtime.E002",
        ))
    elif default["BACKEND"].endswith("InMemoryChannelLayer") and not settings.DEBUG:
        errors.append(checks.Warning(
            "The in-memory channel layer serves one process only: with several daphne processes, "
            "clients on one do not see events published on another.",
            hint="Use realtime.layers.redis_layer(REDIS_URL) in production (set REDIS_URL).",
            id="realtime.W001",
        ))
    elif default["BACKEND"].endswith("RedisChannelLayer"):
        for host in (default.get("CONFIG") or {}).get("hosts", []):
            if not isinstance(host, dict) or "socket_timeout" not in host:
                errors.append(checks.Warning(
                    "A channels-redis host has no explicit socket_timeout; redis-py 8 defaults to 5 s, "
                    "which breaks the layer's blocking reads when it is idle.",
                    hint="Build the layer with realtime.layers.redis_layer(url).",
                    id="realtime.W002",
                ))
                break
    if "channels" not in settings.INSTALLED_APPS:
        errors.append(checks.Error(
            "'channels' is not in INSTALLED_APPS.",
            hint="Add 'daphne' (first) and 'channels' to INSTALLED_APPS.",
            id="realtime.E003",
        ))
    options = settings.DATABASES.get("default", {})
    if options.get("ENGINE", "").endswith("sqlite3") and (options.get("OPTIONS") or {}).get(
            "transaction_mode") != "IMMEDIATE":
        errors.append(checks.Warning(
            "SQLite without transaction_mode='IMMEDIATE': concurrent comment posts can fail with "
            "'database is locked'.",
            hint="Set DATABASES['default']['OPTIONS'] = {'transaction_mode': 'IMMEDIATE'}.",
            id="realtime.W003",
        ))
    return errors


@checks.register(checks.Tags.compatibility)
def check_features(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    installed = settings.INSTALLED_APPS
    for feature in ("realtime.streams",):
        if feature in installed and "realtime" not in installed:
            errors.append(checks.Error(
                f"'{feature}' is installed without the core app 'realtime'.",
                hint=f"Add 'realtime' to INSTALLED_APPS, before '{feature}'.",
                id="realtime.E005",
            ))
    return errors
