"""Announcements in one process: who can subscribe to which topic, who is sent what, what a fresh
and a resuming subscription get, and the Python API. Receipts, the scheduler and the panel have files
of their own; real daphne processes are in test_announcements_daphne.py and _redis.py."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.utils import timezone

from realtime.announcements import AnnouncementError, cancel, end, resend, send_test
from realtime.announcements.models import Announcement, State
from realtime.models import Event
from realtime.testing import RealtimeClient
from tests.announcekit import announce, call, ended, shown, subscribed

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff(make_user):
    return make_user("sam", is_staff=True)


# -- who may subscribe ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "topic, user, code",
    [
        ("announcements.users", None, "auth_required"),
        ("announcements.user-1", None, "auth_required"),
        ("announcements.user-999", "alice", "forbidden"),
        ("announcements.nobody", "alice", "not_found"),
        ("announcements.user-01", "alice", "not_found"),
        ("announcements.user-x", "alice", "not_found"),
        ("announcements.stream-999", "alice", "not_found"),
    ],
)
async def test_topics_refuse_everyone_they_do_not_name(topic, user, code, alice):
    async with RealtimeClient(user=alice if user else None) as client:
        reply = await client.subscribe(topic)
        assert (reply["type"], reply["code"]) == ("error", code), reply


async def test_each_topic_admits_exactly_whom_it_names(alice, bob):
    async with RealtimeClient() as anonymous, RealtimeClient(user=alice) as signed_in:
        await subscribed(anonymous, "announcements.all")
        await subscribed(signed_in, "announcements.all")
        await subscribed(signed_in, "announcements.users")
        await subscribed(signed_in, f"announcements.user-{alice.pk}")
        assert (await signed_in.subscribe(f"announcements.user-{bob.pk}"))["code"] == "forbidden"


async def test_a_stream_topic_admits_whom_the_stream_lets_watch(stream, alice):
    stream.allow_anonymous = False
    await call(stream.save)
    async with RealtimeClient() as anonymous, RealtimeClient(user=alice) as member:
        assert (await anonymous.subscribe(f"announcements.stream-{stream.pk}"))["code"] == "auth_required"
        await subscribed(member, f"announcements.stream-{stream.pk}")


# -- each audience reaches exactly its users ------------------------------------------------------
async def test_each_audience_reaches_its_topics_and_no_other(alice, bob, staff, stream):
    team = await call(Group.objects.create, name="team")
    await call(bob.groups.add, team)
    async with (
        RealtimeClient() as anon,
        RealtimeClient(user=alice) as a,
        RealtimeClient(user=bob) as b,
        RealtimeClient(user=staff) as s,
        RealtimeClient() as watcher,
    ):
        people = {"anon": anon, "alice": a, "bob": b, "sam": s}
        await subscribed(anon, "announcements.all")
        for user, client in ((alice, a), (bob, b), (staff, s)):
            for topic in ("announcements.all", "announcements.users", f"announcements.user-{user.pk}"):
                await subscribed(client, topic)
        await subscribed(watcher, f"announcements.stream-{stream.pk}")
        people["watcher"] = watcher
        cases = [
            (dict(audience="everyone"), {"anon", "alice", "bob", "sam"}),
            (dict(audience="signed_in"), {"alice", "bob", "sam"}),
            (dict(audience="staff"), {"sam"}),
            (dict(audience="groups", groups=["team"]), {"bob"}),
            (dict(audience="users", users=["alice", staff.pk]), {"alice", "sam"}),
            (dict(audience="stream", stream=stream), {"watcher"}),
        ]
        for index, (options, expected) in enumerate(cases):
            notice = await announce(f"notice {index}", **options)
            got = {
                name for name, client in people.items() if notice.pk in shown(await client.collect(quiet=0.2))
            }
            assert got == expected, (options, got)


async def test_the_payload_says_what_to_show_and_nothing_about_the_audience(alice):
    async with RealtimeClient(user=alice) as client:
        await subscribed(client, "announcements.users")
        notice = await announce(
            "Hello <b>you</b>",
            "line one\nline two",
            audience="signed_in",
            level="critical",
            link="https://example.com/x",
        )
        event = await client.receive_event("announcement")
    assert event["data"] == {
        "id": notice.pk,
        "round": 1,
        "title": "Hello <b>you</b>",
        "body": "line one\nline two",
        "link": "https://example.com/x",
        "level": "critical",
        "dismissible": False,
        "sent_at": notice.sent_at.isoformat(),
    }


# -- fresh and resuming subscriptions -------------------------------------------------------------
async def test_a_fresh_subscription_gets_what_is_live_once_in_its_state_and_no_old_history(alice):
    old = await announce("old")
    await call(end, old)
    live = await announce("live")
    async with RealtimeClient(user=alice) as client:
        reply = await subscribed(client, "announcements.all")
        assert [item["id"] for item in reply["state"]["live"]] == [live.pk]
        assert reply["history"] == 0 and reply["last_id"] == 3
        assert shown(await client.collect(quiet=0.2)) == []


async def test_a_resuming_subscription_is_replayed_what_it_missed_ends_included(alice):
    first = await announce("first")
    async with RealtimeClient(user=alice) as client:
        reply = await subscribed(client, "announcements.all")
    since = reply["last_id"]
    await call(end, first)
    second = await announce("second")
    async with RealtimeClient(user=alice) as client:
        reply = await subscribed(client, "announcements.all", since=since)
        assert [item["id"] for item in reply["state"]["live"]] == [second.pk]
        missed = await client.collect(quiet=0.2)
        assert ended(missed) == [first.pk] and shown(missed) == [second.pk]


async def test_a_dismissed_announcement_is_not_handed_out_again(alice, bob):
    from realtime.announcements.receipts import Report, store_reports

    notice = await announce("once")
    await call(store_reports, [Report(alice, "announcements.all", notice.pk, 1, "dismissed")])
    async with RealtimeClient(user=alice) as a, RealtimeClient(user=bob) as b:
        assert (await subscribed(a, "announcements.all"))["state"]["live"] == []
        assert [i["id"] for i in (await subscribed(b, "announcements.all"))["state"]["live"]] == [notice.pk]


async def test_an_expired_announcement_is_not_live_even_before_the_scheduler_ran(alice):
    notice = await announce("short", ends_in=timedelta(seconds=30))
    await call(
        Announcement.objects.filter(pk=notice.pk).update, ends_at=timezone.now() - timedelta(seconds=1)
    )
    async with RealtimeClient(user=alice) as client:
        assert (await subscribed(client, "announcements.all"))["state"]["live"] == []


# -- ending, cancelling, resending, tests ---------------------------------------------------------
async def test_end_and_cancel_take_banners_down_on_every_topic_they_went_to(alice, bob, staff):
    async with RealtimeClient(user=staff) as s, RealtimeClient(user=alice) as a:
        await subscribed(s, f"announcements.user-{staff.pk}")
        await subscribed(a, "announcements.all")
        to_staff = await announce("staff only", audience="staff")
        to_all = await announce("everyone")
        await call(end, to_staff)
        await call(cancel, to_all)
        assert ended(await s.collect(quiet=0.2)) == [to_staff.pk]
        got = await a.collect(quiet=0.2)
        assert ended(got) == [to_all.pk] and got[-1]["data"]["reason"] == "cancelled"
    with pytest.raises(AnnouncementError):
        await call(end, to_all)


async def test_cancelling_a_scheduled_announcement_sends_nothing(alice):
    notice = await announce("later", starts_in=timedelta(hours=1))
    assert notice.state == State.SCHEDULED
    await call(cancel, notice)
    assert await call(Event.objects.filter(topic="announcements.all").count) == 0


async def test_resend_is_a_new_round_that_reaches_people_again(alice):
    notice = await announce("again", ends_in=timedelta(minutes=10))
    await call(end, notice)
    async with RealtimeClient(user=alice) as client:
        await subscribed(client, "announcements.all")
        again = await call(resend, notice)
        event = await client.receive_event("announcement")
    assert (again.state, again.round, event["data"]["round"]) == (State.LIVE, 2, 2)
    assert timedelta(minutes=9) < again.ends_at - timezone.now() <= timedelta(minutes=10)


async def test_a_test_goes_to_the_sender_alone_and_changes_nothing(alice, bob):
    notice = await announce("draft", draft=True)
    async with RealtimeClient(user=alice) as a, RealtimeClient(user=bob) as b:
        await subscribed(a, f"announcements.user-{alice.pk}")
        await subscribed(b, f"announcements.user-{bob.pk}")
        await subscribed(b, "announcements.all")
        await call(send_test, notice, alice)
        event = await a.receive_event("announcement")
        assert event["data"]["test"] is True and event["data"]["round"] == 0
        assert shown(await b.collect(quiet=0.2)) == []
    assert (await call(Announcement.objects.get, pk=notice.pk)).state == State.DRAFT


async def test_deleting_a_live_announcement_takes_it_down(alice):
    notice = await announce("oops")
    pk = notice.pk
    async with RealtimeClient(user=alice) as client:
        await subscribed(client, "announcements.all")
        await call(notice.delete)
        assert ended(await client.collect(quiet=0.2)) == [pk]


# -- the Python API -------------------------------------------------------------------------------
def test_announce_validates_like_the_admin(db, alice):
    from realtime.announcements import announce as announce_now

    for options, field in [
        (dict(audience="groups"), "groups"),
        (dict(audience="users"), "users"),
        (dict(audience="stream"), "stream_id"),
        (dict(audience="stream", stream=999), "stream_id"),
        (dict(level="loud"), "level"),
        (dict(link="javascript:alert(1)"), "link"),
        (dict(starts_in=timedelta(hours=2), ends_in=timedelta(0)), "ends_at"),
        (dict(groups=["nope"], audience="groups"), "groups"),
    ]:
        with pytest.raises(ValidationError) as caught:
            announce_now("x", **options)
        assert field in caught.value.message_dict, (options, caught.value.message_dict)
    assert Announcement.objects.count() == 0


def test_announce_in_the_future_schedules_and_critical_is_not_dismissible_unless_set(db):
    from realtime.announcements import announce as announce_now

    later = announce_now("later", starts_in=timedelta(minutes=5), ends_in=timedelta(minutes=30))
    assert (later.state, later.round) == (State.SCHEDULED, 0)
    assert later.ends_at - later.starts_at == timedelta(minutes=30)
    assert not announce_now("fire", level="critical").is_dismissible
    assert announce_now("fire", level="critical", dismissible=True).is_dismissible


# -- the core's hook the scheduler's wake-up uses --------------------------------------------------
async def test_send_to_hubs_reaches_every_hubs_handler_and_cannot_pose_as_the_core():
    from realtime.api import asend_to_hubs
    from realtime.testing import make_hub

    got: list[tuple[str, int]] = []
    hubs = [await make_hub(), await make_hub()]
    try:
        for name, hub in zip("ab", hubs, strict=True):
            hub.on_message("feature.ping", lambda message, name=name: got.append((name, message["n"])))
        assert await asend_to_hubs({"type": "feature.ping", "n": 1}) is True
        for _ in range(50):
            if len(got) == 2:
                break
            await asyncio.sleep(0.02)
        assert sorted(got) == [("a", 1), ("b", 1)]
        for bad in ({"type": "realtime.control", "action": "disconnect", "user_id": 1}, {"type": ""}, {}):
            with pytest.raises(ValueError):
                await asend_to_hubs(bad)
        with pytest.raises(TypeError):
            await asend_to_hubs({"type": "feature.ping", "n": object()})
    finally:
        for hub in hubs:
            await hub.stop()
