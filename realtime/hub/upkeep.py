"""The hub's upkeep: re-joining channel-layer groups and reading what the layer never delivered.

Every `SYNC_INTERVAL` seconds each hub compares its rooms with the database's newest ids and reads any
events whose publish was lost (a layer outage, a process that stored and died before publishing, or
`broadcast()` from another process on the in-memory layer). Every `REJOIN_INTERVAL` it renews its
group memberships, which the layer expires for processes that died without leaving.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from channels.db import database_sync_to_async

from .. import eventlog
from ..conf import realtime_settings
from ..topics.names import CONTROL_GROUP, group_for_topic

if TYPE_CHECKING:
    from .hub import Hub

logger = logging.getLogger("realtime.hub")

# Group memberships expire in the layer (redis_layer(): 15 minutes) so that a process that died without
# leaving stops costing every group_send; live hubs refresh theirs well before.
REJOIN_INTERVAL = 300.0


async def maintain(hub: Hub) -> None:
    loop = asyncio.get_running_loop()
    last_rejoin = loop.time()
    interval = float(realtime_settings.SYNC_INTERVAL)
    while True:
        await asyncio.sleep(interval)
        try:
            if loop.time() - last_rejoin > REJOIN_INTERVAL:
                last_rejoin = loop.time()
                await rejoin(hub)
            else:
                for room in list(hub.rooms.values()):
                    if not room.joined and len(room):
                        await hub.join(room)
            await sync(hub)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("Hub upkeep failed (%s); trying again in %s s", exc, interval)


async def rejoin(hub: Hub) -> None:
    await hub.layer.group_add(CONTROL_GROUP, hub.channel)
    for room in list(hub.rooms.values()):
        async with room.lock:
            if room.joined:
                await hub.layer.group_add(group_for_topic(room.topic), hub.channel)
        if not room.joined and len(room):
            await hub.join(room)


async def rejoin_and_sync(hub: Hub) -> None:
    try:
        await rejoin(hub)
        await sync(hub)
    except Exception as exc:
        logger.warning("Re-joining channel-layer groups failed (%s); upkeep will retry", exc)


async def sync(hub: Hub) -> None:
    rooms = {t: r for t, r in hub.rooms.items() if r.persistent and r.sequencer.last_id is not None}
    if not rooms:
        return
    newest = await database_sync_to_async(eventlog.last_ids)(list(rooms))
    for topic, last in newest.items():
        room = rooms[topic]
        if room.sequencer.last_id is not None and last > room.sequencer.last_id and room.gap_task is None:
            await room.catch_up(last)
