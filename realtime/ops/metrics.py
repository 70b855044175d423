"""Prometheus metrics of the realtime layer, through `prometheus_client` (no exposition written by hand).

What is counted where (docs/operations.md lists every metric):

- Counters are bumped where things happen, once per batch, never per viewer: a room's flush adds the
  frames and events it wrote to all of its sockets in one call (`room_flushed`), a stored batch of posts
  adds its size once.
- Levels (connections, subscriptions, rooms, the coalescing window, publishes in flight, outages in
  progress) are read from the hub by its layer probe, once a second (`sample`, from
  `realtime.hub.health`), not kept up to date on every connect and subscribe.

Several daphne processes on one machine: set `PROMETHEUS_MULTIPROC_DIR` (an empty directory shared by
them, wiped when the service starts) before they start. Each process then writes its values to files
there and any process's `/metrics` merges them (`prometheus_client.multiprocess.MultiProcessCollector`):
counters add up over every process that ever ran, levels over live processes only
(`multiprocess_mode="livesum"`/`"livemax"`). A process removes its own level files when it exits
(`mark_process_dead`), and the first hub of a process removes those of processes that died without
doing so (SIGKILL). Without the variable each process serves its own values (the default registry).

Labels are bounded: topic kinds (registered kinds, anything else "other"), never topic names or user
ids; error and close codes from the known sets, anything else "other". `REALTIME["METRICS"] = False`
turns all of it off (every function here then returns at once).

Why this module is long: each metric is declared once with its help text next to the one-line
recorder its call site uses; split apart, a reader could not see what a counter counts from one place.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
from typing import TYPE_CHECKING, Any

from ..conf import realtime_settings

if TYPE_CHECKING:
    from ..hub import Hub

__all__ = [
    "Metrics",
    "close",
    "current",
    "error",
    "outage_ended",
    "outage_started",
    "published",
    "room_flushed",
    "sample",
    "topic_kind",
    "scheduler_ran",
    "slow_client_cut",
    "stored",
]

# The codes a label may carry; anything else is counted as "other" (a label per unknown value would let
# a project's own codes, or a bug, grow the series without bound).
CLOSE_CODES = frozenset({1000, 1001, 1011, 4001, 4003, 4008, 4013, 4029, 4429})
# docs/protocol.md's codes and those of the features that ship (streams, announcements).
ERROR_CODES = frozenset(
    "auth_failed auth_required bad_color bad_json bad_message bad_mode bad_reaction bad_receipt banned "
    "blocked_term comment_not_found comments_closed forbidden frame_too_large internal_error muted "
    "not_found not_restricted not_subscribed publish_not_allowed rate_limited slow_mode stream_ended "
    "target_is_moderator text_empty text_too_long timed_out too_many_connections too_many_in_flight "
    "too_many_subscriptions unavailable unknown_topic unknown_type user_not_found".split()
)
OTHER = "other"
AUTH_KINDS = ("user", "anonymous", "ticket")
DEPENDENCIES = {"Channel layer": "layer", "Database": "database"}
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
OUTAGE_BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 1800.0)


class Metrics:
    """This process's metric objects (made once, registered in the default registry)."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.connections = Gauge(
            "realtime_connections",
            "Open WebSocket connections, by how they signed in (user: session, ticket: ticket, anonymous).",
            ["auth"],
            multiprocess_mode="livesum",
        )
        self.subscriptions = Gauge(
            "realtime_subscriptions",
            "Subscriptions, by topic kind.",
            ["topic_kind"],
            multiprocess_mode="livesum",
        )
        self.rooms = Gauge(
            "realtime_rooms", "Rooms (topics with subscribers here) in hubs.", multiprocess_mode="livesum"
        )
        self.window = Gauge(
            "realtime_coalesce_window_seconds",
            "The adaptive coalescing window now (the widest of any process).",
            multiprocess_mode="livemax",
        )
        self.in_flight = Gauge(
            "realtime_publishes_in_flight",
            "Publishes accepted and not yet answered.",
            multiprocess_mode="livesum",
        )
        self.outage_active = Gauge(
            "realtime_outage_active",
            "1 while a process sees the dependency down (layer, database).",
            ["dependency"],
            multiprocess_mode="livemax",
        )
        self.stored = Counter("realtime_events_stored", "Events written to the event log.", ["topic_kind"])
        self.published = Counter(
            "realtime_events_published",
            "Events handed to the channel layer (outcome: sent, failed: the layer was down or refused).",
            ["topic_kind", "outcome"],
        )
        self.delivered = Counter(
            "realtime_events_delivered", "Events written to sockets by the rooms' fan-out (events x sockets)."
        )
        self.frames = Counter("realtime_frames_written", "Frames written to sockets by the rooms' fan-out.")
        self.lag = Histogram(
            "realtime_fanout_lag_seconds",
            "How late each room flush started after it was due (the event loop falling behind).",
            buckets=LAG_BUCKETS,
        )
        self.slow_cut = Counter(
            "realtime_slow_clients_cut", "Connections closed with 4008 because they read too slowly."
        )
        self.closes = Counter("realtime_closes", "Connections the server closed, by close code.", ["code"])
        self.errors = Counter("realtime_errors", "Error replies sent to clients, by error code.", ["code"])
        self.outages = Counter(
            "realtime_outages", "Outages that started (layer, database), per process.", ["dependency"]
        )
        self.outage_seconds = Histogram(
            "realtime_outage_duration_seconds",
            "Length of each outage that ended, per process.",
            ["dependency"],
            buckets=OUTAGE_BUCKETS,
        )
        self.scheduler_runs = Counter(
            "realtime_scheduler_runs", "Announcement scheduler passes, by outcome (ok, failed).", ["outcome"]
        )
        # Series whose labels are known in advance exist (at 0) from the start, so a scrape before the
        # first connection or outage already shows them.
        for auth in AUTH_KINDS:
            self.connections.labels(auth)
        for dependency in DEPENDENCIES.values():
            self.outage_active.labels(dependency)
            self.outages.labels(dependency)


_metrics: Metrics | None = None


def current() -> Metrics | None:
    """The metrics, or None when `REALTIME["METRICS"]` is off (the only check on the hot paths)."""
    if not realtime_settings.METRICS:
        return None
    global _metrics
    if _metrics is None:
        _metrics = _create()
    return _metrics


def _create() -> Metrics:
    try:
        import prometheus_client  # noqa: F401
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise ImportError(
            "REALTIME['METRICS'] needs prometheus_client: pip install prometheus_client, or set "
            "REALTIME = {'METRICS': False}."
        ) from exc
    metrics = Metrics()
    directory = multiprocess_dir()
    if directory:
        reap_dead_processes(directory)
        atexit.register(_mark_dead, os.getpid(), directory)
    return metrics


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir")


def _mark_dead(pid: int, directory: str) -> None:
    from prometheus_client import multiprocess

    with contextlib.suppress(OSError):
        multiprocess.mark_process_dead(pid, directory)


def reap_dead_processes(directory: str) -> list[int]:
    """Remove the level files of processes that are gone without removing them (killed); their
    counters stay, as counters must. Returns the pids reaped."""
    pids = set()
    with contextlib.suppress(OSError):
        for name in os.listdir(directory):
            found = re.fullmatch(r"gauge_live\w+_(\d+)\.db", name)
            if found:
                pids.add(int(found.group(1)))
    reaped = [pid for pid in sorted(pids) if pid != os.getpid() and not _alive(pid)]
    for pid in reaped:
        _mark_dead(pid, directory)
    return reaped


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# -- labels -----------------------------------------------------------------------------------------
MAX_KINDS = 64  # distinct topic kinds a label takes; later ones count as "other"
_kinds: set[str] = set()


def topic_kind(topic: str) -> str:
    """The kind of a topic name ("stream.42" -> "stream").

    Only the names of topics this process serves or stores arrive here (their kind is registered, or
    they would have been refused), so kinds are few; a cap keeps that true whatever a project does.
    Not looked up in `realtime.topics`: the event log and the hub count here, and topics import them.
    """
    kind = topic.split(".", 1)[0]
    if kind in _kinds:
        return kind
    if len(_kinds) >= MAX_KINDS or not kind.replace("-", "_").isidentifier():
        return OTHER
    _kinds.add(kind)
    return kind


# -- where things happen (one call per batch) ---------------------------------------------------------
def stored(topic: str, count: int = 1) -> None:
    m = current()
    if m is not None and count:
        m.stored.labels(topic_kind(topic)).inc(count)


def stored_many(topics: list[str]) -> None:
    m = current()
    if m is None:
        return
    counts: dict[str, int] = {}
    for topic in topics:
        kind = topic_kind(topic)
        counts[kind] = counts.get(kind, 0) + 1
    for kind, count in counts.items():
        m.stored.labels(kind).inc(count)


def published(topic: str, count: int, sent: bool) -> bool:
    """Count `count` events handed to the layer on `topic`; returns `sent` (the caller's answer)."""
    m = current()
    if m is not None:
        m.published.labels(topic_kind(topic), "sent" if sent else "failed").inc(count)
    return sent


def room_flushed(frames: int, events: int, late: float) -> None:
    """A room flushed: `frames` and `events` written over all of its sockets, `late` seconds after due."""
    m = current()
    if m is None:
        return
    if frames:
        m.frames.inc(frames)
    if events:
        m.delivered.inc(events)
    m.lag.observe(late)


def slow_client_cut() -> None:
    m = current()
    if m is not None:
        m.slow_cut.inc()
        m.closes.labels("4008").inc()


def close(code: int, count: int = 1) -> None:
    m = current()
    if m is not None and count:
        m.closes.labels(str(code) if code in CLOSE_CODES else OTHER).inc(count)


def error(code: str) -> None:
    m = current()
    if m is not None:
        m.errors.labels(code if code in ERROR_CODES else OTHER).inc()


def outage_started(what: str) -> None:
    m = current()
    if m is not None:
        m.outages.labels(DEPENDENCIES.get(what, OTHER)).inc()


def outage_ended(what: str, seconds: float) -> None:
    m = current()
    if m is not None:
        m.outage_seconds.labels(DEPENDENCIES.get(what, OTHER)).observe(seconds)


def scheduler_ran(ok: bool) -> None:
    m = current()
    if m is not None:
        m.scheduler_runs.labels("ok" if ok else "failed").inc()


# -- levels, read from the hub ------------------------------------------------------------------------
def auth_kind(conn: Any) -> str:
    if conn.user_id is None:
        return "anonymous"
    return "ticket" if conn.scope.get("realtime.ticket") else "user"


def sample(hub: Hub) -> None:
    """Set the level gauges from the hub's state now (one pass over its connections and rooms)."""
    m = current()
    if m is None:
        return
    by_auth = dict.fromkeys(AUTH_KINDS, 0)
    in_flight = 0
    for conn in list(hub.connections):
        by_auth[auth_kind(conn)] += 1
        pipeline = getattr(conn, "pipeline", None)
        if pipeline is not None:
            in_flight += pipeline.publishes
    for kind, count in by_auth.items():
        m.connections.labels(kind).set(count)
    subscriptions = dict.fromkeys(_kinds, 0)  # a kind whose last room closed is sampled as 0
    for room in list(hub.rooms.values()):
        kind = topic_kind(room.topic)
        subscriptions[kind] = subscriptions.get(kind, 0) + len(room)
    for kind, count in subscriptions.items():
        m.subscriptions.labels(kind).set(count)
    m.rooms.set(len(hub.rooms))
    m.window.set(hub.pacer.current())
    m.in_flight.set(in_flight)
    m.outage_active.labels("layer").set(1 if hub.link.down else 0)
    m.outage_active.labels("database").set(1 if hub.database.down else 0)
