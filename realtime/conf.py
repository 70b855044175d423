"""The `REALTIME = {...}` settings dict, with defaults, read lazily.

Modelled on DRF's `api_settings`: values are looked up on first use (never at import time), an unknown
key is an `AttributeError` that names it, and `override_settings(REALTIME=...)` in tests takes effect
because a `setting_changed` receiver clears the cache.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

DEFAULTS: dict[str, Any] = {
    # URL path of the WebSocket: `websocket_application()` mounts the consumer here (read when it is
    # called, i.e. when asgi.py is imported) and the template tag points the browser client here.
    "WEBSOCKET_PATH": "/ws/realtime/",
    # Extra topic kinds: {"kind": "dotted.path.TopicClass"}; merged over the built-in kinds.
    "TOPICS": {},
    # Inbound frames larger than this (bytes of UTF-8 text) are refused with `frame_too_large`.
    "MAX_FRAME_BYTES": 16 * 1024,
    "MAX_SUBSCRIPTIONS": 50,
    # Malformed requests a connection may send within ABUSE_WINDOW seconds before a policy close (4429).
    "ABUSE_LIMIT": 20,
    "ABUSE_WINDOW": 10.0,
    # Requests one connection may send: REQUEST_RATE a second on average, REQUEST_BURST at once (and at
    # most REQUEST_BURST waiting for their answers). More are refused with `rate_limited` at once, and
    # those refusals count toward ABUSE_LIMIT. The burst covers a reconnect resubscribing everything.
    "REQUEST_RATE": 20.0,
    "REQUEST_BURST": 100,
    # Open sockets per logged-in user, and per anonymous client address (scope["client"]: run daphne
    # with --proxy-headers behind a proxy; addresses that are not globally routable are never capped),
    # in each process. The next one gets `too_many_connections` and close 4029. None: no cap.
    "MAX_CONNECTIONS_PER_USER": 20,
    "MAX_CONNECTIONS_PER_ADDRESS": 100,
    # Seconds between client pings (sent to the client in `hello`).
    "HEARTBEAT": 25,
    # Stored events replayed on (re)subscribe at most.
    "HISTORY_LIMIT": 100,
    # Presence (docs/presence.md): seconds a process's part of the rosters is kept after it was last
    # heard (it is re-sent every third of that), so a killed process's entries are gone within one lease.
    "PRESENCE_LEASE": 15.0,
    # Seconds between two `presence_diff` frames of one topic: joins and leaves within it leave as one.
    "PRESENCE_WINDOW": 0.5,
    # Users a `presence_state` / `presence_diff` lists at most (the first ones who came, kept while they
    # stay); `count` and `anonymous` are always exact. None: no cap.
    "PRESENCE_LIMIT": 100,
    # Coalescing window in seconds: events for one topic within it leave as one `batch` frame. 0 = off.
    # It is the floor of the adaptive window: the window a process that keeps up uses. Short, because
    # the window widens by itself when fan-out falls behind (docs/performance.md has the measurements).
    "COALESCE_WINDOW": 0.02,
    # Ceiling of the adaptive coalescing window (seconds): while the fan-out takes most of a process's
    # time (or its loop runs late) the window doubles up to this, and halves back as load drops
    # (docs/performance.md). At or below COALESCE_WINDOW (or None): a fixed window, no adaptation.
    "COALESCE_WINDOW_MAX": 0.25,
    # Publishes one connection may have in flight (accepted, not yet answered); those a topic lets
    # overlap (stream comments) are stored together, in arrival order. More are refused with
    # `too_many_in_flight` (retry after the answers arrive). 1: one at a time.
    "MAX_PUBLISHES_IN_FLIGHT": 64,
    # Bytes a connection may have queued but not yet written before it is closed with 4008 (it resumes).
    "MAX_PENDING_BYTES": 1024 * 1024,
    # Seconds between each hub's check of the database for stored events it never received (a lost
    # publish, a layer outage, or broadcast() from another process on the in-memory layer).
    "SYNC_INTERVAL": 5.0,
    # Seconds any one channel-layer call may take (a publish, a group join or leave, the health probe).
    # Slower counts as the layer being down: the outage is logged once, publishes and joins fail at once
    # until the hub's probe finds it answering again, and stored events arrive through the database sync
    # meanwhile. Bounds what a Redis that stops answering without closing its sockets (a partition, a
    # frozen host) can hold up. None: no bound (not recommended). The reader's receive is never bounded.
    "LAYER_TIMEOUT": 2.0,
    # On the in-memory layer only (the embedded default, where broadcast() from another process cannot
    # reach daphne's layer): seconds between each hub's look at the newest stored event id (one indexed
    # query), running that sync as soon as it changed, so such events arrive within about this long.
    # 0 or None: off (they wait for SYNC_INTERVAL). Layers that cross processes never need it.
    "WATCH_INTERVAL": 1.0,
    # Tickets for non-browser clients: lifetime in seconds.
    "TICKET_MAX_AGE": 60,
    # Origins whose pages may open sockets with the visitor's cookies, e.g. ["https://example.com",
    # "https://*.example.com"] (scheme, host and port must all match). None: the origin the handshake
    # was made to (when its host is in ALLOWED_HOSTS) plus CSRF_TRUSTED_ORIGINS, as Django's CSRF check
    # trusts. Set it behind a TLS-terminating proxy (see docs/security.md).
    "ALLOWED_ORIGINS": None,
    # Days stored events are kept (`manage.py realtime_prune`, run it daily); None keeps them for ever.
    # Whatever their age, each topic keeps what a resume may still be replayed: its newest HISTORY_LIMIT
    # events, one more, and the markers among them (`realtime.eventlog.prune_events`).
    "EVENT_RETENTION_DAYS": 30,
    # Prometheus metrics (prometheus_client) counted and served at `ops/metrics/` (docs/operations.md).
    # False: nothing is counted and the endpoint answers 404.
    "METRICS": True,
    # A token that lets a scraper read `ops/metrics/` with `Authorization: Bearer <token>`; staff
    # sessions may always read it. None: staff only (anonymous scrapes get 401).
    "METRICS_TOKEN": None,
    # Seconds the readiness endpoint (`ops/health/ready/`) gives each of its checks (database, layer).
    "HEALTH_TIMEOUT": 2.0,
}


class RealtimeSettings:
    """Attribute access to `settings.REALTIME` with defaults; cached until settings change.

    Features (`realtime.streams`, your own) declare their keys with `declare()` when their settings
    module is imported, so one `REALTIME` dict configures the core and every installed feature.
    """

    def __init__(self, defaults: dict[str, Any]) -> None:
        self._defaults = dict(defaults)
        self._cached: set[str] = set()

    def declare(self, defaults: dict[str, Any]) -> None:
        """Add a feature's keys and defaults (idempotent; a key may not be declared twice differently)."""
        for name, value in defaults.items():
            if name in self._defaults and self._defaults[name] != value:
                raise ValueError(f"realtime setting {name!r} is already declared with another default.")
            self._defaults[name] = value

    @property
    def defaults(self) -> dict[str, Any]:
        return dict(self._defaults)

    @property
    def user_settings(self) -> dict[str, Any]:
        value = getattr(settings, "REALTIME", None) or {}
        if not isinstance(value, dict):
            raise TypeError("settings.REALTIME must be a dict, e.g. REALTIME = {'HISTORY_LIMIT': 50}.")
        return value

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in self._defaults:
            raise AttributeError(
                f"Invalid realtime setting {name!r}. Valid keys: {', '.join(sorted(self._defaults))}."
            )
        value = self.user_settings.get(name, self._defaults[name])
        self._cached.add(name)
        setattr(self, name, value)
        return value

    def reload(self) -> None:
        for name in self._cached:
            delattr(self, name)
        self._cached.clear()


realtime_settings = RealtimeSettings(DEFAULTS)


@receiver(setting_changed, dispatch_uid="realtime.conf.reload")
def _reload_realtime_settings(*, setting: str, **kwargs: Any) -> None:
    if setting == "REALTIME":
        realtime_settings.reload()
