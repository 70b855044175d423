"""Publish plumbing: getting committed events and control messages onto the channel layer.

Used by the public API (`realtime.api`) and by features that store their own events (comments,
moderation). A failed publish never raises into the caller, and never waits longer than
`REALTIME["LAYER_TIMEOUT"]` (nor at all while the layer is known to be down: `realtime.layerlink`):
stored events are found by the hubs' database sync instead, which is what makes delivery at-least-once.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from .eventlog import StoredEvent
from .layerlink import link_for
from .ops import metrics
from .topics.names import CONTROL_GROUP, group_for_topic

__all__ = ["apublish", "apublish_control", "publish_now", "publish_on_commit"]


def _layer() -> Any:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("realtime needs a channel layer: set CHANNEL_LAYERS (see `manage.py check`).")
    return layer


async def _send(group: str, message: dict[str, Any]) -> bool:
    # Through the layer's link (shared with this process's hub, if it has one): bounded by LAYER_TIMEOUT,
    # False at once while the layer is known to be down, the outage logged once. Stored events are then
    # delivered by the hubs' database sync.
    return await link_for(_layer()).group_send(group, message, during=f"publishing {message.get('type')}")


async def apublish(event: StoredEvent) -> bool:
    """Publish a committed (or ephemeral) event to every process; False if the layer refused."""
    return metrics.published(event.topic, 1, await _send(group_for_topic(event.topic), event.as_message()))


async def apublish_control(action: str, **fields: Any) -> bool:
    """Send a control message (`disconnect`, `kick`, `reauthorize`) to every process's hub."""
    return await _send(CONTROL_GROUP, {"type": "realtime.control", "action": action, **fields})


def publish_now(event: StoredEvent) -> bool:
    """`apublish` for sync code."""
    return async_to_sync(apublish)(event)


def publish_on_commit(event: StoredEvent, outcome: dict[str, bool] | None = None) -> None:
    """Publish `event` once the current transaction commits; `outcome["published"]` records the result."""

    def send() -> None:
        published = publish_now(event)
        if outcome is not None:
            outcome["published"] = published

    transaction.on_commit(send)
