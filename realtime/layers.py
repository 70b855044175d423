"""Channel-layer configurations that hold up in production.

Use these in settings: `CHANNEL_LAYERS = {"default": redis_layer(REDIS_URL)}`. They import nothing from
Django or Redis, so settings modules can call them.
"""

from __future__ import annotations

from typing import Any


def memory_layer(*, capacity: int = 10_000) -> dict[str, Any]:
    """The in-memory layer: one process only, for development and the embedded default.

    The hub is the only reader of its channel, so a larger capacity than Channels' default (100) keeps
    bursts from being dropped silently while the hub drains them.
    """
    return {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": capacity}}


def redis_layer(
    url: str,
    *,
    capacity: int = 10_000,
    max_connections: int = 1_000,
    prefix: str = "realtime",
    group_expiry: int = 900,
) -> dict[str, Any]:
    """channels-redis configured for many processes and long idle periods.

    - `socket_timeout=None`: redis-py 8 defaults to 5 s, which aborts the layer's blocking BZPOPMIN
      and tears connections down every few seconds when a process is idle (channels_redis issue 422).
      `health_check_interval` and TCP keepalive find dead connections instead.
    - `max_connections`: redis-py 8's pool raises `MaxConnectionsError` past 100 connections instead of
      waiting, which made half of 200 simultaneous connects fail with the tutorial consumer. realtime's
      hub needs only a few connections per process, but `broadcast()` from many threads needs headroom.
    - `group_expiry`: a process killed without leaving its groups stays a member until this runs out
      (Channels' default is a day); each hub re-joins its groups every few minutes, so 15 minutes is safe.
    """
    host = {
        "address": url,
        "socket_timeout": None,
        "socket_connect_timeout": 5,
        "socket_keepalive": True,
        "health_check_interval": 30,
        "retry_on_timeout": True,
        "max_connections": max_connections,
    }
    return {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [host], "capacity": capacity, "prefix": prefix, "group_expiry": group_expiry},
    }
