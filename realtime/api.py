"""Send events to WebSocket clients from any Python code: views, signals, shells, commands, tasks.

    from realtime import broadcast
    broadcast("broadcast.all", "broadcast", {"title": "Maintenance", "message": "Back in 5 minutes"})

Delivery: the event is stored on the topic's log first (inside your transaction if you are in one) and
published to every process's hub once the transaction commits. Connected subscribers get it at once;
a client that was offline gets it when it resumes (up to `REALTIME["HISTORY_LIMIT"]` events back). If
the channel layer is down, the event is still stored and every hub picks it up from the database within
`REALTIME["SYNC_INTERVAL"]` seconds; nothing raises in your code because a socket somewhere is slow.
On the in-memory layer (the embedded default) a call from another process (`manage.py shell`, a worker,
cron) cannot reach the daphne process's layer: it arrives through the database. Each hub looks at the
newest stored event id every `REALTIME["WATCH_INTERVAL"]` seconds (1) and syncs when it changed
(`realtime.hub.upkeep`), so such an event arrives within about a second: 0.56 s median, at most 0.93 s
over 12 sends (SQLite, one daphne); with the watch off, after the sync, up to `SYNC_INTERVAL` (5 s).
The watch costs each process one indexed query a second while it has subscribers (none without) and
about 0.2% of a CPU core (0.25% against 0.075% for an idle daphne). Ephemeral (unstored) events from
another process never reach daphne on this layer. On channels-redis every call arrives at once.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import transaction

from .eventlog import StoredEvent, store_event
from .exceptions import ProtocolError
from .layerlink import link_for
from .protocol import MAX_EVENT_NAME_LENGTH, dumps
from .publishing import apublish, apublish_control, publish_on_commit
from .topics.names import CONTROL_GROUP, parse_topic

__all__ = [
    "abroadcast",
    "adisconnect_user",
    "akick",
    "areauthorize",
    "asend_to_hubs",
    "broadcast",
    "disconnect_user",
    "kick",
    "reauthorize",
    "send_to_hubs",
]

logger = logging.getLogger("realtime.api")


def _check(topic: str, event: str, data: dict[str, Any] | None) -> tuple[dict[str, Any], bool]:
    from .topics import topic_class

    try:
        kind, _ = parse_topic(topic)
        persistent = topic_class(kind).persistent
    except ProtocolError as exc:
        raise ValueError(f"broadcast(): {exc.message}") from None
    if not isinstance(event, str) or not 0 < len(event) <= MAX_EVENT_NAME_LENGTH:
        raise ValueError(f"broadcast(): event must be a name of 1 to {MAX_EVENT_NAME_LENGTH} characters.")
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise TypeError("broadcast(): data must be a dict (it becomes the event's JSON object).")
    try:
        dumps(data)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"broadcast(): data must be JSON-serialisable ({exc}).") from None
    return data, persistent


def _store(topic: str, event: str, data: dict[str, Any]) -> StoredEvent:
    with transaction.atomic():
        return store_event(topic, event, data)


def broadcast(topic: str, event: str, data: dict[str, Any] | None = None) -> int | None:
    """Send `event` with `data` to every subscriber of `topic`, in every process. For sync code.

    Returns the event's id on the topic (None for topics that store nothing). Inside a transaction,
    nothing is sent unless and until it commits. Use `abroadcast` from async code.

    From another process on the in-memory layer (the embedded default: `manage.py shell`, a worker) the
    event reaches daphne's clients through the database: within about `WATCH_INTERVAL` (1 s; measured
    0.56 s median, 0.93 s at most) at a cost of one indexed query a second per daphne process (~0.2% of
    a core), or up to `SYNC_INTERVAL` (5 s) with the watch off. Stored topics only: an ephemeral event
    cannot leave this process there. With channels-redis it arrives at once from anywhere.
    """
    data, persistent = _check(topic, event, data)
    if persistent:
        stored = _store(topic, event, data)
        # Inside an outer transaction this waits for its commit; outside, it runs now.
        publish_on_commit(stored)
        return stored.id
    publish_on_commit(StoredEvent(topic=topic, name=event, data=data))
    return None


async def abroadcast(topic: str, event: str, data: dict[str, Any] | None = None) -> int | None:
    """`broadcast()` for async code (consumers, async views)."""
    data, persistent = _check(topic, event, data)
    if persistent:
        stored = await database_sync_to_async(_store)(topic, event, data)
        await apublish(stored)
        return stored.id
    await apublish(StoredEvent(topic=topic, name=event, data=data))
    return None


async def adisconnect_user(user_id: int, *, session_key: str | None = None, code: int = 4003) -> None:
    """Close the sockets of a user (or of one of their sessions) on every process."""
    await apublish_control("disconnect", user_id=user_id, session_key=session_key, code=code)


def disconnect_user(user_id: int, *, session_key: str | None = None, code: int = 4003) -> None:
    async_to_sync(adisconnect_user)(user_id, session_key=session_key, code=code)


async def akick(topic: str, user_id: int, *, code: str = "forbidden", message: str = "") -> None:
    """End a user's subscriptions to `topic`, and to every topic that follows it (`Topic.follows`), on
    every process (their sockets stay open). Each is told with a `kicked` frame carrying `code`."""
    await apublish_control("kick", topic=topic, user_id=user_id, code=code, message=message)


def kick(topic: str, user_id: int, *, code: str = "forbidden", message: str = "") -> None:
    async_to_sync(akick)(topic, user_id, code=code, message=message)


async def areauthorize(topic: str, *, user_id: int | None = None) -> None:
    """Re-check the subscribers of `topic`, and of every topic that follows it, on every process
    against the topics' current rules; only `user_id`'s subscriptions when given.

    Call it (after commit) when who may subscribe has changed: a stream made members-only, a group
    membership or permission removed. `topic` may also be a subject that is not a topic:
    `realtime.topics.ACCOUNT` (the user's staff status, permissions, groups; realtime's own signals
    send it). Subscribers the topics now refuse are kicked with their error codes, within the layer's
    delivery time (milliseconds on Redis).
    """
    await apublish_control("reauthorize", topic=topic, user_id=user_id)


def reauthorize(topic: str, *, user_id: int | None = None) -> None:
    async_to_sync(areauthorize)(topic, user_id=user_id)


# Message types the core's hubs act on themselves; a feature's message may not pose as one of them.
_CORE_MESSAGE_TYPES = frozenset({"realtime.event", "realtime.events", "realtime.control"})


async def asend_to_hubs(message: dict[str, Any]) -> bool:
    """Send a feature's message to every process's hub, from code that holds no hub (a view, a command).

    Hubs hand it to the handler registered for its `type` with `Hub.on_message` (async code inside a
    hub uses `hub.send_to_hubs`). Like a publish it never raises for a failed layer: False then. On the
    in-memory layer it reaches this process's hub only.
    """
    kind = message.get("type")
    if not isinstance(kind, str) or not kind or kind in _CORE_MESSAGE_TYPES:
        raise ValueError(
            "send_to_hubs(): message['type'] must name a feature's message type "
            "(registered with Hub.on_message), not one of the core's."
        )
    try:
        dumps(message)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"send_to_hubs(): the message must be JSON-serialisable ({exc}).") from None
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("realtime needs a channel layer: set CHANNEL_LAYERS (see `manage.py check`).")
    # Like a lost publish: the caller's fallback (a poll, the sync) covers a False. Bounded by
    # LAYER_TIMEOUT, and False at once while the layer is known to be down (realtime.layerlink).
    return await link_for(layer).group_send(CONTROL_GROUP, message, during=f"sending {kind} to the hubs")


def send_to_hubs(message: dict[str, Any]) -> bool:
    """`asend_to_hubs` for sync code; inside a transaction, call it from `transaction.on_commit`."""
    return async_to_sync(asend_to_hubs)(message)
