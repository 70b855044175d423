"""Server-side listeners: a feature's code in a process following a topic's events, as a subscriber
would, without a socket (`Hub.listen`).

`realtime.live` re-renders a template fragment when a row it shows changes: every process renders for
its own subscribers, so each one must see every change of the row's model topic, whether the layer
brought it, the database sync found it (a lost publish), or the in-memory layer's watch read it (a
change saved in `manage.py shell`). A listener is fed exactly what the topic's room accepts, in order
and once each, by the same room: the hub joins the topic's group once per process whether it has
sockets, listeners or both, and keeps the room open while either remains.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from channels.db import database_sync_to_async

from .. import eventlog
from ..eventlog import StoredEvent

if TYPE_CHECKING:
    from .hub import Hub
    from .room import Room

logger = logging.getLogger("realtime.hub")

Listener = Callable[[StoredEvent], None]


class Listening:
    """What `Hub.listen` returns: `close()` it when the events are no longer wanted."""

    def __init__(self, hub: Hub, room: Room, callback: Listener) -> None:
        self.hub = hub
        self.room = room
        self.callback = callback

    @property
    def open(self) -> bool:
        return self.callback in self.room.listeners

    def close(self) -> None:
        """Stop the callback; the room leaves the layer group after the linger if nothing else holds it."""
        if self.callback not in self.room.listeners:
            return
        self.room.listeners.remove(self.callback)
        if not len(self.room) and not self.room.listeners:
            self.hub.release(self.room)


async def listen(hub: Hub, room: Room, callback: Listener) -> Listening:
    room.listeners.append(callback)
    handle = Listening(hub, room, callback)
    try:
        await hub.join(room)  # False while the layer is down: the sync and the health probe cover it
        if room.persistent and room.sequencer.last_id is None and not len(room):
            # Where the topic stands now; what the layer brought since the join waits in the sequencer.
            # A room with subscribers is begun by their first history read instead (`Room.start`).
            last = await database_sync_to_async(eventlog.last_id)(room.topic)
            if room.sequencer.last_id is None and not len(room):
                room.begin(last)
    except BaseException:
        handle.close()
        raise
    return handle


def notify(listeners: list[Listener], events: list[StoredEvent | None]) -> None:
    """Call every listener with every event; one failing listener neither stops the others nor the room."""
    for event in events:
        if event is None:
            continue
        for listener in list(listeners):
            try:
                listener(event)
            except Exception:
                logger.exception("A listener of %s failed on event %s", event.topic, event.name)


__all__ = ["Listener", "Listening", "listen", "notify"]
