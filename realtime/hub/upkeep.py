"""The hub's database upkeep: what the channel layer did not deliver, read from the database.

Every `SYNC_INTERVAL` seconds each hub compares its rooms with the database's newest ids and reads any
events whose publish was lost (a layer outage, a process that stored and died before publishing, or
`broadcast()` from another process on the in-memory layer), and checks that the users behind its
authenticated connections still have access (`realtime.hub.access`: revocations whose control message
was lost). A database outage is logged once when it starts and once when it ends. The layer itself is
watched by `realtime.hub.health`, which runs the same two steps once after every layer outage.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from channels.db import database_sync_to_async

from .. import eventlog
from ..conf import realtime_settings
from ..transport import CLOSE_REVOKED
from . import access

if TYPE_CHECKING:
    from .hub import Hub

logger = logging.getLogger("realtime.hub")


async def maintain(hub: Hub) -> None:
    interval = float(realtime_settings.SYNC_INTERVAL)
    while True:
        await asyncio.sleep(interval)
        try:
            await sync(hub)
            await check_access(hub)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database is down or failing over: say so once, keep trying
            hub.database.failed(exc, "the hub's database sync")
            continue
        hub.database.answered()


async def sync(hub: Hub) -> None:
    rooms = {t: r for t, r in hub.rooms.items() if r.persistent and r.sequencer.last_id is not None}
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
