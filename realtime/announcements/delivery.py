"""Targeted rounds (staff, groups, chosen users) delivered outside the claim, in chunks, resumably.

A round to thousands of users is one event per recipient on their own topic. Stored in the claiming
transaction it held the database (and, on daphne, the process's one database thread) for seconds:
3,000 staff took 6.5 s, and every subscribe, comment and access check of the process waited. So the
claim (`lifecycle`) only moves the row (`round` + 1, `delivered_round` still behind), and the round
goes out here afterwards:

- in chunks of `CHUNK` recipients, each its own short transaction: receipts made in one INSERT, the
  events stored in one (`eventlog.store_on_topics`, the shared lock order), published after commit;
- a recipient's receipt gets `sent_at` in the same transaction as their event, so a round resumed
  after a crash skips exactly those already sent: nobody gets a round twice;
- whoever delivers holds a lease on the row (`delivery_lease`, renewed by every chunk). A process that
  dies mid-round stops renewing it; once it has passed, any scheduler takes the round over
  (`free_rounds`) and finishes it;
- every chunk first re-checks, with a conditional UPDATE that also locks the row on PostgreSQL, that
  the round is still live and still this round: an end, a cancel or a resend stops it between chunks,
  and never lands between a chunk's check and its commit.

On daphne the in-process scheduler runs each chunk as its own database task (`adeliver`), so the
process's other database work takes turns with the round instead of waiting for all of it.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from ..eventlog import StoredEvent, store_on_topics
from ..publishing import apublish
from .audience import payload, recipients, user_topic
from .models import TARGETED, Announcement, Receipt, State

logger = logging.getLogger("realtime.announcements")

#: Recipients per transaction: a chunk takes ~0.1 s on SQLite, so what waits behind one (a subscribe,
#: a comment) waits about that long (bench/RESULTS.md, the round scenario).
CHUNK = 200
#: How long a deliverer's claim on a round lasts without a chunk renewing it (a dead process's round
#: is taken over after this).
LEASE = timedelta(seconds=30)


def pending() -> QuerySet[Announcement]:
    """Targeted rounds that are live and not yet delivered to everyone."""
    return Announcement.objects.filter(
        state=State.LIVE, audience__in=TARGETED, delivered_round__lt=F("round")
    )


def free_rounds(now: datetime | None = None) -> list[tuple[int, int]]:
    """(announcement id, round) of pending rounds nobody is delivering: never taken, or whose
    deliverer stopped renewing its lease (died mid-round)."""
    now = now or timezone.now()
    rows = pending().filter(Q(delivery_lease__isnull=True) | Q(delivery_lease__lte=now))
    return list(rows.order_by("pk").values_list("pk", "round"))


def next_lease_end() -> datetime | None:
    """When the next lease of a pending round runs out (a round to take over if nobody renews it)."""
    rows = pending().filter(delivery_lease__isnull=False)
    return rows.order_by("delivery_lease").values_list("delivery_lease", flat=True).first()


def take(pk: int, round_: int, now: datetime | None = None) -> bool:
    """Take the lease of a free round: True if this caller now delivers it."""
    now = now or timezone.now()
    free = Q(delivery_lease__isnull=True) | Q(delivery_lease__lte=now)
    return bool(pending().filter(free, pk=pk, round=round_).update(delivery_lease=now + LEASE))


def todo(pk: int, round_: int) -> list[int]:
    """Who the round still has to reach: its recipients minus those already sent it."""
    announcement = Announcement.objects.filter(pk=pk, round=round_).first()
    if announcement is None:
        return []
    sent = set(
        Receipt.objects.filter(announcement_id=pk, round=round_, sent_at__isnull=False).values_list(
            "user_id", flat=True
        )
    )
    return [user_id for user_id in recipients(announcement) if user_id not in sent]


def deliver_chunk(pk: int, round_: int, user_ids: list[int]) -> list[StoredEvent] | None:
    """One chunk in one transaction: the events stored (publish them after this returns), or None if
    the round stopped (ended, cancelled, resent or deleted)."""
    now = timezone.now()
    with transaction.atomic():
        # The check and the lock in one statement: an end or cancel either commits before (and the
        # chunk stops) or waits for this chunk's commit (and its withdrawal sees these receipts).
        if not pending().filter(pk=pk, round=round_).update(delivery_lease=now + LEASE):
            return None
        announcement = Announcement.objects.get(pk=pk)
        Receipt.objects.bulk_create(
            [Receipt(announcement_id=pk, user_id=user_id, round=round_) for user_id in sorted(user_ids)],
            ignore_conflicts=True,
        )
        unsent = (
            Receipt.objects.select_for_update()
            .filter(announcement_id=pk, round=round_, user_id__in=user_ids, sent_at__isnull=True)
            .order_by("user_id")
        )
        fresh = list(unsent.values_list("user_id", flat=True))
        Receipt.objects.filter(announcement_id=pk, round=round_, user_id__in=fresh).update(sent_at=now)
        data = payload(announcement)
        return store_on_topics([(user_topic(user_id), "announcement", data) for user_id in fresh])


def finish(pk: int, round_: int) -> bool:
    """Mark the round delivered to everyone (if it is still this round)."""
    return bool(
        Announcement.objects.filter(pk=pk, round=round_, delivered_round__lt=round_).update(
            delivered_round=round_, delivery_lease=None
        )
    )


async def publish_all(events: list[StoredEvent]) -> None:
    for n, event in enumerate(events, 1):
        await apublish(event)
        if n % 50 == 0:
            await asyncio.sleep(0)  # the loop's sockets (pings, comments) between publishes


def deliver(pk: int, round_: int, now: datetime | None = None) -> int:
    """Deliver a round from sync code (a request, a command): take it, send it chunk by chunk, mark it
    delivered. Returns how many recipients this call sent it to. Inside a transaction it waits for the
    commit (the claim is not visible to the chunks before). A failure is logged, not raised: the
    round stays pending and a scheduler takes it over when the lease runs out."""
    if connection.in_atomic_block:
        transaction.on_commit(lambda: _deliver_now(pk, round_, None))
        return 0
    return _deliver_now(pk, round_, now)


def _deliver_now(pk: int, round_: int, now: datetime | None) -> int:
    if not take(pk, round_, now):
        return 0  # another process has it
    sent = 0
    try:
        users = todo(pk, round_)
        for start in range(0, len(users), CHUNK):
            events = deliver_chunk(pk, round_, users[start : start + CHUNK])
            if events is None:
                return sent
            if events:
                async_to_sync(publish_all)(events)
            sent += len(events)
        finish(pk, round_)
    except Exception:
        logger.exception(
            "Announcement %s round %s stopped after %d recipients; a scheduler resumes it", pk, round_, sent
        )
    return sent


async def adeliver(pk: int, round_: int) -> int:
    """`deliver` for the in-process scheduler: each chunk is its own database task, so the process's
    other database work (subscribes, comments, access checks) runs between chunks."""
    call = database_sync_to_async
    if not await call(take)(pk, round_):
        return 0
    sent = 0
    users = await call(todo)(pk, round_)
    for start in range(0, len(users), CHUNK):
        events = await call(deliver_chunk)(pk, round_, users[start : start + CHUNK])
        if events is None:
            return sent
        await publish_all(events)
        sent += len(events)
    await call(finish)(pk, round_)
    if sent:
        logger.info("Announcement %s round %s delivered to %d recipients", pk, round_, sent)
    return sent
