"""Receipts over the socket: counted once per user and round, only from the audience, only on the
topic that carries the announcement to that user; a dismissal closes the banner on the user's other
pages. And the admin's panel topic: who may read the figures, and that they update live."""

from __future__ import annotations

import asyncio

import pytest
from django.contrib.auth.models import Permission

from realtime.announcements import end, resend
from realtime.announcements.models import Receipt
from realtime.testing import RealtimeClient, events, override_realtime
from tests.announcekit import announce, call, receipt, subscribed

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff(make_user):
    return make_user("sam", is_staff=True)


@pytest.fixture
def sender(make_user):
    user = make_user("boss", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="send_announcement"))
    return user


async def counts(pk: int) -> dict[str, int]:
    rows = await call(lambda: list(Receipt.objects.filter(announcement_id=pk)))
    return {
        kind: sum(1 for r in rows if getattr(r, f"{kind}_at")) for kind in ("delivered", "seen", "dismissed")
    }


async def test_each_receipt_counts_once_per_user_and_repeats_are_ignored(alice, bob):
    notice = await announce("count me")
    async with (
        RealtimeClient(user=alice) as a1,
        RealtimeClient(user=alice) as a2,
        RealtimeClient(user=bob) as b,
    ):
        for client in (a1, a2, b):
            await subscribed(client, "announcements.all")
        answers = await asyncio.gather(
            receipt(a1, "announcements.all", notice.pk, "delivered"),
            receipt(a2, "announcements.all", notice.pk, "delivered"),
            receipt(b, "announcements.all", notice.pk, "delivered"),
        )
        assert sorted(ack["recorded"] for ack in answers) == [False, True, True]
        assert (await receipt(a1, "announcements.all", notice.pk, "seen"))["recorded"] is True
        assert (await receipt(a2, "announcements.all", notice.pk, "seen"))["recorded"] is False
        assert (await receipt(b, "announcements.all", notice.pk, "dismissed"))["recorded"] is True
    # Bob dismissed without reporting "seen": a dismissal implies it.
    assert await counts(notice.pk) == {"delivered": 2, "seen": 2, "dismissed": 1}


async def test_receipts_from_outside_the_audience_or_the_wrong_round_are_ignored(alice, staff):
    to_staff = await announce("staff only", audience="staff")
    async with RealtimeClient(user=alice) as a, RealtimeClient(user=staff) as s:
        await subscribed(a, "announcements.all")
        await subscribed(a, f"announcements.user-{alice.pk}")
        await subscribed(s, "announcements.all")
        await subscribed(s, f"announcements.user-{staff.pk}")
        # Alice is not staff: not on her own topic, not on a shared one. Same answer as a repeat.
        for topic in ("announcements.all", f"announcements.user-{alice.pk}"):
            assert (await receipt(a, topic, to_staff.pk, "delivered"))["recorded"] is False
        # Staff on the wrong topic, for the wrong round, for an unknown announcement: ignored too.
        assert (await receipt(s, "announcements.all", to_staff.pk, "delivered"))["recorded"] is False
        assert (await receipt(s, f"announcements.user-{staff.pk}", to_staff.pk, "delivered", 2))[
            "recorded"
        ] is False
        assert (await receipt(s, f"announcements.user-{staff.pk}", 99999, "delivered"))["recorded"] is False
        assert (await receipt(s, f"announcements.user-{staff.pk}", to_staff.pk, "delivered"))[
            "recorded"
        ] is True
    assert await counts(to_staff.pk) == {"delivered": 1, "seen": 0, "dismissed": 0}


async def test_receipts_need_a_signed_in_subscriber_and_well_formed_fields(alice):
    notice = await announce("hi")
    async with RealtimeClient() as anonymous, RealtimeClient(user=alice) as a:
        await subscribed(anonymous, "announcements.all")
        error = await receipt(anonymous, "announcements.all", notice.pk, "delivered")
        assert (error["type"], error["code"]) == ("error", "auth_required")
        # Not subscribed to the topic: refused before anything is looked up.
        assert (await receipt(a, "announcements.all", notice.pk, "seen"))["code"] == "not_subscribed"
        await subscribed(a, "announcements.all")
        for data in (
            {"announcement": "1", "round": 1, "kind": "seen"},
            {"announcement": notice.pk, "round": 1},
            {"announcement": notice.pk, "round": True, "kind": "seen"},
            {"announcement": notice.pk, "round": 1, "kind": "liked"},
        ):
            assert (await a.publish("announcements.all", "receipt", data))["code"] == "bad_receipt"
        assert (await a.publish("announcements.all", "announcement", {}))["code"] == "publish_not_allowed"
    assert await counts(notice.pk) == {"delivered": 0, "seen": 0, "dismissed": 0}


async def test_a_dismissal_closes_the_banner_on_the_users_other_pages_and_not_on_others(alice, bob):
    notice = await announce("close me")
    async with (
        RealtimeClient(user=alice) as phone,
        RealtimeClient(user=alice) as laptop,
        RealtimeClient(user=bob) as other,
    ):
        for client, user in ((phone, alice), (laptop, alice), (other, bob)):
            await subscribed(client, "announcements.all")
            await subscribed(client, f"announcements.user-{user.pk}")
        assert (await receipt(phone, "announcements.all", notice.pk, "dismissed"))["recorded"] is True
        closed = await laptop.receive_event("announcement.dismissed")
        assert closed["topic"] == f"announcements.user-{alice.pk}" and closed["data"] == {
            "id": notice.pk,
            "round": 1,
        }
        assert events(await other.collect(quiet=0.2), "announcement.dismissed") == []


async def test_a_critical_announcement_cannot_be_dismissed_unless_set(alice):
    fixed = await announce("stays", level="critical")
    optional = await announce("may go", level="critical", dismissible=True)
    async with RealtimeClient(user=alice) as a:
        await subscribed(a, "announcements.all")
        assert (await receipt(a, "announcements.all", fixed.pk, "dismissed"))["recorded"] is False
        assert (await receipt(a, "announcements.all", optional.pk, "dismissed"))["recorded"] is True


async def test_receipts_count_per_round_and_stop_when_it_ends(alice):
    notice = await announce("rounds")
    async with RealtimeClient(user=alice) as a:
        await subscribed(a, "announcements.all")
        assert (await receipt(a, "announcements.all", notice.pk, "dismissed"))["recorded"] is True
        notice = await call(resend, notice)
        assert (await receipt(a, "announcements.all", notice.pk, "dismissed", 2))["recorded"] is True
        await call(end, notice)
        assert (await receipt(a, "announcements.all", notice.pk, "seen", 2))["recorded"] is False


# -- the admin's live panel -----------------------------------------------------------------------
async def test_only_staff_with_the_send_permission_may_open_the_panel(alice, staff, sender):
    notice = await announce("watched")
    topic = f"announcement_stats.{notice.pk}"
    async with (
        RealtimeClient() as anonymous,
        RealtimeClient(user=alice) as a,
        RealtimeClient(user=staff) as s,
        RealtimeClient(user=sender) as boss,
    ):
        assert (await anonymous.subscribe(topic))["code"] == "auth_required"
        assert (await a.subscribe(topic))["code"] == "forbidden"
        assert (await s.subscribe(topic))["code"] == "forbidden"
        # Without the permission a missing announcement looks the same as an existing one.
        assert (await s.subscribe("announcement_stats.99999"))["code"] == "forbidden"
        assert (await boss.subscribe("announcement_stats.99999"))["code"] == "not_found"
        reply = await subscribed(boss, topic)
        assert reply["state"]["delivered"] == 0 and reply["state"]["state"] == "live"
        assert (await boss.publish(topic, "stats", {}))["code"] == "publish_not_allowed"


async def test_the_panel_updates_live_with_receipts_and_connected_users(alice, bob, sender):
    with override_realtime(ANNOUNCEMENT_STATS_INTERVAL=0.1):
        notice = await announce("watched", audience="signed_in")
        async with (
            RealtimeClient(user=sender) as boss,
            RealtimeClient(user=alice) as a,
            RealtimeClient(user=bob) as b,
            RealtimeClient() as anonymous,
        ):
            await subscribed(anonymous, "announcements.all")
            for client in (a, b):
                await subscribed(client, "announcements.users")
            reply = await subscribed(boss, f"announcement_stats.{notice.pk}")
            assert reply["state"]["audience_size"] == 3  # alice, bob, boss: every active user
            await receipt(a, "announcements.users", notice.pk, "seen")
            await receipt(b, "announcements.users", notice.pk, "delivered")
            wanted = {"connected": 2, "delivered": 2, "seen": 1, "dismissed": 0}
            for _ in range(50):
                stats = (await boss.receive_event("stats", timeout=2))["data"]
                if {k: stats[k] for k in wanted} == wanted:
                    break
            assert {k: stats[k] for k in wanted} == wanted
