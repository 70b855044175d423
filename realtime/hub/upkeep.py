"""The hub's database upkeep: what the channel layer did not deliver, read from the database.

Every `SYNC_INTERVAL` seconds each hub compares its rooms with the database's newest ids and reads any
events whose publish was lost (a layer outage, a process that stored and died before publishing, or
`broadcast()` from another process on the in-memory layer), and checks that the users behind its
authenticated connections still have access (`realtime.hub.access`: revocations whose control message
was lost). A database outage is logged once when it starts and once when it ends. The layer itself is
watched by `realtime.hub.health`, which runs the same two steps once after every layer outage.

The watch: on the in-memory layer (the embedded default) a `broadcast()` from another process
(`manage.py shell`, a worker, cron) cannot reach daphne's layer at all, and waiting for the sync made it
arrive after up to 5 s. So there, every `WATCH_INTERVAL` (1 s) the hub also reads the newest stored
event id (one query on the primary key's index, and none while the process has no persistent room),
and runs the sync at once when it changed. Measured (tests/test_cross_process.py's way, one daphne
with SQLite, 12 sends): such a broadcast arrives 0.56 s after its commit (median; 0.04 to 0.93 s)
instead of up to 5 s; the watch costs one query a second (one more, the sync's, after a change) and
about 0.2% of a CPU core (an idle daphne with one subscriber: 0.25% against 0.075%). On layers
that cross processes (channels-redis) the layer delivers at once and the watch does not run: a busy
site stores events every few milliseconds, so it would run the sync every second for nothing. The
sync remains what guarantees delivery (the newest id can pass over an event committed out of id order
on PostgreSQL); the watch only makes it prompt.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from channels.db import database_sync_to_async
from django.db.models import Max

from .. import eventlog
from ..conf import realtime_settings
from ..layers import is_in_memory
from ..models import Event
from ..transport import CLOSE_REVOKED
from . import access

if TYPE_CHECKING:
    from .hub import Hub
    from .room import Room

logger = logging.getLogger("realtime.hub")


async def maintain(hub: Hub) -> None:
    """Sync and check access every `SYNC_INTERVAL`; in between, on the in-memory layer, watch for new
    events every `WATCH_INTERVAL` and sync as soon as one was stored. Runs until the hub stops."""
    interval = float(realtime_settings.SYNC_INTERVAL)
    watch = watch_interval(hub)
    loop = asyncio.get_running_loop()
    due = loop.time() + interval
    newest: int | None = None  # the newest event id the watch saw
    while True:
        wait = due - loop.time()
        await asyncio.sleep(max(0.0, min(wait, watch) if watch else wait))
        try:
            if loop.time() >= due:
                due = loop.time() + interval
                await sync(hub)
                await check_access(hub)
            elif _rooms_to_sync(hub):
                seen, newest = newest, await database_sync_to_async(newest_event_id)()
                if newest != seen:
                    await sync(hub)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database is down or failing over: say so once, keep trying
            hub.database.failed(exc, "the hub's database sync")
            continue
        hub.database.answered()


def watch_interval(hub: Hub) -> float:
    """Seconds between the watch's looks at the newest event id; 0 where it does not run.

    Only the in-memory layer needs it: there, events stored by other processes reach this one through
    the database alone. Other layers carry them to every process themselves.
    """
    if not is_in_memory(hub.layer):
        return 0.0
    return max(float(realtime_settings.WATCH_INTERVAL or 0), 0.0)


def newest_event_id() -> int:
    """The newest stored event's row id, on every topic: one lookup at the end of the primary key."""
    return Event.objects.aggregate(newest=Max("id"))["newest"] or 0


def _rooms_to_sync(hub: Hub) -> dict[str, Room]:
    return {t: r for t, r in hub.rooms.items() if r.persistent and r.sequencer.last_id is not None}


async def sync(hub: Hub) -> None:
    rooms = _rooms_to_sync(hub)
    if not rooms:
        return
    newest = await database_sync_to_async(eventlog.last_ids)(list(rooms))
    for topic, last in newest.items():
        room = rooms[topic]
        if room.sequencer.last_id is not None and last > room.sequencer.last_id and room.gap_task is None:
            await room.catch_up(last)


async def check_access(hub: Hub) -> int:
    """Close (4003) this process's connections whose user or session lost access; return how many."""
    held = [(conn, access.credentials_of(conn)) for conn in list(hub.connections)]
    held = [(conn, creds) for conn, creds in held if creds is not None]
    if not held:
        return 0
    bad = await database_sync_to_async(access.revoked)([creds for _, creds in held])
    closed = [conn for conn, creds in held if creds in bad]
    for conn in closed:
        conn.close_with(CLOSE_REVOKED)
    if closed:
        logger.info(
            "Closed %d connection(s) whose access was revoked (logout, deactivation or password "
            "change found in the database)",
            len(closed),
        )
    return len(closed)


async def read_range(topic: str, after: int, upto: int) -> list[eventlog.StoredEvent]:
    """The events of `topic` with `after < id <= upto`: how a room fills a gap in what the layer sent."""
    return await database_sync_to_async(eventlog.read_range)(topic, after, upto)
