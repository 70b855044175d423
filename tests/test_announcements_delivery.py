"""Targeted rounds go out after their claim, in chunks: the claim is short, a round whose process
died mid-way is finished by a scheduler with nobody sent it twice, an end or cancel stops it between
chunks, and in daphne other database work runs between chunks (realtime.announcements.delivery)."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from realtime.announcements import delivery, lifecycle
from realtime.announcements.api import announce
from realtime.announcements.audience import user_topic
from realtime.announcements.models import Announcement, Audience, Receipt, State
from realtime.announcements.scheduler import next_due, run_due
from realtime.models import Event

pytestmark = pytest.mark.django_db(transaction=True)

CHUNK = 3


class Died(Exception):
    """Stands for the process dying between two chunks."""


@pytest.fixture
def people(monkeypatch):
    monkeypatch.setattr(delivery, "CHUNK", CHUNK)
    User = get_user_model()
    return [User.objects.create_user(f"p{n}", password="x") for n in range(8)]


def die_after(monkeypatch, chunks: int) -> list[list[int]]:
    """Make the round's process 'die' once `chunks` chunks have committed; the chunks that ran."""
    real = delivery.deliver_chunk
    ran: list[list[int]] = []

    def chunk(pk, round_, user_ids):
        if len(ran) == chunks:
            raise Died
        ran.append(list(user_ids))
        return real(pk, round_, user_ids)

    monkeypatch.setattr(delivery, "deliver_chunk", chunk)
    return ran


def rounds_on_topics(users, pk: int) -> Counter:
    """(user id, round) -> how many `announcement` events of `pk` their topic holds."""
    counts: Counter = Counter()
    for user in users:
        for data in Event.objects.filter(topic=user_topic(user.pk), name="announcement").values_list(
            "data", flat=True
        ):
            if data["id"] == pk:
                counts[(user.pk, data["round"])] += 1
    return counts


def test_a_round_that_died_after_a_chunk_is_finished_by_the_scheduler_once_each(people, monkeypatch):
    ran = die_after(monkeypatch, 1)
    notice = announce("Release", audience=Audience.USERS, users=people)  # dies after chunk 1 (logged)
    assert len(ran) == 1 and len(rounds_on_topics(people, notice.pk)) == CHUNK
    row = Announcement.objects.get(pk=notice.pk)
    assert (row.state, row.round, row.delivered_round) == (State.LIVE, 1, 0)
    monkeypatch.undo()
    monkeypatch.setattr(delivery, "CHUNK", CHUNK)
    # While its lease holds, the round is the dead process's (it might be alive and slow): untouched.
    assert delivery.free_rounds() == [] and run_due() == row.delivery_lease == next_due()
    assert len(rounds_on_topics(people, notice.pk)) == CHUNK
    # Once the lease has run out, a scheduler takes it over and finishes it.
    later = row.delivery_lease + timedelta(seconds=1)
    run_due(later)
    assert rounds_on_topics(people, notice.pk) == Counter({(p.pk, 1): 1 for p in people})
    row.refresh_from_db()
    assert (row.delivered_round, row.delivery_lease) == (1, None)
    assert Receipt.objects.filter(announcement=notice, round=1, sent_at__isnull=False).count() == len(people)
    run_due(later + timedelta(minutes=1))  # nothing left: nobody gets it again
    assert sum(rounds_on_topics(people, notice.pk).values()) == len(people)


def test_a_chunk_that_failed_midway_left_nothing_half_done(people, monkeypatch):
    """The failure inside a chunk's transaction rolls the whole chunk back: its receipts say 'not sent'
    exactly when its events were not stored."""
    real = delivery.store_on_topics
    calls = []

    def store(items, **kwargs):
        calls.append(len(items))
        if len(calls) == 2:
            raise Died
        return real(items, **kwargs)

    monkeypatch.setattr(delivery, "store_on_topics", store)
    notice = announce("Release", audience=Audience.USERS, users=people)
    assert Receipt.objects.filter(announcement=notice, sent_at__isnull=False).count() == CHUNK
    assert len(rounds_on_topics(people, notice.pk)) == CHUNK
    monkeypatch.setattr(delivery, "store_on_topics", real)
    run_due(timezone.now() + delivery.LEASE + timedelta(seconds=1))
    assert rounds_on_topics(people, notice.pk) == Counter({(p.pk, 1): 1 for p in people})


def test_cancel_mid_round_stops_it_and_takes_down_what_went_out(people, monkeypatch):
    die_after(monkeypatch, 1)
    notice = announce("Release", audience=Audience.USERS, users=people)
    sent = {user_id for user_id, _round in rounds_on_topics(people, notice.pk)}
    lifecycle.cancel(notice)
    monkeypatch.undo()
    run_due(timezone.now() + delivery.LEASE + timedelta(seconds=1))
    assert {user_id for user_id, _round in rounds_on_topics(people, notice.pk)} == sent  # no more sent
    withdrawn = {
        topic for topic in Event.objects.filter(name="announcement.ended").values_list("topic", flat=True)
    }
    assert {user_topic(pk) for pk in sent} <= withdrawn


def test_a_resend_mid_round_starts_the_new_round_for_everyone(people, monkeypatch):
    die_after(monkeypatch, 1)
    notice = announce("Release", audience=Audience.USERS, users=people)
    monkeypatch.undo()
    monkeypatch.setattr(delivery, "CHUNK", CHUNK)
    lifecycle.resend(notice)  # the dead round's lease does not hold the new round up
    counts = rounds_on_topics(people, notice.pk)
    assert {user_id for user_id, round_ in counts if round_ == 2} == {p.pk for p in people}
    assert max(counts.values()) == 1


def test_the_claim_commits_before_any_recipient_is_written(people):
    with transaction.atomic():
        notice = announce("Release", audience=Audience.USERS, users=people)
        # Inside the caller's transaction only the claim is made: no per-recipient row yet.
        assert not Receipt.objects.filter(announcement=notice).exists()
        assert not rounds_on_topics(people, notice.pk)
    assert len(rounds_on_topics(people, notice.pk)) == len(people)


async def test_other_database_work_runs_between_the_chunks_of_a_round(people, monkeypatch):
    """The in-process scheduler's delivery: each chunk is its own database task, so a subscribe's
    query queued meanwhile runs before the round's last chunk, not after the whole round."""
    order: list[str] = []
    real = delivery.deliver_chunk

    def chunk(pk, round_, user_ids):
        order.append("chunk")
        return real(pk, round_, user_ids)

    monkeypatch.setattr(delivery, "deliver_chunk", chunk)
    notice = await database_sync_to_async(announce)(
        "Release", audience=Audience.USERS, users=people, starts_at=timezone.now() + timedelta(hours=1)
    )
    await database_sync_to_async(run_due)(notice.starts_at, deliver=False)  # claimed, not delivered
    assert await database_sync_to_async(delivery.free_rounds)() == [(notice.pk, 1)]
    rounds = asyncio.create_task(delivery.adeliver(notice.pk, 1))
    await asyncio.sleep(0)
    await database_sync_to_async(lambda: order.append("other"))()
    assert await rounds == len(people)
    assert order.count("chunk") == 3 and order.index("other") < len(order) - 1


def test_a_round_another_process_is_delivering_is_left_to_it(people):
    notice = announce(
        "Release", audience=Audience.USERS, users=people, starts_at=timezone.now() + timedelta(hours=1)
    )
    run_due(notice.starts_at, deliver=False)
    assert delivery.take(notice.pk, 1) and not delivery.take(notice.pk, 1)  # one holder at a time
    assert delivery.deliver(notice.pk, 1) == 0 and not rounds_on_topics(people, notice.pk)
    assert asyncio.run(delivery.adeliver(notice.pk, 1)) == 0


async def test_the_schedulers_delivery_stops_between_chunks_when_the_round_is_ended(people, monkeypatch):
    real = delivery.deliver_chunk

    def chunk_then_end(pk, round_, user_ids):
        events = real(pk, round_, user_ids)
        if events is not None:
            lifecycle.end(Announcement.objects.get(pk=pk))  # an editor clicks "End now" meanwhile
        return events

    monkeypatch.setattr(delivery, "deliver_chunk", chunk_then_end)
    notice = await database_sync_to_async(announce)(
        "Release", audience=Audience.USERS, users=people, starts_at=timezone.now() + timedelta(hours=1)
    )
    await database_sync_to_async(run_due)(notice.starts_at, deliver=False)
    assert await delivery.adeliver(notice.pk, 1) == CHUNK
    row = await database_sync_to_async(Announcement.objects.get)(pk=notice.pk)
    assert (row.state, row.delivered_round) == (State.ENDED, 0)
    assert await database_sync_to_async(delivery.free_rounds)() == []  # nothing left pending
