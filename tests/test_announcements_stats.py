"""The admin's Delivery panel counts the audience as it is now (realtime.announcements.stats): someone
taken off staff, out of a group or off the chosen users after a round leaves "Audience" and "Connected
now", and their receipts move from Delivered / Seen / Dismissed to "Left the audience"; someone added
since counts at once. The figures cost a bounded number of queries (1,000 recipients), the open panel
follows such a change live, and the page shows the new figure in English and Chinese."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.utils import timezone

from realtime.announcements import announce
from realtime.announcements.models import Audience, Receipt
from realtime.announcements.stats import compute
from realtime.testing import RealtimeClient, override_realtime
from tests.announcekit import call, subscribed

pytestmark = pytest.mark.django_db(transaction=True)

FIGURES = ("audience_size", "connected", "delivered", "seen", "dismissed", "left_audience")


def report(user, notice, *kinds: str) -> None:
    """What `user`'s pages reported for the round now out (a targeted round made the row when sent)."""
    now = timezone.now()
    Receipt.objects.update_or_create(
        announcement=notice,
        round=notice.round,
        user=user,
        defaults={f"{kind}_at": now for kind in kinds},
    )


def figures(pk: int, users=frozenset()) -> dict:
    stats = compute(pk, frozenset(users))
    return {name: stats[name] for name in FIGURES}


@pytest.fixture
def trio(make_user):
    return [make_user(name, is_staff=True) for name in ("ann", "ben", "cat")]


@pytest.fixture
def sender(make_user):
    user = make_user("boss")
    user.user_permissions.add(Permission.objects.get(codename="send_announcement"))
    user.is_staff = True
    user.save()
    return user


def test_leaving_staff_moves_receipts_out_of_the_counts(trio):
    notice = announce("Staff only", audience=Audience.STAFF)
    for user in trio:
        report(user, notice, "delivered", "seen")
    report(trio[0], notice, "delivered", "seen", "dismissed")
    everyone = {user.pk for user in trio}
    assert figures(notice.pk, everyone) == {
        "audience_size": 3,
        "connected": 3,
        "delivered": 3,
        "seen": 3,
        "dismissed": 1,
        "left_audience": 0,
    }
    trio[0].is_staff = False
    trio[0].save()
    # Ann still has a page open and her receipt stays stored, but she is no longer in the audience.
    assert figures(notice.pk, everyone) == {
        "audience_size": 2,
        "connected": 2,
        "delivered": 2,
        "seen": 2,
        "dismissed": 0,
        "left_audience": 1,
    }
    assert Receipt.objects.filter(announcement=notice, user=trio[0]).exists()


def test_a_group_member_removed_and_a_chosen_user_taken_off_leave_the_figures(make_user):
    team = Group.objects.create(name="team")
    members = [make_user(f"m{n}") for n in range(3)]
    for user in members:
        user.groups.add(team)
    grouped = announce("For the team", audience=Audience.GROUPS, groups=[team])
    chosen = announce("For you two", audience=Audience.USERS, users=members[:2])
    for notice in (grouped, chosen):
        for user in members:
            if Receipt.objects.filter(announcement=notice, user=user).exists():
                report(user, notice, "delivered", "seen")
    members[0].groups.remove(team)
    chosen.users.remove(members[0])
    connected = {user.pk for user in members}
    assert figures(grouped.pk, connected) == {
        "audience_size": 2,
        "connected": 2,
        "delivered": 2,
        "seen": 2,
        "dismissed": 0,
        "left_audience": 1,
    }
    assert figures(chosen.pk, connected) == {
        "audience_size": 1,
        "connected": 1,
        "delivered": 1,
        "seen": 1,
        "dismissed": 0,
        "left_audience": 1,
    }


def test_someone_added_after_the_round_counts_in_the_audience_at_once(trio, make_user):
    notice = announce("Staff only", audience=Audience.STAFF)
    newcomer = make_user("dan", is_staff=True)
    stats = figures(notice.pk, {newcomer.pk})
    assert (stats["audience_size"], stats["connected"], stats["delivered"]) == (4, 1, 0)


def test_a_deactivated_user_leaves_a_signed_in_audience_and_is_counted_apart(alice, bob):
    notice = announce("Hello", audience=Audience.SIGNED_IN)
    report(alice, notice, "delivered")
    report(bob, notice, "delivered", "seen")
    bob.is_active = False
    bob.save()
    stats = figures(notice.pk)
    assert (stats["audience_size"], stats["delivered"], stats["seen"], stats["left_audience"]) == (1, 1, 0, 1)


def test_a_stream_audience_counts_every_receipt_and_has_no_list(alice):
    pytest.importorskip("realtime.streams")
    from realtime.streams.models import Stream

    stream = Stream.objects.create(title="Live", owner=alice)
    notice = announce("On air", audience=Audience.STREAM, stream=stream)
    report(alice, notice, "delivered")
    stats = compute(notice.pk, frozenset({alice.pk}), anonymous=2)
    assert stats["audience_size"] is None and stats["left_audience"] is None
    assert (stats["delivered"], stats["connected"], stats["connected_anonymous"]) == (1, 1, 2)


def test_a_thousand_recipients_cost_a_bounded_number_of_queries(django_assert_max_num_queries):
    User = get_user_model()
    User.objects.bulk_create([User(username=f"s{n:04}", is_staff=True) for n in range(1000)])
    notice = announce("Everyone on staff", audience=Audience.STAFF)
    staff = list(User.objects.filter(is_staff=True).order_by("pk"))
    assert Receipt.objects.filter(announcement=notice, round=notice.round).count() == 1000
    now = timezone.now()
    Receipt.objects.filter(announcement=notice, user__in=staff[:600]).update(delivered_at=now, seen_at=now)
    Receipt.objects.filter(announcement=notice, user__in=staff[:100]).update(dismissed_at=now)
    User.objects.filter(pk__in=[user.pk for user in staff[:50]]).update(is_staff=False)
    connected = frozenset(user.pk for user in staff)  # all 1,000 have a page open
    with django_assert_max_num_queries(3):  # the announcement, its audience, one receipts aggregate
        stats = compute(notice.pk, connected)
    assert {name: stats[name] for name in FIGURES} == {
        "audience_size": 950,
        "connected": 950,
        "delivered": 550,
        "seen": 550,
        "dismissed": 50,
        "left_audience": 50,
    }


async def test_the_open_panel_follows_someone_leaving_the_audience(trio, sender):
    with override_realtime(ANNOUNCEMENT_STATS_INTERVAL=0.1):
        notice = await call(announce, "Staff only", audience=Audience.STAFF)
        async with RealtimeClient(user=sender) as boss:
            reply = await subscribed(boss, f"announcement_stats.{notice.pk}")
            assert (reply["state"]["audience_size"], reply["state"]["left_audience"]) == (4, 0)

            def leave() -> None:
                trio[0].is_staff = False
                trio[0].save()

            await call(leave)
            stats = reply["state"]
            for _ in range(50):
                if (stats["audience_size"], stats["left_audience"]) == (3, 1):
                    break
                stats = (await boss.receive_event("stats", timeout=2))["data"]
            assert (stats["audience_size"], stats["left_audience"]) == (3, 1)


def test_the_page_shows_who_left_in_english_and_chinese(trio, sender, client):
    notice = announce("Staff only", audience=Audience.STAFF)
    trio[0].is_staff = False
    trio[0].save()
    client.force_login(sender)
    sender.user_permissions.add(*Permission.objects.filter(codename__in=["change_announcement"]))
    url = f"/admin/realtime_announcements/announcement/{notice.pk}/change/"
    page = client.get(url, headers={"accept-language": "en"}).content.decode()
    assert "Left the audience</dt>" in page and 'data-stat="left_audience">1<' in page
    assert 'data-stat="audience_size">3<' in page  # sender and two of the trio
    chinese = client.get(url, headers={"accept-language": "zh-hans"}).content.decode()
    assert "已离开受众</dt>" in chinese and "回执只统计当前仍在受众中的已登录用户" in chinese
