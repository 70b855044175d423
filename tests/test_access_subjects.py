"""`Topic.follows()` in one process: what a kick or a re-check of a subject reaches, and the signals
that re-check `ACCOUNT` from every side of the permission and group relations (the daphne and Redis
cases are in test_access_derived.py)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Group, Permission

from realtime import akick, areauthorize
from realtime.announcements import announce
from realtime.testing import RealtimeClient
from realtime.topics import ACCOUNT, Topic
from realtime.topics.registry import _registered, register_kind

pytestmark = pytest.mark.django_db(transaction=True)


class BrokenTopic(Topic):
    """A project's kind whose follows() has a bug."""

    kind = "broken"

    async def can_subscribe(self, user: Any) -> bool:
        return True

    def follows(self) -> tuple[str, ...]:
        raise RuntimeError("a bug in follows()")


@pytest.fixture
def broken_kind():
    register_kind("broken", BrokenTopic)
    yield
    _registered.pop("broken", None)


async def test_a_kick_of_a_stream_ends_its_announcements_and_nothing_else(
    stream, alice, bob, broken_kind, caplog
):
    topics = [stream.topic, f"announcements.stream-{stream.pk}", f"announcements.user-{alice.pk}", "broken.1"]
    async with RealtimeClient(user=alice) as banned, RealtimeClient(user=bob) as other:
        for client in (banned, other):
            for topic in topics[:2] + ["broken.1"]:
                assert (await client.subscribe(topic))["type"] == "subscribed"
        assert (await banned.subscribe(topics[2]))["type"] == "subscribed"
        with caplog.at_level(logging.ERROR, logger="realtime.hub"):
            await akick(stream.topic, alice.pk, code="banned", message="Banned.")
            got = {(await banned.receive_type("kicked"))["topic"] for _ in range(2)}
        assert got == set(topics[:2])
        assert await banned.nothing_more() and await other.nothing_more()
        assert "BrokenTopic.follows() failed" in caplog.text  # logged; every other room still kicked


async def test_a_recheck_of_the_account_for_one_user_leaves_the_others_panels_open(make_user):
    send = await Permission.objects.aget(codename="send_announcement")
    pam = await sync_to_async(make_user)("pam", is_staff=True)
    pat = await sync_to_async(make_user)("pat", is_staff=True)
    for user in (pam, pat):
        await sync_to_async(user.user_permissions.add)(send)
    notice = await sync_to_async(announce)("Figures", audience="staff")
    topic = f"announcement_stats.{notice.pk}"
    async with RealtimeClient(user=pam) as first, RealtimeClient(user=pat) as second:
        for client in (first, second):
            assert (await client.subscribe(topic))["type"] == "subscribed"
        await areauthorize(ACCOUNT, user_id=pam.pk)  # nothing changed: both stay
        assert await first.nothing_more(ignore=("stats",)) and await second.nothing_more(ignore=("stats",))
        await sync_to_async(send.user_set.remove)(pam)  # from the permission's side
        assert (await first.receive_type("kicked"))["code"] == "forbidden"
        assert await second.nothing_more(ignore=("stats",))
        await sync_to_async(send.user_set.clear)()  # everyone who had it directly
        assert (await second.receive_type("kicked"))["topic"] == topic


@pytest.mark.parametrize("how", ["group.user_set.remove", "group.delete", "user.is_superuser"])
async def test_losing_the_permission_through_a_group_or_superuser_status_closes_the_panel(make_user, how):
    send = await Permission.objects.aget(codename="send_announcement")
    senders = await Group.objects.acreate(name="senders")
    await sync_to_async(senders.permissions.add)(send)
    superuser = how == "user.is_superuser"
    pat = await sync_to_async(make_user)("pat", is_staff=True, is_superuser=superuser)
    await sync_to_async(senders.user_set.add)(pat)
    if superuser:
        await sync_to_async(senders.user_set.remove)(pat)  # only superuser status gives it
    notice = await sync_to_async(announce)("Figures", audience="staff")
    topic = f"announcement_stats.{notice.pk}"
    async with RealtimeClient(user=pat) as panel:
        assert (await panel.subscribe(topic))["type"] == "subscribed"

        def change() -> None:
            if how == "group.user_set.remove":
                senders.user_set.remove(pat)
            elif how == "group.delete":
                senders.delete()
            else:
                pat.is_superuser = False
                pat.save(update_fields=["is_superuser"])

        await sync_to_async(change)()
        kicked = await panel.receive_type("kicked")
        assert (kicked["topic"], kicked["code"]) == (topic, "forbidden")
