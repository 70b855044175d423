"""The hub's channel-layer reader: the only receive loop of a process, whatever its number of sockets.

Stored events go to their room (which orders them), control messages to `control`, and message types
that features registered with `Hub.on_message` to their handlers.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from ..eventlog import StoredEvent
from . import upkeep

if TYPE_CHECKING:
    from .hub import Hub

logger = logging.getLogger("realtime.hub")


async def read(hub: Hub) -> None:
    failures = 0
    while True:
        try:
            message = await hub.layer.receive(hub.channel)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failures += 1
            delay = min(30.0, 0.5 * 2 ** min(failures, 6))
            logger.warning("Channel layer receive failed (%s); retrying in %.1f s", exc, delay)
            await asyncio.sleep(delay)
            continue
        if failures:
            failures = 0
            # The layer may have restarted and forgotten our groups: join again, then catch up.
            hub.spawn(upkeep.rejoin_and_sync(hub))
        try:
            dispatch(hub, message)
        except Exception:
            logger.exception("Could not handle channel-layer message %r", message.get("type"))


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
