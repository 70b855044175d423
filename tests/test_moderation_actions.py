"""The moderator's actions over the socket (issue 19): timeouts with a duration and a reason, lifting
(unmute, untimeout, unban) by any of the stream's moderators, the stable refusal codes, the
moderators' topic `stream_mod.<id>` (the current restrictions with who set them and when, hidden
comments, live for every moderator), and what the restricted viewer is told (`stream.standing` on
their own topic, `standing` in the stream's subscribed state, the page's first render)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from realtime.streams import moderation
from realtime.streams.models import Comment, StreamRestriction
from realtime.streams.restrictions import MAX_TIMEOUT_SECONDS, page_standing
from realtime.testing import RealtimeClient, events
from tests.streamkit import moderate, post, refused

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def add_moderator(stream, user) -> None:
    stream.moderators.add(user)


async def test_a_timeout_refuses_posts_and_reactions_until_it_ends_by_itself(stream, owner, alice):
    async with RealtimeClient(user=owner) as mod, RealtimeClient(user=alice) as a:
        await mod.subscribe(stream.topic)
        await a.subscribe(stream.topic)
        before = timezone.now()
        ack = await moderate(mod, stream, action="timeout", user=alice.pk, seconds=120, reason="caps lock")
        assert ack["type"] == "ack", ack
        row = await StreamRestriction.objects.aget(user=alice, kind="timeout")
        assert row.reason == "caps lock" and row.created_by_id == owner.pk
        assert timedelta(seconds=119) < row.until - before < timedelta(seconds=122)
        assert ack["data"] == {"action": "timeout", "user": alice.pk, "until": row.until.isoformat()}
        refused(await post(a, stream, "LET ME TALK"), "timed_out")
        refused(await a.publish(stream.topic, "reaction", {"kind": "heart"}), "timed_out")
        # Still watching: a timeout is not a ban.
        assert (await a.subscribe(stream.topic))["type"] == "subscribed"
        # Nobody lifts it: once `until` passes, posting works again.
        await StreamRestriction.objects.aupdate(until=timezone.now() - timedelta(seconds=1))
        assert (await post(a, stream, "back"))["type"] == "ack"


@pytest.mark.parametrize(
    "data",
    [
        {"seconds": 0},
        {"seconds": MAX_TIMEOUT_SECONDS + 1},
        {},  # a timeout needs its duration
        {"seconds": 60, "reason": "x" * 201},
        {"seconds": 60, "reason": "tab\tinside"},
        {"seconds": "60"},
    ],
)
async def test_a_timeout_without_a_valid_duration_or_reason_is_bad_message(stream, owner, alice, data):
    async with RealtimeClient(user=owner) as mod:
        await mod.subscribe(stream.topic)
        refused(await moderate(mod, stream, action="timeout", user=alice.pk, **data), "bad_message")
    assert not await StreamRestriction.objects.aexists()


async def test_the_bounds_of_a_timeout_are_one_second_and_two_weeks(stream, owner, alice):
    async with RealtimeClient(user=owner) as mod:
        await mod.subscribe(stream.topic)
        for seconds in (1, MAX_TIMEOUT_SECONDS):
            assert (await moderate(mod, stream, action="timeout", user=alice.pk, seconds=seconds))[
                "type"
            ] == "ack"


@pytest.mark.parametrize("kind", ["mute", "timeout", "ban"])
async def test_a_named_moderator_lifts_what_another_moderator_set(stream, owner, alice, make_user, kind):
    """Not staff, not the owner: a user named in the stream's moderators lifts the owner's restriction."""
    helper = await database_sync_to_async(make_user)("helper")
    await add_moderator(stream, helper)
    async with RealtimeClient(user=owner) as first, RealtimeClient(user=helper) as second:
        await first.subscribe(stream.topic)
        await second.subscribe(stream.topic)
        extra = {"seconds": 600} if kind == "timeout" else {}
        assert (await moderate(first, stream, action=kind, user=alice.pk, **extra))["type"] == "ack"
        ack = await moderate(second, stream, action=f"un{kind}", user=alice.pk)
        assert ack["data"] == {"action": f"un{kind}", "user": alice.pk}
        assert not await StreamRestriction.objects.aexists()
        refused(await moderate(second, stream, action=f"un{kind}", user=alice.pk), "not_restricted")


@pytest.mark.parametrize(
    "data",
    [
        {"action": "timeout", "seconds": 60},
        {"action": "unban"},
        {"action": "unmute"},
        {"action": "untimeout"},
        {"action": "hide", "comment": 1},
        {"action": "restore", "comment": 1},
        {"action": "restrictions"},
    ],
)
async def test_viewers_cannot_take_any_moderation_action(stream, owner, alice, bob, data):
    await database_sync_to_async(moderation.restrict)(stream, bob, "ban", by=owner)
    async with RealtimeClient(user=alice) as a:
        await a.subscribe(stream.topic)
        await post(a, stream, "first")
        refused(await moderate(a, stream, **{"user": bob.pk, **data}), "forbidden")
    assert await StreamRestriction.objects.filter(user=bob, kind="ban").aexists()
    assert not await StreamRestriction.objects.exclude(kind="ban").aexists()
    assert not await Comment.objects.exclude(state=Comment.State.VISIBLE).aexists()


async def test_only_moderators_may_subscribe_to_the_moderators_topic(stream, owner, alice):
    topic = f"stream_mod.{stream.pk}"
    async with RealtimeClient(user=alice) as a, RealtimeClient() as anonymous:
        refused(await a.subscribe(topic), "forbidden")
        refused(await anonymous.subscribe(topic), "auth_required")
        refused(await a.subscribe("stream_mod.99999"), "not_found")
    async with RealtimeClient(user=owner) as mod:
        assert (await mod.subscribe(topic))["type"] == "subscribed"


@pytest.mark.parametrize(
    "how", ["stream.moderators.remove", "user.moderated_streams.clear", "stream.moderators.clear"]
)
async def test_a_moderator_taken_off_the_stream_leaves_the_moderators_topic(stream, owner, make_user, how):
    helper = await database_sync_to_async(make_user)("helper")
    await add_moderator(stream, helper)
    topic = f"stream_mod.{stream.pk}"
    async with RealtimeClient(user=helper) as removed, RealtimeClient(user=owner) as stays:
        assert (await removed.subscribe(topic))["type"] == "subscribed"
        await stays.subscribe(topic)

        def take_away() -> None:
            if how == "stream.moderators.remove":
                stream.moderators.remove(helper)
            elif how == "user.moderated_streams.clear":
                helper.moderated_streams.clear()
            else:
                stream.moderators.clear()

        await database_sync_to_async(take_away)()
        kicked = await removed.receive_type("kicked", timeout=1.0)
        assert (kicked["topic"], kicked["code"]) == (topic, "forbidden")
        assert [m for m in await stays.collect() if m["type"] == "kicked"] == []  # the owner stays


async def test_every_moderator_sees_restrictions_and_hidden_comments_live_and_on_subscribe(
    stream, owner, alice, bob, make_user
):
    helper = await database_sync_to_async(make_user)("helper")
    await add_moderator(stream, helper)
    topic = f"stream_mod.{stream.pk}"
    async with RealtimeClient(user=owner) as first, RealtimeClient(user=helper) as second:
        await first.subscribe(stream.topic)
        await second.subscribe(stream.topic)
        start = await second.subscribe(topic)
        assert start["state"] == {"restrictions": [], "hidden": []}
        await moderate(first, stream, action="timeout", user=alice.pk, seconds=300, reason="spam")
        await moderate(first, stream, action="ban", user=bob.pk)
        received = await second.collect()
        set_events = [e["data"] for e in events(received, "restriction.set")]
        assert [(e["user"]["username"], e["kind"]) for e in set_events] == [
            ("alice", "timeout"),
            ("bob", "ban"),
        ]
        timeout = set_events[0]
        assert timeout["reason"] == "spam" and timeout["by"] == {"id": owner.pk, "username": "owner"}
        assert timeout["until"] and timeout["at"]
        # A moderator who arrives later starts from the same list (newest first).
        async with RealtimeClient(user=helper) as late:
            state = (await late.subscribe(topic))["state"]
            assert [(r["user"]["username"], r["kind"]) for r in state["restrictions"]] == [
                ("bob", "ban"),
                ("alice", "timeout"),
            ]
        assert (await moderate(second, stream, action="unban", user=bob.pk))["type"] == "ack"
        lifted = events(await first.collect(), "restriction.lifted")
        assert lifted == []  # `first` is not on the moderators' topic: only subscribers hear it
        shown = await post(first, stream, "hide me")
        await moderate(first, stream, action="hide", comment=shown["id"])
        await moderate(first, stream, action="restore", comment=shown["id"])
        received = await second.collect()
        assert [
            (e["data"]["user"]["username"], e["data"]["by"]["username"])
            for e in events(received, "restriction.lifted")
        ] == [("bob", "helper")]
        states = [(e["data"]["comment"]["id"], e["data"]["state"]) for e in events(received, "comment.state")]
        assert states == [(shown["id"], "hidden"), (shown["id"], "visible")]
        await moderate(first, stream, action="hide", comment=shown["id"])
        async with RealtimeClient(user=helper) as late:
            state = (await late.subscribe(topic))["state"]
            assert [c["id"] for c in state["hidden"]] == [shown["id"]]
            assert [r["kind"] for r in state["restrictions"]] == ["timeout"]
        listed = await moderate(second, stream, action="restrictions")
        assert [r["kind"] for r in listed["data"]["restrictions"]] == ["timeout"]


async def test_the_restricted_viewer_is_told_on_their_own_topic_and_in_the_stream_state(stream, owner, alice):
    async with RealtimeClient(user=owner) as mod, RealtimeClient(user=alice) as a:
        await mod.subscribe(stream.topic)
        assert (await a.subscribe(stream.topic))["state"]["standing"] is None
        await a.subscribe(f"user.{alice.pk}")
        await moderate(mod, stream, action="timeout", user=alice.pk, seconds=60, reason="calm down")
        told = events(await a.collect(), "stream.standing")
        assert [e["data"]["stream"] for e in told] == [stream.pk]
        standing = told[0]["data"]["standing"]
        assert standing["kind"] == "timeout" and standing["reason"] == "calm down" and standing["until"]
        async with RealtimeClient(user=alice) as reloaded:
            assert (await reloaded.subscribe(stream.topic))["state"]["standing"] == standing
        await moderate(mod, stream, action="untimeout", user=alice.pk)
        told = events(await a.collect(), "stream.standing")
        assert [e["data"]["standing"] for e in told] == [None]


async def test_the_worst_restriction_is_the_one_the_viewer_sees(stream, owner, alice):
    restrict = database_sync_to_async(moderation.restrict)
    await restrict(stream, alice, "mute", by=owner)
    await restrict(stream, alice, "timeout", seconds=60, by=owner)
    assert (await database_sync_to_async(page_standing)(stream, alice))["kind"] == "timeout"
    await restrict(stream, alice, "ban", reason="enough", by=owner)
    standing = await database_sync_to_async(page_standing)(stream, alice)
    assert standing["kind"] == "ban" and standing["reason"] == "enough" and standing["until"] is None


async def test_a_banned_viewers_page_lists_the_comments_up_to_the_ban(stream, owner, alice, bob):
    async with RealtimeClient(user=bob) as b:
        await b.subscribe(stream.topic)
        before = [await post(b, stream, f"before {i}") for i in range(3)]
        async with RealtimeClient(user=owner) as mod:
            await mod.subscribe(stream.topic)
            await moderate(mod, stream, action="hide", comment=before[1]["id"])
            await moderate(mod, stream, action="ban", user=alice.pk, reason="spam")
        await StreamRestriction.objects.filter(kind="ban").aupdate(
            created_at=timezone.now() - timedelta(microseconds=1)
        )
        await post(b, stream, "after the ban")
    standing = await database_sync_to_async(page_standing)(stream, alice)
    assert standing["kind"] == "ban" and standing["reason"] == "spam"
    assert [c["text"] for c in standing["history"]] == ["before 0", "before 2"]
    assert await database_sync_to_async(page_standing)(stream, bob) is None


# -- the admin tells the same people ------------------------------------------------------------------
@pytest.fixture
def superuser_client(db):
    from django.contrib.auth import get_user_model
    from django.test import Client

    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.force_login(user)
    return client


async def test_deleting_or_changing_a_restriction_in_the_admin_tells_moderators_and_the_viewer(
    superuser_client, stream, owner, alice
):
    from asgiref.sync import sync_to_async
    from django.urls import reverse

    row = await database_sync_to_async(moderation.restrict)(stream, alice, "mute", by=owner)
    async with RealtimeClient(user=owner) as mod, RealtimeClient(user=alice) as a:
        await mod.subscribe(f"stream_mod.{stream.pk}")
        await a.subscribe(f"user.{alice.pk}")
        change = reverse("admin:realtime_streams_streamrestriction_change", args=[row.pk])
        form = {
            "stream": stream.pk,
            "user": alice.pk,
            "kind": "ban",
            "until_0": "",
            "until_1": "",
            "reason": "",
        }
        assert (await sync_to_async(superuser_client.post)(change, form)).status_code == 302
        received = await mod.collect()
        assert [e["data"]["kind"] for e in events(received, "restriction.lifted")] == ["mute"]
        assert [e["data"]["kind"] for e in events(received, "restriction.set")] == ["ban"]
        delete = reverse("admin:realtime_streams_streamrestriction_delete", args=[row.pk])
        assert (await sync_to_async(superuser_client.post)(delete, {"post": "yes"})).status_code == 302
        assert [e["data"]["kind"] for e in events(await mod.collect(), "restriction.lifted")] == ["ban"]
        standings = [e["data"]["standing"] for e in events(await a.collect(), "stream.standing")]
        # (The first is the replay of the mute's, stored on alice's topic before she subscribed.)
        assert [s and s["kind"] for s in standings] == ["mute", "ban", "ban", None]
    assert not await StreamRestriction.objects.aexists()


async def test_the_admin_refuses_a_timeout_without_an_end(superuser_client, stream, alice):
    from asgiref.sync import sync_to_async
    from django.urls import reverse

    add = reverse("admin:realtime_streams_streamrestriction_add")
    form = {
        "stream": stream.pk,
        "user": alice.pk,
        "kind": "timeout",
        "until_0": "",
        "until_1": "",
        "reason": "",
    }
    response = await sync_to_async(superuser_client.post)(add, form)
    assert response.status_code == 200 and "needs an end time" in response.content.decode()
    assert not await StreamRestriction.objects.aexists()


async def test_deleting_restrictions_in_bulk_in_the_admin_lifts_each(
    superuser_client, stream, owner, alice, bob
):
    from asgiref.sync import sync_to_async
    from django.urls import reverse

    restrict = database_sync_to_async(moderation.restrict)
    rows = [await restrict(stream, alice, "mute", by=owner), await restrict(stream, bob, "ban", by=owner)]
    async with RealtimeClient(user=owner) as mod:
        await mod.subscribe(f"stream_mod.{stream.pk}")
        changelist = reverse("admin:realtime_streams_streamrestriction_changelist")
        form = {"action": "delete_selected", "_selected_action": [r.pk for r in rows], "post": "yes"}
        assert (await sync_to_async(superuser_client.post)(changelist, form)).status_code == 302
        lifted = events(await mod.collect(), "restriction.lifted")
        assert sorted((e["data"]["user"]["username"], e["data"]["kind"]) for e in lifted) == [
            ("alice", "mute"),
            ("bob", "ban"),
        ]
    assert not await StreamRestriction.objects.aexists()


def test_restrict_refuses_an_unknown_kind_and_a_timeout_without_a_duration(stream, alice):
    with pytest.raises(ValueError, match="Unknown restriction kind"):
        moderation.restrict(stream, alice, "exile")
    with pytest.raises(ValueError, match="needs a duration"):
        moderation.restrict(stream, alice, "timeout")
    assert not StreamRestriction.objects.exists()
