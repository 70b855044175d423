"""Send events to WebSocket clients from any Python code: views, signals, shells, commands, tasks.

    from realtime import broadcast
    broadcast("broadcast.all", "broadcast", {"title": "Maintenance", "message": "Back in 5 minutes"})

Delivery: the event is stored on the topic's log first (inside your transaction if you are in one) and
published to every process's hub once the transaction commits. Connected subscribers get it at once;
a client that was offline gets it when it resumes (up to `REALTIME["HISTORY_LIMIT"]` events back). If
the channel layer is down, the event is still stored and every hub picks it up from the database within
a few seconds of noticing; nothing raises in your code because a socket somewhere is slow.
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
from .groups import CONTROL_GROUP, group_for_topic, parse_topic
from .protocol import MAX_EVENT_NAME_LENGTH, dumps

__all__ = ["abroadcast", "adisconnect_user", "akick", "broadcast", "disconnect_user", "kick"]

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


def _layer() -> Any:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("realtime needs a channel layer: set CHANNEL_LAYERS (see `manage.py check`).")
    return layer


async def _apublish(group: str, message: dict[str, Any]) -> bool:
    try:
        await _layer().group_send(group, message)
        return True
    except Exception as exc:  # stored events are delivered by the hubs' database sync instead
        logger.warning("Channel layer unavailable; %s not published now (%s)", message.get("type"), exc)
        return False


def publish_now(event: StoredEvent) -> bool:
    """Publish a committed event from sync code; False if the layer refused (see module docstring)."""
    return async_to_sync(_apublish)(group_for_topic(event.topic), event.as_message())


def publish_on_commit(event: StoredEvent, outcome: dict[str, bool] | None = None) -> None:
    """Publish `event` once the current transaction commits; `outcome["published"]` records the result."""

    def send() -> None:
        published = publish_now(event)
        if outcome is not None:
            outcome["published"] = published

    transaction.on_commit(send)


def store_event_atomically(topic: str, event: str, data: dict[str, Any]) -> StoredEvent:
    with transaction.atomic():
        return store_event(topic, event, data)


def broadcast(topic: str, event: str, data: dict[str, Any] | None = None) -> int | None:
    """Send `event` with `data` to every subscriber of `topic`, in every process. For sync code.

    Returns the event's id on the topic (None for topics that store nothing). Inside a transaction,
    nothing is sent unless and until it commits. Use `abroadcast` from async code.
    """
    data, persistent = _check(topic, event, data)
    if persistent:
        stored = store_event_atomically(topic, event, data)
        # Inside an outer transaction this waits for its commit; outside, it runs now.
        publish_on_commit(stored)
        return stored.id
    publish_on_commit(StoredEvent(topic=topic, name=event, data=data))
    return None


async def abroadcast(topic: str, event: str, data: dict[str, Any] | None = None) -> int | None:
    """`broadcast()` for async code (consumers, async views)."""
    data, persistent = _check(topic, event, data)
    if persistent:
        stored = await database_sync_to_async(store_event_atomically)(topic, event, data)
        await _apublish(group_for_topic(topic), stored.as_message())
        return stored.id
    await _apublish(group_for_topic(topic), StoredEvent(topic=topic, name=event, data=data).as_message())
    return None


async def adisconnect_user(user_id: int, *, session_key: str | None = None, code: int = 4003) -> None:
    """Close the sockets of a user (or of one of their sessions) on every process."""
    await _apublish(CONTROL_GROUP, {"type": "realtime.control", "action": "disconnect",
                                    "user_id": user_id, "session_key": session_key, "code": code})


def disconnect_user(user_id: int, *, session_key: str | None = None, code: int = 4003) -> None:
    async_to_sync(adisconnect_user)(user_id, session_key=session_key, code=code)


async def akick(topic: str, user_id: int, *, code: str = "forbidden", message: str = "") -> None:
    """End a user's subscriptions to `topic` on every process (their sockets stay open)."""
    await _apublish(CONTROL_GROUP, {"type": "realtime.control", "action": "kick", "topic": topic,
                                    "user_id": user_id, "code": code, "message": message})


def kick(topic: str, user_id: int, *, code: str = "forbidden", message: str = "") -> None:
    async_to_sync(akick)(topic, user_id, code=code, message=message)
