"""Channel-layer configurations that hold up in production.

Use these in settings: `CHANNEL_LAYERS = {"default": redis_layer(REDIS_URL)}`. They import nothing from
Django or Redis, so settings modules can call them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def memory_layer(*, capacity: int = 10_000) -> dict[str, Any]:
    """The in-memory layer: one process only, for development and the embedded default.

    The hub is the only reader of its channel, so a larger capacity than Channels' default (100) keeps
    bursts from being dropped silently while the hub drains them.
    """
    return {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": capacity}}


def redis_layer(
    url: str | Sequence[str],
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
    - Several URLs shard the layer: channels-redis spreads groups and channels over them by a hash of
      the name. Every process must list the same servers in the same order.
    """
    urls = [url] if isinstance(url, str) else list(url)
    if not urls:
        raise ValueError("redis_layer() needs at least one Redis URL.")
    hosts = [
        {
            "address": address,
            "socket_timeout": None,
            "socket_connect_timeout": 5,
            "socket_keepalive": True,
            "health_check_interval": 30,
            "retry_on_timeout": True,
            "max_connections": max_connections,
        }
        for address in urls
    ]
    return {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": hosts, "capacity": capacity, "prefix": prefix, "group_expiry": group_expiry},
    }


def is_in_memory(layer: Any) -> bool:
    """Channels' in-memory layer (exactly, not a subclass): it lives and dies with the process, so
    there is nothing to probe."""
    cls = type(layer)
    return (cls.__module__, cls.__name__) == ("channels.layers", "InMemoryChannelLayer")


async def server_identity(layer: Any) -> tuple[str, ...] | None:
    """Which servers answer for the layer right now: for channels-redis, each shard's `run_id`.

    A restarted Redis has a new run id and has forgotten every group membership (even one restored
    from a snapshot misses those made since), while redis-py reconnects by itself, so a changed identity
    is how a hub learns its groups are gone. Raises when a server does not answer. None for layers that
    cannot tell (not channels-redis, or INFO disabled on the server).
    """
    connection = getattr(layer, "connection", None)
    ring_size = getattr(layer, "ring_size", None)
    if connection is None or not isinstance(ring_size, int) or not hasattr(layer, "consistent_hash"):
        return None
    from redis.exceptions import ResponseError  # channels-redis is installed if we got here

    try:
        infos = [await connection(index).info("server") for index in range(ring_size)]
    except ResponseError:  # INFO renamed or disabled (some managed Redis): fall back to group probes
        return None
    return tuple(str(info.get("run_id", "")) for info in infos)
