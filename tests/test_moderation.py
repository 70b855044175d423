"""Moderation of a stream: each posting rule with its stable error code, who counts as a moderator,
the `moderate` event (delete/hide/restore, mute/ban, slow mode, comments open/closed), and what viewers
see live and in history."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.utils import timezone

from realtime.exceptions import ProtocolError
from realtime.models import Event
from realtime.streams import moderation
from realtime.streams.models import Comment, Stream, StreamRestriction
from realtime.streams.topic import StreamTopic
from realtime.testing import RealtimeClient, events
from realtime.topics import base as topics_base
from tests.streamkit import comment_ids, moderate, of_type, post, post_direct, refused

pytestmark = pytest.mark.django_db(transaction=True)


# -- helpers --------------------------------------------------------------------------------------
def realtime_settings(**overrides) -> dict:
    return {**django_settings.REALTIME, **overrides}


@database_sync_to_async
def staff_with_permission(make_user, username: str = "staffer", *, permission: bool = True):
    user = make_user(username, is_staff=True)
    if permission:
        user.user_permissions.add(
            Permission.objects.get(codename="moderate_stream", content_type__app_label="realtime_streams")
        )
    return type(user).objects.get(pk=user.pk)  # fresh: no stale permission cache


@database_sync_to_async
def add_moderator(stream: Stream, user) -> None:
    stream.moderators.add(user)


# -- posting rules --------------------------------------------------------------------------------
async def test_rate_limit_refuses_with_retry_after_and_stores_nothing(stream, alice, bob, settings):
    settings.REALTIME = realtime_settings(RATE_LIMIT_COUNT=2, RATE_LIMIT_PERIOD=10.0)
    async with RealtimeClient(user=alice) as a, RealtimeClient(user=bob) as b:
        await a.subscribe(stream.topic)
        await b.subscribe(stream.topic)
        first, second = await post(a, stream, "one"), await post(a, stream, "two")
        assert first["type"] == second["type"] == "ack"
        reply = await post(a, stream, "three")
        refused(reply, "rate_limited")
        assert 9 <= reply["retry_after"] <= 10
        assert comment_ids(await b.collect()) == [first["id"], second["id"]]
        assert (await post(b, stream, "bob is not limited by alice"))["type"] == "ack"
        # Retrying an already stored comment is not a new post: it is acked, not rate limited.
        again = await post(a, stream, "two", second["data"]["client_id"])
        assert (again["type"], again["id"], again["duplicate"]) == ("ack", second["id"], True)
    assert await Comment.objects.filter(author=alice).acount() == 2


async def test_rate_limit_window_passes(stream, alice, settings):
    settings.REALTIME = realtime_settings(RATE_LIMIT_COUNT=1, RATE_LIMIT_PERIOD=0.3)
    async with RealtimeClient(user=alice) as a:
        await a.subscribe(stream.topic)
        assert (await post(a, stream, "one"))["type"] == "ack"
        reply = await post(a, stream, "too soon")
        refused(reply, "rate_limited")
        assert 0 < reply["retry_after"] <= 0.3
        await asyncio.sleep(0.35)
        assert (await post(a, stream, "later"))["type"] == "ack"


async def test_rate_limit_counts_posts_per_stream(stream, owner, alice, settings):
    """RATE_LIMIT_COUNT is per user *and stream* (conf.py, the (stream, author, created_at) index):
    a busy chat elsewhere does not silence the user here."""
    settings.REALTIME = realtime_settings(RATE_LIMIT_COUNT=2, RATE_LIMIT_PERIOD=10.0)
    other = await Stream.objects.acreate(title="Other", slug="other", owner=owner)
    async with RealtimeClient(user=alice) as a:
        await a.subscribe(stream.topic)
        await a.subscribe(other.topic)
        for text in ("one", "two"):
            assert (await post(a, stream, text))["type"] == "ack"
        refused(await post(a, stream, "three"), "rate_limited")
        assert (await post(a, other, "elsewhere"))["type"] == "ack"


async def test_slow_mode_refuses_a_second_comment_with_retry_after(stream, alice, bob):
    await Stream.objects.filter(pk=stream.pk).aupdate(slow_mode_seconds=30)
    async with RealtimeClient(user=alice) as a, RealtimeClient(user=bob) as b:
        reply = await a.subscribe(stream.topic)
        assert reply["state"]["slow_mode_seconds"] == 30
        await b.subscribe(stream.topic)
        first = await post(a, stream, "one")
        assert first["type"] == "ack"
        reply = await post(a, stream, "two")
        refused(reply, "slow_mode")
        assert 29 <= reply["retry_after"] <= 30
        assert (await post(b, stream, "bob's own turn"))["type"] == "ack"
        assert comment_ids(await a.collect()) == [first["id"], first["id"] + 1]


async def test_slow_mode_lets_the_next_comment_through_after_the_interval(stream, alice):
    await Stream.objects.filter(pk=stream.pk).aupdate(slow_mode_seconds=1)
    async with RealtimeClient(user=alice) as a:
        await a.subscribe(stream.topic)
        await post(a, stream, "one")
        refused(await post(a, stream, "two"), "slow_mode")
        await Comment.objects.filter(author=alice).aupdate(created_at=timezone.now() - timedelta(seconds=1.1))
        assert (await post(a, stream, "two"))["type"] == "ack"


@pytest.mark.parametrize("who", ["owner", "named moderator", "staff with permission", "superuser"])
async def test_moderators_are_exempt_from_slow_mode(stream, owner, make_user, who):
    if who == "owner":
        user = owner
    elif who == "named moderator":
        user = await database_sync_to_async(make_user)("mod")
        await add_moderator(stream, user)
    elif who == "staff with permission":
        user = await staff_with_permission(make_user)
    else:
        user = await database_sync_to_async(get_user_model().objects.create_superuser)(
            "root", "r@example.com", "pw"
        )
    await Stream.objects.filter(pk=stream.pk).aupdate(slow_mode_seconds=60)
    async with RealtimeClient(user=user) as client:
        reply = await client.subscribe(stream.topic)
        assert reply["state"]["moderator"] is True
        for text in ("one", "two", "three"):
            assert (await post(client, stream, text))["type"] == "ack"


async def test_staff_without_the_permission_is_not_a_moderator(stream, make_user):
    staff = await staff_with_permission(make_user, permission=False)
    await Stream.objects.filter(pk=stream.pk).aupdate(slow_mode_seconds=60)
    async with RealtimeClient(user=staff) as client:
        assert (await client.subscribe(stream.topic))["state"]["moderator"] is False
        await post(client, stream, "one")
        refused(await post(client, stream, "two"), "slow_mode")
        refused(await moderate(client, stream, action="comments", open=False), "forbidden")


async def test_text_too_long_is_refused_and_the_limit_is_inclusive(stream, alice, settings):
    settings.REALTIME = realtime_settings(MAX_COMMENT_LENGTH=10)
    async with RealtimeClient(user=alice) as a:
        await a.subscribe(stream.topic)
        reply = await post(a, stream, "x" * 11)
        refused(reply, "text_too_long")
        assert "10" in reply["message"]
        assert (await post(a, stream, "x" * 10))["type"] == "ack"
    assert [c async for c in Comment.objects.values_list("text", flat=True)] == ["x" * 10]


async def test_empty_text_is_refused(stream, alice):
    async with RealtimeClient(user=alice) as a:
        await a.subscribe(stream.topic)
        refused(await post(a, stream, ""), "text_empty")
        refused(await post(a, stream, " \n "), "text_empty")
    assert not await Comment.objects.aexists()


@pytest.mark.parametrize(
    "text, allowed",
    [
        ("spoiler alert", False),  # from settings
        ("No SPOILER!", False),  # case-insensitive, punctuation is a word boundary
        ("spoilers ahead", True),  # whole words only
        ("unspoiler", True),
        ("well darn", False),  # from the stream's own list
        ("darned", True),
        ("a Bad  Word here", False),  # a multi-word term; runs of spaces are collapsed first
        ("bad words", True),
        ("all fine", True),
    ],
)
async def test_blocked_terms_from_settings_and_the_stream_whole_words(
    stream, alice, bob, settings, text, allowed
):
    settings.REALTIME = realtime_settings(BLOCKED_TERMS=["Spoiler"])
    await Stream.objects.filter(pk=stream.pk).aupdate(blocked_terms="darn\n  bad word \n\n")
    async with RealtimeClient(user=alice) as a, RealtimeClient(user=bob) as b:
        await a.subscribe(stream.topic)
        await b.subscribe(stream.topic)
        reply = await post(a, stream, text)
        if allowed:
            assert reply["type"] == "ack"
            assert comment_ids(await b.collect()) == [reply["id"]]
        else:
            refused(reply, "blocked_term")
            assert comment_ids(await b.collect()) == []
    assert await Comment.objects.aexists() is allowed


async def test_blocked_terms_of_one_stream_do_not_apply_to_another(stream, owner, alice):
    other = await Stream.objects.acreate(title="Other", slug="other", owner=owner, blocked_terms="darn")
    async with RealtimeClient(user=alice) as a:
        await a.subscribe(stream.topic)
        await a.subscribe(other.topic)
        assert (await post(a, stream, "darn"))["type"] == "ack"
        refused(await post(a, other, "darn"), "blocked_term")


async def test_closing_comments_is_announced_and_refuses_posts_until_reopened(stream, owner, alice):
    async with RealtimeClient(user=owner) as mod, RealtimeClient(user=alice) as a:
        await mod.subscribe(stream.topic)
        await a.subscribe(stream.topic)
        ack = await moderate(mod, stream, action="comments", open=False)
        assert ack["type"] == "ack" and ack["data"]["comments_open"] is False
        updates = events(await a.collect(), "stream.updated")
        assert [u["data"] for u in updates] == [
            {"comments_open": False, "slow_mode_seconds": 0, "live": True}
        ]
        assert updates[0]["id"]  # stored: a resuming viewer learns it too
        refused(await post(a, stream, "hello?"), "comments_closed")
        refused(await post(mod, stream, "moderators too"), "comments_closed")
        async with RealtimeClient(user=alice) as fresh:
            assert (await fresh.subscribe(stream.topic))["state"]["comments_open"] is False
        await moderate(mod, stream, action="comments", open=True)
        assert [u["data"]["comments_open"] for u in events(await a.collect(), "stream.updated")] == [True]
        assert (await post(a, stream, "hello!"))["type"] == "ack"


async def test_slow_mode_set_by_a_moderator_is_announced_and_enforced(stream, owner, alice):
    async with RealtimeClient(user=owner) as mod, RealtimeClient(user=alice) as a:
        await mod.subscribe(stream.topic)
        await a.subscribe(stream.topic)
        ack = await moderate(mod, stream, action="slow_mode", seconds=20)
        assert ack["data"] == {
            "action": "slow_mode",
            "comments_open": True,
            "slow_mode_seconds": 20,
            "live": True,
        }
        assert [u["data"]["slow_mode_seconds"] for u in events(await a.collect(), "stream.updated")] == [20]
        await post(a, stream, "one")
        refused(await post(a, stream, "two"), "slow_mode")
        await moderate(mod, stream, action="slow_mode", seconds=0)
        assert (await post(a, stream, "two"))["type"] == "ack"
        refused(await moderate(mod, stream, action="slow_mode", seconds=-1), "bad_message")
        refused(await moderate(mod, stream, action="slow_mode", seconds="5"), "bad_message")
        refused(await moderate(mod, stream, action="comments", open="no"), "bad_message")


async def test_an_ended_stream_refuses_comments(stream, alice):
    async with RealtimeClient(user=alice) as a:
        await a.subscribe(stream.topic)
        await database_sync_to_async(moderation.update_stream)(stream, status=Stream.Status.ENDED)
        assert [u["data"]["live"] for u in events(await a.collect(), "stream.updated")] == [False]
        refused(await post(a, stream, "still there?"), "stream_ended")
    async with RealtimeClient(user=alice) as late:
        assert (await late.subscribe(stream.topic))["state"]["live"] is False


async def test_update_stream_only_changes_what_it_allows(stream):
    with pytest.raises(ValueError):
        await database_sync_to_async(moderation.update_stream)(stream, title="renamed")


async def test_bad_colour_and_mode_are_refused(stream, alice):
    async with RealtimeClient(user=alice) as a:
        await a.subscribe(stream.topic)
        refused(await post(a, stream, "hi", color="#000000"), "bad_color")
        refused(await post(a, stream, "hi", mode="marquee"), "bad_mode")
    assert not await Comment.objects.aexists()


# -- mute and ban ---------------------------------------------------------------------------------
async def test_a_muted_user_cannot_post_but_still_watches(stream, owner, alice, bob):
    async with (
        RealtimeClient(user=owner) as mod,
        RealtimeClient(user=alice) as a,
        RealtimeClient(user=bob) as b,
    ):
        for client in (mod, a, b):
            await client.subscribe(stream.topic)
        ack = await moderate(mod, stream, action="mute", user=alice.pk, minutes=10, reason="flooding")
        assert ack["data"]["action"] == "mute" and ack["data"]["user"] == alice.pk
        assert ack["data"]["until"] is not None
        reply = await post(a, stream, "let me talk")
        refused(reply, "muted")
        assert "until" in reply["message"]
        assert of_type(await a.collect(), "kicked") == []  # a mute does not end the subscription
        other = await post(b, stream, "alice can read this")
        assert comment_ids(await a.collect()) == [other["id"]]
        async with RealtimeClient(user=alice) as second_tab:  # and may subscribe again
            assert (await second_tab.subscribe(stream.topic))["type"] == "subscribed"
            refused(await post(second_tab, stream, "other tab"), "muted")
        await moderate(mod, stream, action="unmute", user=alice.pk)
        assert (await post(a, stream, "thanks"))["type"] == "ack"
    restriction = await StreamRestriction.objects.filter(kind="mute").afirst()
    assert restriction is None


async def test_an_expired_mute_no_longer_applies(stream, owner, alice):
    await database_sync_to_async(moderation.restrict)(stream, alice, StreamRestriction.Kind.MUTE, minutes=5)
    async with RealtimeClient(user=alice) as a:
        await a.subscribe(stream.topic)
        refused(await post(a, stream, "muted"), "muted")
        await StreamRestriction.objects.aupdate(until=timezone.now() - timedelta(seconds=1))
        assert (await post(a, stream, "free again"))["type"] == "ack"


async def test_a_ban_kicks_the_live_subscription_and_refuses_resubscribing(stream, owner, alice, bob):
    async with (
        RealtimeClient(user=owner) as mod,
        RealtimeClient(user=alice) as a,
        RealtimeClient(user=bob) as b,
        RealtimeClient(user=bob) as b_tab2,
    ):
        for client in (mod, a, b, b_tab2):
            await client.subscribe(stream.topic)
        await b.subscribe("broadcast.all")
        ack = await moderate(mod, stream, action="ban", user=bob.pk, reason="spam")
        assert ack["type"] == "ack" and ack["data"] == {"action": "ban", "user": bob.pk, "until": None}
        for received in await asyncio.gather(b.collect(), b_tab2.collect()):  # every socket of bob's
            kicked = of_type(received, "kicked")
            assert [(k["topic"], k["code"]) for k in kicked] == [(stream.topic, "banned")]
            assert "spam" in kicked[0]["message"]
        assert of_type(await a.collect(), "kicked") == []  # nobody else is kicked
        # The kicked subscription is gone: no more comments, no posting, no viewer count.
        after = await post(a, stream, "bob cannot see this")
        assert comment_ids(await b.collect()) == []
        refused(await post(b, stream, "let me back"), "not_subscribed")
        # The socket itself stays usable, and other topics stay subscribed.
        assert (await b.request({"type": "ping"}))["type"] == "pong"
        assert (await b.request({"type": "unsubscribe", "topic": "broadcast.all"}))["type"] == "unsubscribed"
        refused(await b.subscribe(stream.topic), "banned")
        refused(await b.subscribe(stream.topic, since=after["id"]), "banned")
        await moderate(mod, stream, action="unban", user=bob.pk)
        assert (await b.subscribe(stream.topic))["type"] == "subscribed"
        assert (await post(b, stream, "I'm back"))["type"] == "ack"


async def test_a_ban_while_the_subscription_is_loading_kicks_it(stream, owner, bob, monkeypatch):
    real_read = topics_base.read_history

    def ban_during_read(topic, since, limit):
        moderation.restrict(stream, bob, StreamRestriction.Kind.BAN)
        return real_read(topic, since, limit)

    monkeypatch.setattr(topics_base, "read_history", ban_during_read)
    async with RealtimeClient(user=bob) as b:
        await b.send({"type": "subscribe", "topic": stream.topic, "ref": "s"})
        received = await b.collect(quiet=0.3)
        assert_turned_away(received)
        monkeypatch.setattr(topics_base, "read_history", real_read)
        await post_direct(stream, owner, "after the ban")
        assert comment_ids(await b.collect()) == []


async def test_a_ban_committed_just_after_the_subscribe_check_still_keeps_the_user_out(
    stream, owner, bob, monkeypatch
):
    """The race between the ban check on subscribe and joining the room: a ban committed in between
    would find no connection to kick. The user must be refused, not left watching."""
    real_check = StreamTopic._check_access
    banned = []

    def check_then_ban(self, user):
        real_check(self, user)
        if not banned:
            banned.append(moderation.restrict(stream, bob, StreamRestriction.Kind.BAN))

    monkeypatch.setattr(StreamTopic, "_check_access", check_then_ban)
    async with RealtimeClient(user=bob) as b:
        reply = await b.subscribe(stream.topic)
        assert_turned_away([reply, *await b.collect(quiet=0.3)])
        await post_direct(stream, owner, "after the ban")
        assert comment_ids(await b.collect()) == []
        assert (await b.request({"type": "ping"}))["type"] == "pong"  # the socket stays usable


def assert_turned_away(received: list[dict]) -> None:
    """Never `subscribed`; told `banned` (a kick, an error for the subscribe, or both)."""
    notices = [(m["type"], m.get("code")) for m in received if m["type"] != "event"]
    assert notices and set(notices) <= {("kicked", "banned"), ("error", "banned")}, notices


async def test_a_banned_user_cannot_post_even_if_still_subscribed(stream, alice):
    """Defence in depth: the post is judged again even if a kick was lost in the layer."""
    async with RealtimeClient(user=alice) as a:
        await a.subscribe(stream.topic)
        await StreamRestriction.objects.acreate(stream=stream, user=alice, kind=StreamRestriction.Kind.BAN)
        refused(await post(a, stream, "sneaky"), "banned")
    assert not await Comment.objects.aexists()


async def test_a_ban_on_one_stream_leaves_other_streams_alone(stream, owner, bob):
    other = await Stream.objects.acreate(title="Other", slug="other", owner=owner)
    async with RealtimeClient(user=owner) as mod, RealtimeClient(user=bob) as b:
        await mod.subscribe(stream.topic)
        await b.subscribe(stream.topic)
        await b.subscribe(other.topic)
        await moderate(mod, stream, action="ban", user=bob.pk)
        assert [k["topic"] for k in of_type(await b.collect(), "kicked")] == [stream.topic]
        assert (await post(b, other, "still here"))["type"] == "ack"


async def test_an_expired_ban_no_longer_refuses(stream, bob):
    await StreamRestriction.objects.acreate(
        stream=stream, user=bob, kind=StreamRestriction.Kind.BAN, until=timezone.now() - timedelta(minutes=1)
    )
    async with RealtimeClient(user=bob) as b:
        assert (await b.subscribe(stream.topic))["type"] == "subscribed"


async def test_moderators_cannot_mute_or_ban_each_other(stream, owner, make_user):
    mod2 = await database_sync_to_async(make_user)("mod2")
    await add_moderator(stream, mod2)
    async with RealtimeClient(user=mod2) as client:
        await client.subscribe(stream.topic)
        refused(await moderate(client, stream, action="ban", user=owner.pk), "target_is_moderator")
        refused(await moderate(client, stream, action="mute", user=owner.pk), "target_is_moderator")
        refused(
            await moderate(client, stream, action="timeout", user=owner.pk, seconds=5), "target_is_moderator"
        )
    assert not await StreamRestriction.objects.aexists()


async def test_moderate_refuses_unknown_targets_and_bad_fields(stream, owner, alice):
    async with RealtimeClient(user=owner) as mod:
        await mod.subscribe(stream.topic)
        refused(await moderate(mod, stream, action="delete", comment=999), "comment_not_found")
        refused(await moderate(mod, stream, action="ban", user=99999), "user_not_found")
        refused(await moderate(mod, stream, action="ban", user="alice"), "bad_message")
        refused(await moderate(mod, stream, action="mute", user=alice.pk, minutes=0), "bad_message")
        refused(await moderate(mod, stream, action="mute", user=alice.pk, reason="x" * 201), "bad_message")
        refused(await moderate(mod, stream, action="explode"), "bad_message")
        refused(await moderate(mod, stream), "bad_message")
    assert not await StreamRestriction.objects.aexists()


@pytest.mark.parametrize(
    "action, data",
    [
        ("delete", {"action": "delete", "comment": 1}),
        ("ban", {"action": "ban", "user": None}),
        ("comments", {"action": "comments", "open": False}),
        ("slow_mode", {"action": "slow_mode", "seconds": 5}),
    ],
)
async def test_non_moderators_get_forbidden_and_nothing_changes(stream, alice, bob, action, data):
    async with RealtimeClient(user=alice) as a:
        await a.subscribe(stream.topic)
        target = await post(a, stream, "keep me")
        if data.get("user", 0) is None:
            data = {**data, "user": bob.pk}
        refused(await a.publish(stream.topic, "moderate", data), "forbidden")
    refreshed = await Stream.objects.aget(pk=stream.pk)
    assert (refreshed.comments_open, refreshed.slow_mode_seconds) == (True, 0)
    assert (await Comment.objects.aget(seq=target["id"])).state == Comment.State.VISIBLE
    assert not await StreamRestriction.objects.aexists()


async def test_anonymous_moderate_is_auth_required(stream):
    async with RealtimeClient() as anonymous:
        await anonymous.subscribe(stream.topic)
        refused(await moderate(anonymous, stream, action="comments", open=False), "auth_required")


def test_moderator_is_the_owner_named_moderators_and_permitted_staff(stream, owner, alice, make_user):
    from django.contrib.auth.models import AnonymousUser

    named = make_user("named")
    stream.moderators.add(named)
    staff = make_user("staff", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="moderate_stream"))
    staff_without = make_user("staff2", is_staff=True)
    inactive_owner_stream = Stream.objects.create(
        title="x", slug="x", owner=make_user("gone", is_active=False)
    )
    assert stream.is_moderator(owner)
    assert stream.is_moderator(named)
    assert stream.is_moderator(type(staff).objects.get(pk=staff.pk))
    assert not stream.is_moderator(staff_without)
    assert not stream.is_moderator(alice)
    assert not stream.is_moderator(AnonymousUser())
    assert not inactive_owner_stream.is_moderator(inactive_owner_stream.owner)


def test_moderate_on_a_missing_stream_is_not_found(owner):
    with pytest.raises(ProtocolError) as info:
        moderation.moderate(12345, owner, {"action": "comments", "open": False})
    assert info.value.code == "not_found"


# -- delete, hide, restore ------------------------------------------------------------------------
@pytest.mark.parametrize("action", ["delete", "hide"])
async def test_a_removed_comment_disappears_live_and_from_history(stream, owner, alice, bob, action):
    async with (
        RealtimeClient(user=owner) as mod,
        RealtimeClient(user=alice) as a,
        RealtimeClient(user=bob) as b,
    ):
        for client in (mod, a, b):
            await client.subscribe(stream.topic)
        keep = await post(a, stream, "keep")
        bad = await post(a, stream, "remove me")
        ack = await moderate(mod, stream, action=action, comment=bad["id"])
        assert ack["data"] == {"action": action, "comment": bad["id"]}
        for received in await asyncio.gather(a.collect(), b.collect()):
            assert comment_ids(received) == [keep["id"], bad["id"]]
            deleted = events(received, "comment.deleted")
            assert [d["data"] for d in deleted] == [{"comment": bad["id"]}]
            assert deleted[0]["id"] > bad["id"]
    comment_row = await Comment.objects.aget(seq=bad["id"])
    assert comment_row.state == {"delete": "deleted", "hide": "hidden"}[action]
    async with RealtimeClient() as fresh:
        await fresh.subscribe(stream.topic)
        assert comment_ids(await fresh.collect()) == [keep["id"]]
    async with RealtimeClient() as resuming:  # was offline when it was removed, had seen it
        await resuming.subscribe(stream.topic, since=bad["id"])
        received = await resuming.collect()
        assert [d["data"]["comment"] for d in events(received, "comment.deleted")] == [bad["id"]]


async def test_restore_brings_a_comment_back_live_and_in_history(stream, owner, alice):
    async with RealtimeClient(user=owner) as mod, RealtimeClient(user=alice) as a:
        await mod.subscribe(stream.topic)
        await a.subscribe(stream.topic)
        target = await post(a, stream, "misjudged")
        await moderate(mod, stream, action="hide", comment=target["id"])
        await a.collect()
        ack = await moderate(mod, stream, action="restore", comment=target["id"])
        assert ack["type"] == "ack"
        restored = events(await a.collect(), "comment.restored")
        assert [r["data"] for r in restored] == [target["data"]]
    assert (await Comment.objects.aget(seq=target["id"])).state == Comment.State.VISIBLE
    async with RealtimeClient() as fresh:
        await fresh.subscribe(stream.topic)
        received = await fresh.collect()
        assert comment_ids(received) == [target["id"]]


async def test_removing_an_already_removed_comment_sends_nothing_more(stream, owner, alice):
    async with RealtimeClient(user=owner) as mod, RealtimeClient(user=alice) as a:
        await mod.subscribe(stream.topic)
        await a.subscribe(stream.topic)
        target = await post(a, stream, "gone")
        await moderate(mod, stream, action="hide", comment=target["id"])
        assert len(events(await a.collect(), "comment.deleted")) == 1
        await moderate(mod, stream, action="delete", comment=target["id"])
        await moderate(mod, stream, action="delete", comment=target["id"])
        assert events(await a.collect(), "comment.deleted") == []
    assert (await Comment.objects.aget(seq=target["id"])).state == Comment.State.DELETED


async def test_retrying_a_deleted_comment_does_not_bring_it_back(stream, owner, alice, bob):
    async with (
        RealtimeClient(user=owner) as mod,
        RealtimeClient(user=alice) as a,
        RealtimeClient(user=bob) as b,
    ):
        for client in (mod, a, b):
            await client.subscribe(stream.topic)
        target = await post(a, stream, "deleted", "same-id")
        await moderate(mod, stream, action="delete", comment=target["id"])
        await b.collect()
        again = await post(a, stream, "deleted", "same-id")
        assert (again["id"], again["duplicate"]) == (target["id"], True)
        assert comment_ids(await b.collect()) == []
    assert await Event.objects.filter(topic=stream.topic, seq=target["id"], withdrawn=True).aexists()


async def test_comments_deleted_with_their_author_are_withdrawn_live_and_from_history(stream, owner, alice):
    async with RealtimeClient(user=alice) as a, RealtimeClient(user=owner) as watcher:
        await a.subscribe(stream.topic)
        await watcher.subscribe(stream.topic)
        gone = await post(a, stream, "my account is being deleted")
        await watcher.collect()
        await database_sync_to_async(alice.delete)()
        assert [d["data"]["comment"] for d in events(await watcher.collect(), "comment.deleted")] == [
            gone["id"]
        ]
    async with RealtimeClient() as fresh:
        await fresh.subscribe(stream.topic)
        assert comment_ids(await fresh.collect()) == []


async def test_deleting_a_stream_deletes_its_topic_log(stream, alice):
    """A stream's stored events go with it: nothing is replayed under its topic afterwards."""
    from realtime.models import TopicSequence

    async with RealtimeClient(user=alice) as a:
        await a.subscribe(stream.topic)
        await post(a, stream, "soon gone")
    topic = stream.topic
    await database_sync_to_async(stream.delete)()
    assert not await Event.objects.filter(topic=topic).aexists()
    assert not await TopicSequence.objects.filter(topic=topic).aexists()


def count_event_inserts(delete) -> int:
    """Run `delete()`; return how many INSERTs into the event log it made (live model topics left out:
    the example site's dashboard makes Stream a live model, so a stream's own row going is one
    `change` on `live.<model>`, whatever its comments)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        delete()
    return sum(
        1
        for q in queries.captured_queries
        if q["sql"].lstrip().upper().startswith("INSERT")
        and Event._meta.db_table in q["sql"]
        and "'live." not in q["sql"]
    )


@pytest.mark.parametrize("how", ["instance", "queryset"])
async def test_deleting_a_stream_stores_and_publishes_nothing_per_comment(stream, alice, bob, how):
    """The cascade deletes the comments while the stream row still exists; their topic log goes
    with the stream, so a comment.deleted per comment would only be written, sent and thrown away."""
    async with RealtimeClient(user=alice) as a, RealtimeClient(user=bob) as watcher:
        await a.subscribe(stream.topic)
        await watcher.subscribe(stream.topic)
        for n in range(5):
            await post_direct(stream, alice if n % 2 else bob, f"#{n}", f"c{n}")
        await watcher.collect()
        if how == "instance":
            inserts = await database_sync_to_async(count_event_inserts)(stream.delete)
        else:
            inserts = await database_sync_to_async(count_event_inserts)(
                Stream.objects.filter(pk=stream.pk).delete
            )
        assert inserts == 0
        assert events(await watcher.collect(), "comment.deleted") == []
    assert not await Event.objects.exclude(topic__startswith="live.").aexists()
    assert not await Comment.objects.aexists()


async def test_deleting_a_stream_owner_announces_only_their_comments_elsewhere(stream, owner, alice):
    """Deleting a user cascades to their streams (silently, as above) and to their comments on other
    streams, which are withdrawn there as usual."""
    other = await Stream.objects.acreate(title="Other", slug="other", owner=alice)
    for n in range(3):
        await post_direct(stream, alice, f"on the owner's stream {n}")
    elsewhere = await post_direct(other, owner, "the owner commenting elsewhere")
    async with RealtimeClient(user=alice) as watcher:
        await watcher.subscribe(other.topic)
        await watcher.collect()
        inserts = await database_sync_to_async(count_event_inserts)(owner.delete)
        received = await watcher.collect()
    assert inserts == 1
    assert [e["data"] for e in events(received, "comment.deleted")] == [{"comment": elsewhere["id"]}]
    assert not await Event.objects.filter(topic=stream.topic).aexists()


async def test_a_comment_deleted_after_a_failed_stream_delete_is_still_announced(stream, alice):
    """The mark set while a stream is being deleted must not outlive a deletion that rolled back."""
    from django.db.models.signals import post_delete

    gone = await post_direct(stream, alice, "delete me later")
    await post_direct(stream, alice, "another")

    def fail(**kwargs):
        raise RuntimeError("database went away")

    post_delete.connect(fail, sender=Comment, dispatch_uid="test.fail")
    try:
        with pytest.raises(RuntimeError):
            await database_sync_to_async(stream.delete)()
    finally:
        post_delete.disconnect(sender=Comment, dispatch_uid="test.fail")
    assert await Comment.objects.acount() == 2  # rolled back
    async with RealtimeClient(user=alice) as watcher:
        await watcher.subscribe(stream.topic)
        await watcher.collect()
        await Comment.objects.filter(seq=gone["id"]).adelete()
        assert [e["data"] for e in events(await watcher.collect(), "comment.deleted")] == [
            {"comment": gone["id"]}
        ]


# -- blocked terms cannot be dodged ---------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "ＳＰＡＭ",  # full-width letters
        "S\u200bPAM",  # zero-width space
        "s\u200dp\ufeffam now",  # zero-width joiner, byte-order mark
        "sPaM",
        "buy s\u00adpam",  # soft hyphen
        "ﬁsh",  # a ligature, against the term "fish"
    ],
)
async def test_blocked_terms_match_through_invisible_characters_width_and_case(stream, alice, settings, text):
    settings.REALTIME = realtime_settings(BLOCKED_TERMS=["spam"])
    await Stream.objects.filter(pk=stream.pk).aupdate(blocked_terms="FISH")
    async with RealtimeClient(user=alice) as a:
        await a.subscribe(stream.topic)
        refused(await post(a, stream, text), "blocked_term")
    assert not await Comment.objects.aexists()


async def test_blocked_terms_given_in_odd_forms_match_plain_text(stream, alice, settings):
    settings.REALTIME = realtime_settings(BLOCKED_TERMS=["Ｓｐａｍ", "e\u200bggs"])
    async with RealtimeClient(user=alice) as a:
        await a.subscribe(stream.topic)
        refused(await post(a, stream, "spam"), "blocked_term")
        refused(await post(a, stream, "EGGS"), "blocked_term")
        assert (await post(a, stream, "spammer eggshell"))["type"] == "ack"  # still whole words only


# -- moderator rights are read fresh --------------------------------------------------------------
@pytest.mark.parametrize("removed", ["permission", "is_active", "named moderator"])
async def test_a_moderator_whose_rights_are_removed_is_refused_on_the_same_socket(stream, make_user, removed):
    """Django caches permissions on the user object, which lives as long as the socket."""
    if removed == "named moderator":
        user = await database_sync_to_async(make_user)("mod")
        await add_moderator(stream, user)
    else:
        user = await staff_with_permission(make_user)
    async with RealtimeClient(user=user) as client:
        assert (await client.subscribe(stream.topic))["state"]["moderator"] is True
        assert (await moderate(client, stream, action="slow_mode", seconds=5))["type"] == "ack"

        @database_sync_to_async
        def take_away() -> None:
            if removed == "permission":
                user.user_permissions.clear()
            elif removed == "is_active":
                get_user_model().objects.filter(pk=user.pk).update(
                    is_active=False
                )  # no signal, no disconnect
            else:
                stream.moderators.remove(user)

        await take_away()
        refused(await moderate(client, stream, action="slow_mode", seconds=0), "forbidden")
        assert (await client.request({"type": "ping"}))["type"] == "pong"
    assert (await Stream.objects.aget(pk=stream.pk)).slow_mode_seconds == 5
