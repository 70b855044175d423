"""The admin's live panel: while someone has an announcement's change page open, its figures update
every `ANNOUNCEMENT_STATS_INTERVAL` seconds.

The panel is a subscription to `announcement_stats.<id>` (only users with the send permission may hold
one; `topic.py`). Each process with such rooms reads the receipt counts from the database, asks the
census who is connected, and pushes a `stats` event to its own subscribers when a figure changed. The
database is the one truth for receipts stored by any process, so no receipt needs to be published.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async

from .. import protocol
from .census import Census
from .conf import realtime_settings
from .models import Announcement
from .stats import census_topic, compute

if TYPE_CHECKING:
    from ..hub import Hub

logger = logging.getLogger("realtime.announcements")

CENSUS_WAIT = 0.25  # seconds a new panel waits for the first census answers


def _census_topics(pks: list[int]) -> dict[int, str | None]:
    return {a.pk: census_topic(a) for a in Announcement.objects.filter(pk__in=pks)}


class StatsPanel:
    """One per hub with open panels."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.census = hub.service(Census)
        self.tracked: dict[str, int] = {}  # panel topic -> announcement id
        self.sent: dict[str, dict[str, Any]] = {}
        hub.closed_observers.append(self.forget)
        hub.spawn(self.run())

    def track(self, topic: str, pk: int) -> None:
        if topic not in self.tracked:
            # The census just asked answers within milliseconds: show them now, not an interval later.
            self.hub.spawn(self._soon())
        self.tracked[topic] = pk

    async def _soon(self) -> None:
        await asyncio.sleep(CENSUS_WAIT)
        try:
            await self.update(ask=False)
        except Exception as exc:
            logger.warning("Announcement panel update failed (%s)", exc)

    def forget(self, topic: str) -> None:
        self.tracked.pop(topic, None)
        self.sent.pop(topic, None)

    def remember(self, topic: str, data: dict[str, Any]) -> None:
        """What a new subscriber was given in its `subscribed` state (the room gets changes from here)."""
        self.sent.setdefault(topic, data)

    async def figures(self, pk: int, where: str | None) -> dict[str, Any]:
        users, anonymous = self.census.connected(where) if where else (set(), 0)
        return await database_sync_to_async(compute)(pk, users, anonymous)

    async def run(self) -> None:
        interval = float(realtime_settings.ANNOUNCEMENT_STATS_INTERVAL)
        while True:
            await asyncio.sleep(interval)
            try:
                await self.update()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("Announcement panel update failed (%s)", exc)

    async def update(self, *, ask: bool = True) -> None:
        open_panels = {topic: pk for topic, pk in self.tracked.items() if topic in self.hub.rooms}
        if not open_panels:
            return
        where = await database_sync_to_async(_census_topics)(sorted(set(open_panels.values())))
        asked = sorted({topic for topic in where.values() if topic})
        if asked and ask:
            await self.census.ask(asked)  # answers arrive for the next update
        for topic, pk in open_panels.items():
            data = await self.figures(pk, where.get(pk))
            room = self.hub.rooms.get(topic)
            if room is not None and data != self.sent.get(topic):
                self.sent[topic] = data
                room.push(protocol.event_envelope(topic, "stats", data))
