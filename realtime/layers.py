"""Channel-layer configurations that hold up in production.

Use these in settings: `CHANNEL_LAYERS = {"default": redis_layer(REDIS_URL)}`. They import nothing from
Django or Redis, so settings modules can call them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

# `redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/master_name[/db][?sentinel_password=..]`:
# the form python-redis-sentinel-url and kombu's users know, one string so that a REDIS_URL environment
# variable can name a Sentinel deployment as well as a single server.
SENTINEL_SCHEME = "redis+sentinel"
SENTINEL_PORT = 26379
# Asking a sentinel who the primary is must be quick: redis-py tries the sentinels one after another
# (redis-py's own default, 5 s each), and each layer call is bounded by REALTIME["LAYER_TIMEOUT"]. A
# sentinel that does not answer within this is skipped for the next; with the first sentinel frozen,
# live delivery came back 2.4 s after a failover instead of 3.7-4.7 s (tests/test_faults_sentinel.py).
SENTINEL_TIMEOUT = 1.0
SENTINEL_QUERY = ("sentinel_password", "sentinel_username")


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
      the name. Every process must list the same servers in the same order (docs/scaling.md: what
      sharding does and does not give).
    - A `redis+sentinel://host:26379,host2:26379,host3:26379/mymaster/0` URL follows Redis Sentinel:
      each new connection asks the sentinels which server is the primary, so after a failover the layer
      reconnects to the promoted replica by itself (docs/deployment.md, "Redis Sentinel").
    """
    urls = [url] if isinstance(url, str) else list(url)
    if not urls:
        raise ValueError("redis_layer() needs at least one Redis URL.")
    options = {
        "socket_timeout": None,
        "socket_connect_timeout": 5,
        "socket_keepalive": True,
        "health_check_interval": 30,
        "retry_on_timeout": True,
        "max_connections": max_connections,
    }
    hosts = [
        {**sentinel_host(address), **options} if is_sentinel_url(address) else {"address": address, **options}
        for address in urls
    ]
    return {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": hosts, "capacity": capacity, "prefix": prefix, "group_expiry": group_expiry},
    }


def is_sentinel_url(url: str) -> bool:
    return url.split("://", 1)[0].lower() in (SENTINEL_SCHEME, "rediss+sentinel", "sentinel")


def sentinel_host(url: str) -> dict[str, Any]:
    """A channels-redis hosts entry (`sentinels`, `master_name`, ...) from a `redis+sentinel://` URL.

    channels-redis builds a redis-py `SentinelConnectionPool` from such an entry. The credentials before
    `@` are the primary's (its `requirepass`/ACL user); `?sentinel_password=` is for sentinels that have
    their own. Raises ValueError saying what is wrong, so a bad REDIS_URL stops the settings module.
    """
    scheme, _, rest = url.partition("://")
    if scheme.lower() != SENTINEL_SCHEME:
        raise ValueError(
            f"{_redact(url)}: use the scheme {SENTINEL_SCHEME}:// for Redis Sentinel ({scheme}:// is not "
            "supported; for TLS, write the channels-redis hosts entry yourself with ssl=True)."
        )
    parts = urlsplit(f"{SENTINEL_SCHEME}://{rest}")
    userinfo, _, netloc = parts.netloc.rpartition("@")
    sentinels = [_sentinel_address(url, item) for item in netloc.split(",")]
    path = [segment for segment in parts.path.split("/") if segment]
    if not path or len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):
        raise ValueError(
            f"{_redact(url)}: name the primary after the sentinels, as the sentinels' configuration "
            f"does (`sentinel monitor <name> ...`): {SENTINEL_SCHEME}://host:26379,host2:26379/mymaster/0"
        )
    host: dict[str, Any] = {
        "sentinels": sentinels,
        "master_name": unquote(path[0]),
        "db": int(path[1]) if len(path) == 2 else 0,
    }
    if userinfo:
        username, _, password = userinfo.partition(":")
        host.update({"username": unquote(username) or None, "password": unquote(password) or None})
    query = parse_qs(parts.query)
    unknown = sorted(set(query) - set(SENTINEL_QUERY))
    if unknown:
        raise ValueError(
            f"{_redact(url)}: unknown option(s) {', '.join(unknown)}; a {SENTINEL_SCHEME}:// URL takes "
            + ", ".join(SENTINEL_QUERY)
            + "."
        )
    host["sentinel_kwargs"] = {
        "socket_timeout": SENTINEL_TIMEOUT,
        "socket_connect_timeout": SENTINEL_TIMEOUT,
        **{key.removeprefix("sentinel_"): values[-1] for key, values in query.items()},
    }
    return host


def _sentinel_address(url: str, item: str) -> tuple[str, int]:
    where = item.strip()
    if where.startswith("["):  # [IPv6]:port
        address, _, port = where[1:].partition("]")
        port = port.removeprefix(":")
    else:
        address, _, port = where.rpartition(":") if ":" in where else (where, "", "")
    if not address or (port and not port.isdigit()):
        raise ValueError(
            f"{_redact(url)}: {item!r} is not a sentinel address; list them as host:port separated by "
            f"commas (the port defaults to {SENTINEL_PORT})."
        )
    return address, int(port or SENTINEL_PORT)


def _redact(url: str) -> str:
    """The URL without its password, for error messages (they end up in logs)."""
    scheme, _, rest = url.partition("://")
    userinfo, at, hosts = rest.rpartition("@")
    return f"{scheme}://{userinfo.partition(':')[0] + ':***' if ':' in userinfo else userinfo}{at}{hosts}"


def host_problems(host: Any) -> list[str]:
    """What is wrong with one channels-redis `hosts` entry that channels-redis would only find when it
    first connects (or never: an entry with `sentinels` but no `master_name` connects to localhost).
    For `manage.py check` (realtime.E012)."""
    if not isinstance(host, dict):
        address = host if isinstance(host, str) else ""
        if is_sentinel_url(address):
            return [f"{_redact(address)} is a Sentinel URL given to channels-redis as a server address."]
        return []
    address = str(host.get("address", ""))
    if is_sentinel_url(address):
        return [f"{_redact(address)} is a Sentinel URL given to channels-redis as a server address."]
    if "sentinels" in host and not host.get("master_name"):
        return ["A hosts entry lists `sentinels` without `master_name`: channels-redis ignores them."]
    if "master_name" in host:
        sentinels = host.get("sentinels")
        if not sentinels or not isinstance(sentinels, (list, tuple)):
            return [f"The hosts entry for primary {host['master_name']!r} lists no `sentinels`."]
        if not all(isinstance(s, (list, tuple)) and len(s) == 2 and isinstance(s[1], int) for s in sentinels):
            return [f"The `sentinels` of primary {host['master_name']!r} must be (host, port) pairs."]
    return []


def sentinel_errors(hosts: Any) -> list[Any]:
    """realtime.E012 for each channels-redis `hosts` entry with a Sentinel problem (`host_problems`)."""
    from django.core import checks  # here, not at the top: settings modules import this module

    return [
        checks.Error(
            problem,
            hint='Build the layer with realtime.layers.redis_layer("redis+sentinel://host1:26379,'
            'host2:26379,host3:26379/mymaster/0"), or give channels-redis {"sentinels": [(host, port), ...], '
            '"master_name": "mymaster"}.',
            id="realtime.E012",
        )
        for host in (hosts if isinstance(hosts, (list, tuple)) else [])
        for problem in host_problems(host)
    ]


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
