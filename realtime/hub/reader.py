"""The hub's channel-layer reader: the only receive loop of a process, whatever its number of sockets.

Stored events go to their room (which orders them), control messages to `control`, and message types
that features registered with `Hub.on_message` to their handlers.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import TYPE_CHECKING, Any

from ..eventlog import StoredEvent

if TYPE_CHECKING:
    from .hub import Hub

logger = logging.getLogger("realtime.hub")


async def read(hub: Hub) -> None:
    failures = 0
    while True:
        try:
            message = await hub.link.receive(hub.channel)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # The hub's health logs the outage once; we retry as soon as its probe finds the layer
            # back (a long backoff here would keep live delivery away for that long after it is).
            failures += 1
            hub.health.failed(exc, "receive")
            await hub.health.wait_up(min(5.0, 0.1 * 2 ** min(failures, 6)))
            continue
        if failures:
            failures = 0
            # The layer may have restarted and forgotten our groups: let the probe find out now.
            hub.health.poke.set()
        _watch_acknowledgement(hub)
        try:
            dispatch(hub, message)
        except Exception:
            logger.exception("Could not handle channel-layer message %r", message.get("type"))


def _watch_acknowledgement(hub: Hub) -> None:
    """channels-redis removes each received message from its backup queue in a task of its own, and
    nothing retrieves that task's exception: Redis going away at that moment would be a traceback
    ("Task exception was never retrieved") instead of the outage the hub logs once."""
    cleaners = getattr(hub.layer, "receive_cleaners", None)
    if cleaners:
        cleaners[-1].add_done_callback(functools.partial(_acknowledged, hub))


def _acknowledged(hub: Hub, task: asyncio.Future) -> None:
    exc = None if task.cancelled() else task.exception()
    if exc is not None:
        hub.health.failed(exc, "acknowledging a received message")


def dispatch(hub: Hub, message: dict[str, Any]) -> None:
    kind = message.get("type")
    if kind == "realtime.event":
        room = hub.rooms.get(message.get("topic", ""))
        if room is not None:
            room.accept(StoredEvent.from_message(message))
    elif kind == "realtime.events":
        room = hub.rooms.get(message.get("topic", ""))
        if room is not None:
            room.accept_many([StoredEvent.from_message(item) for item in message.get("events", [])])
    elif kind == "realtime.control":
        hub.on_control(message)
    elif isinstance(kind, str) and kind in hub.handlers:
        hub.handlers[kind](message)
