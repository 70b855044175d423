"""The scheduler in one process: scheduled announcements go live and end at their times by the
server's clock, each claim has one winner, and a window missed entirely is never shown. (Two daphne
processes on Redis: test_announcements_redis.py.)"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from django.utils import timezone

from realtime.announcements.lifecycle import start_due
from realtime.announcements.models import Announcement, State
from realtime.announcements.scheduler import next_due, run_due
from realtime.models import Event
from realtime.testing import RealtimeClient, make_hub, override_realtime
from tests.announcekit import announce, call, subscribed

pytestmark = pytest.mark.django_db(transaction=True)


def stored(name: str, pk: int) -> int:
    return sum(
        1 for data in Event.objects.filter(name=name).values_list("data", flat=True) if data["id"] == pk
    )


async def test_a_scheduled_announcement_goes_live_and_ends_at_its_times(alice):
    async with RealtimeClient(user=alice) as client:
        await subscribed(client, "announcements.all")  # starts this process's scheduler
        notice = await announce("soon", starts_in=timedelta(seconds=1), ends_in=timedelta(seconds=1))
        shown = await client.receive_event("announcement", timeout=4)
        shown_at = timezone.now()
        gone = await client.receive_event("announcement.ended", timeout=4)
        gone_at = timezone.now()
    assert shown["data"]["id"] == gone["data"]["id"] == notice.pk and gone["data"]["reason"] == "expired"
    # Woken for the exact times (not a poll: the poll interval is 5 s), and never early.
    assert notice.starts_at <= shown_at < notice.starts_at + timedelta(seconds=1.5)
    assert notice.ends_at <= gone_at < notice.ends_at + timedelta(seconds=1.5)
    row = await call(Announcement.objects.get, pk=notice.pk)
    assert (row.state, row.round) == (State.ENDED, 1)


async def test_two_schedulers_racing_send_once(alice, bob):
    second = await make_hub()
    try:
        async with RealtimeClient(user=alice) as a, RealtimeClient(user=bob, hub=second) as b:
            await subscribed(a, "announcements.all")
            await subscribed(b, "announcements.all")
            notice = await announce("race", starts_in=timedelta(seconds=1))
            for client in (a, b):
                assert (await client.receive_event("announcement", timeout=4))["data"]["id"] == notice.pk
            await asyncio.sleep(0.5)
        assert await call(stored, "announcement", notice.pk) == 1
    finally:
        await second.stop()


def test_a_claim_has_one_winner(db):
    from realtime.announcements import announce as announce_now

    notice = announce_now("claimed", starts_in=timedelta(minutes=1))
    later = timezone.now() + timedelta(minutes=2)
    assert start_due(notice.pk, later) is True
    assert start_due(notice.pk, later) is False
    assert stored("announcement", notice.pk) == 1


def test_nothing_starts_before_its_time_and_next_due_says_when(db):
    from realtime.announcements import announce as announce_now

    notice = announce_now("later", starts_in=timedelta(minutes=10), ends_in=timedelta(minutes=5))
    assert run_due() == notice.starts_at == next_due()
    assert Announcement.objects.get(pk=notice.pk).state == State.SCHEDULED
    assert start_due(notice.pk, timezone.now()) is False  # not due yet: the claim checks the time too
    assert run_due(notice.starts_at) == notice.ends_at
    assert Announcement.objects.get(pk=notice.pk).state == State.LIVE


def test_a_window_that_passed_unseen_ends_without_being_shown(db):
    from realtime.announcements import announce as announce_now

    notice = announce_now("missed", starts_in=timedelta(minutes=1), ends_in=timedelta(minutes=1))
    assert run_due(timezone.now() + timedelta(minutes=3)) is None
    row = Announcement.objects.get(pk=notice.pk)
    assert (row.state, row.round) == (State.ENDED, 0)
    assert stored("announcement", notice.pk) == 0


async def test_the_in_process_scheduler_can_be_left_to_a_worker(alice):
    with override_realtime(ANNOUNCEMENT_SCHEDULER=False):
        async with RealtimeClient(user=alice) as client:
            await subscribed(client, "announcements.all")
            notice = await announce("worker", starts_in=timedelta(seconds=0.3))
            await asyncio.sleep(1)
            assert (await call(Announcement.objects.get, pk=notice.pk)).state == State.SCHEDULED
            await call(run_due)  # what `manage.py realtime_scheduler` does in its loop
            assert (await client.receive_event("announcement"))["data"]["id"] == notice.pk


def test_the_scheduler_command_runs_once(db, capsys):
    from django.core.management import call_command

    from realtime.announcements import announce as announce_now

    notice = announce_now("cmd", starts_in=timedelta(minutes=1))
    Announcement.objects.filter(pk=notice.pk).update(starts_at=timezone.now() - timedelta(seconds=1))
    call_command("realtime_scheduler", "--once")
    assert Announcement.objects.get(pk=notice.pk).state == State.LIVE
