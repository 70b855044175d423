"""Scheduled announcements go live and end at their times with nobody at the keyboard.

On the embedded default the scheduler runs inside daphne: every hub with announcement subscribers
runs one (`Scheduler`, a hub service). It sleeps until the next start or end it knows of, and is woken
early when an announcement is scheduled, resent or sent with an end (a `realtime.announcements.wake`
message to every hub); it also looks again every `ANNOUNCEMENT_POLL_INTERVAL` seconds, for changes made
where no message reaches it (a command on the in-memory layer). With several processes every scheduler
wakes at the same moment and each claims the row (`lifecycle`): exactly one sends.

Deployments that prefer a worker run `manage.py realtime_scheduler` (the same `run_due` in a loop), with
or without `ANNOUNCEMENT_SCHEDULER = False` for the in-process ones; running both is safe.

Schedulers also deliver targeted rounds (`delivery`): those they start, and those whose process died
mid-round (free once its lease runs out), finished with nobody sent a round twice. In daphne each
chunk of a round is its own database task, so the process's other database work takes turns with it.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async
from django.db.models import Min
from django.utils import timezone

from ..ops import metrics
from . import delivery
from .conf import realtime_settings
from .lifecycle import WAKE_MESSAGE, end_due, start_due
from .models import Announcement, State

if TYPE_CHECKING:
    from ..hub import Hub

logger = logging.getLogger("realtime.announcements")

MIN_SLEEP = 0.2  # seconds: a due row another process holds must not become a busy loop
BATCH = 100  # due announcements handled per pass; the next pass follows at once


def run_due(now: datetime | None = None, *, deliver: bool = True) -> datetime | None:
    """Start and end what is due now, and (`deliver`) send the targeted rounds nobody is sending;
    return when the next start, end or lease expiry is due (None: nothing scheduled). Safe to call
    from any number of processes at once. `deliver=False` leaves the rounds to the caller (the
    in-process scheduler sends them chunk by chunk)."""
    now = now or timezone.now()
    for pk in Announcement.objects.filter(state=State.SCHEDULED, starts_at__lte=now).values_list(
        "pk", flat=True
    )[:BATCH]:
        try:
            start_due(pk, now, deliver=deliver)
        except Exception:
            logger.exception("Could not start announcement %s; will try again", pk)
    for pk in Announcement.objects.filter(state=State.LIVE, ends_at__lte=now).values_list("pk", flat=True)[
        :BATCH
    ]:
        try:
            end_due(pk, now)
        except Exception:
            logger.exception("Could not end announcement %s; will try again", pk)
    if deliver:
        for pk, round_ in delivery.free_rounds(now):
            delivery.deliver(pk, round_, now)
    return next_due()


def next_due() -> datetime | None:
    starts = Announcement.objects.filter(state=State.SCHEDULED).aggregate(at=Min("starts_at"))["at"]
    ends = Announcement.objects.filter(state=State.LIVE).aggregate(at=Min("ends_at"))["at"]
    times = [t for t in (starts, ends, delivery.next_lease_end()) if t is not None]
    return min(times) if times else None


def seconds_until(when: datetime | None, limit: float) -> float:
    if when is None:
        return limit
    return min(limit, max(MIN_SLEEP, (when - timezone.now()).total_seconds()))


class Scheduler:
    """One per hub, started with the first announcement subscription of the process."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.woken = asyncio.Event()
        hub.on_message(WAKE_MESSAGE, self.wake)
        if realtime_settings.ANNOUNCEMENT_SCHEDULER:
            hub.spawn(self.run())

    def wake(self, message: dict[str, Any] | None = None) -> None:
        self.woken.set()

    async def run(self) -> None:
        poll = float(realtime_settings.ANNOUNCEMENT_POLL_INTERVAL)
        while True:
            self.woken.clear()  # before reading: a wake during the read must not be lost
            try:
                due = await database_sync_to_async(run_due)(deliver=False)
                delay = seconds_until(due, poll)
                for pk, round_ in await database_sync_to_async(delivery.free_rounds)():
                    await delivery.adeliver(pk, round_)
                    delay = 0  # look again at once: what fell due meanwhile
                metrics.scheduler_ran(ok=True)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                metrics.scheduler_ran(ok=False)
                logger.warning("Announcement scheduler failed (%s); trying again in %s s", exc, poll)
                delay = poll
            try:
                async with asyncio.timeout(delay):
                    await self.woken.wait()
            except TimeoutError:
                pass
