"""One participation policy for every publish on a stream, judged as things are now rather than when
the viewer subscribed: a stream made members-only sheds its anonymous viewers, and reactions obey
bans, mutes, closed comments and ended streams, at a per-user rate that resubscribing does not reset."""

from __future__ import annotations

import asyncio
import time

import pytest
from channels.db import database_sync_to_async
from django.conf import settings as django_settings

from realtime.streams import moderation, policy
from realtime.streams import signals as stream_signals
from realtime.streams.models import ReactionTotal, Stream, StreamRestriction
from realtime.testing import RealtimeClient, events
from tests.streamkit import comment_ids, of_type, post, refused

pytestmark = pytest.mark.django_db(transaction=True)


async def react(client: RealtimeClient, stream: Stream, kind: str = "heart") -> dict:
    return await client.publish(stream.topic, "reaction", {"kind": kind})


# -- members-only streams -------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["save", "update_stream"])
async def test_making_a_stream_members_only_kicks_its_anonymous_viewers(stream, owner, alice, how):
    other = await Stream.objects.acreate(title="Other", slug="other", owner=owner)
    async with (
        RealtimeClient() as anonymous,
        RealtimeClient(user=alice) as member,
        RealtimeClient() as elsewhere,
    ):
        for client in (anonymous, member):
            assert (await client.subscribe(stream.topic))["type"] == "subscribed"
        await anonymous.subscribe(other.topic)
        await elsewhere.subscribe(other.topic)
        if how == "save":
            stream.allow_anonymous = False
            await database_sync_to_async(stream.save)()
        else:
            await database_sync_to_async(moderation.update_stream)(stream, allow_anonymous=False)
        kicked = await anonymous.receive_type("kicked")
        assert (kicked["topic"], kicked["code"]) == (stream.topic, "auth_required") and kicked["message"]
        ack = await post(member, stream, "members only now")
        assert ack["type"] == "ack"
        assert comment_ids(await anonymous.collect()) == []
        received = await member.collect()
        assert comment_ids(received) == [ack["id"]] and of_type(received, "kicked") == []
        assert of_type(await elsewhere.collect(), "kicked") == []  # other streams are not re-checked
        # The socket stays open, its other subscription too; this stream now refuses it.
        refused(await anonymous.subscribe(stream.topic), "auth_required")
        assert (await anonymous.request({"type": "unsubscribe", "topic": other.topic}))[
            "type"
        ] == "unsubscribed"


def test_only_turning_anonymous_viewing_off_re_checks_subscribers(stream, monkeypatch):
    rechecked: list[str] = []
    monkeypatch.setattr(stream_signals, "reauthorize", rechecked.append)
    monkeypatch.setattr(moderation, "reauthorize", rechecked.append)
    stream.title = "Renamed"
    stream.save()
    stream.allow_anonymous = False
    stream.save(update_fields=["title"])  # allow_anonymous not written: nothing changed
    assert rechecked == []
    stream.save()
    assert rechecked == [stream.topic]
    stream.save()  # already members-only
    moderation.update_stream(stream, allow_anonymous=False)
    assert rechecked == [stream.topic]
    moderation.update_stream(stream, allow_anonymous=True)
    stream.refresh_from_db()
    stream.allow_anonymous = True
    stream.save()
    assert rechecked == [stream.topic]
    moderation.update_stream(stream, allow_anonymous=False)
    assert rechecked == [stream.topic, stream.topic]


# -- reactions obey the policy --------------------------------------------------------------------
@pytest.mark.parametrize(
    "case, code",
    [
        ("mute", "muted"),
        ("ban", "banned"),
        ("closed", "comments_closed"),
        ("ended", "stream_ended"),
    ],
)
async def test_reactions_obey_mutes_bans_closed_comments_and_ended_streams(stream, alice, bob, case, code):
    async with RealtimeClient(user=alice) as a, RealtimeClient(user=bob) as watcher:
        await a.subscribe(stream.topic)
        await watcher.subscribe(stream.topic)
        # Changed after subscribing, and without any kick: the reaction itself must be judged.
        if case in ("mute", "ban"):
            await StreamRestriction.objects.acreate(stream=stream, user=alice, kind=case)
        else:
            changes = {"comments_open": False} if case == "closed" else {"status": Stream.Status.ENDED}
            await database_sync_to_async(moderation.update_stream)(stream, **changes)
        refused(await react(a, stream), code)
        await asyncio.sleep(0.1)  # a REACTION_INTERVAL and a bit
        assert events(await watcher.collect(), "reactions") == []
    assert not await ReactionTotal.objects.aexists()


async def test_moderators_are_never_muted_or_banned_on_their_stream(stream, owner, make_user):
    mod = await database_sync_to_async(make_user)("mod")
    await database_sync_to_async(stream.moderators.add)(mod)
    await StreamRestriction.objects.acreate(stream=stream, user=owner, kind="mute")
    await StreamRestriction.objects.acreate(stream=stream, user=mod, kind="ban")
    async with RealtimeClient(user=owner) as o, RealtimeClient(user=mod) as m:
        for client in (o, m):
            assert (await client.subscribe(stream.topic))["type"] == "subscribed"
            assert (await react(client, stream))["type"] == "ack"
            assert (await post(client, stream, "still here"))["type"] == "ack"
        # A ban made in the admin does not kick a moderator either.
        await database_sync_to_async(moderation.restrict)(stream, owner, StreamRestriction.Kind.BAN)
        assert of_type(await o.collect(), "kicked") == []


async def test_a_ban_reaches_reactions_within_the_cache_bound(stream, alice):
    """The restriction lookup is cached (reactions can be hundreds a second) but for a second at most."""
    async with RealtimeClient(user=alice) as a:
        await a.subscribe(stream.topic)
        assert (await react(a, stream))["type"] == "ack"  # the standing is cached now
        await StreamRestriction.objects.acreate(stream=stream, user=alice, kind="ban")  # no kick sent
        banned_at = time.monotonic()
        while (reply := await react(a, stream))["type"] == "ack":
            assert time.monotonic() - banned_at < policy.STANDING_CACHE_SECONDS + 0.5, "ban never applied"
            await asyncio.sleep(0.15)
        refused(reply, "banned")


async def test_the_restriction_lookup_is_cached_per_user_and_stream(stream, alice, monkeypatch):
    lookups: list[int] = []
    real = policy.load_standing

    def counting(stream_, user):
        lookups.append(user.pk)
        return real(stream_, user)

    monkeypatch.setattr(policy, "load_standing", counting)
    async with RealtimeClient(user=alice) as a:
        await a.subscribe(stream.topic)
        for _ in range(8):
            assert (await react(a, stream))["type"] == "ack"
    assert lookups == [alice.pk]


# -- the reaction rate ----------------------------------------------------------------------------
async def test_resubscribing_does_not_reset_the_reaction_rate(stream, alice, bob, settings):
    settings.REALTIME = {**django_settings.REALTIME, "REACTION_RATE": 3}
    async with (
        RealtimeClient(user=alice) as a,
        RealtimeClient(user=alice) as tab2,
        RealtimeClient(user=bob) as b,
    ):
        for client in (a, tab2, b):
            await client.subscribe(stream.topic)
        assert [(await react(a, stream))["type"] for _ in range(3)] == ["ack"] * 3
        reply = await react(a, stream)
        refused(reply, "rate_limited")
        assert 0 < reply["retry_after"] <= 1
        assert (await a.subscribe(stream.topic, since=0))["type"] == "subscribed"
        refused(await react(a, stream), "rate_limited")
        refused(await react(tab2, stream), "rate_limited")  # per user, not per socket
        assert (await react(b, stream))["type"] == "ack"
        await asyncio.sleep(1.05)
        assert (await react(a, stream))["type"] == "ack"


def test_idle_reaction_counters_and_standings_are_dropped():
    participation = policy.Participation()
    participation.standings[(1, 1)] = (100.5, policy.Standing())
    participation.throttle((1, 1), 100.0)
    participation.throttle((2, 1), 100.4)
    assert set(participation.reactions) == {(1, 1), (2, 1)}
    participation.throttle((3, 1), 101.2)  # (1, 1) idle for a whole window now
    assert set(participation.reactions) == {(2, 1), (3, 1)} and participation.standings == {}
    participation.throttle((3, 1), 102.5)
    assert set(participation.reactions) == {(3, 1)}


# -- the viewer's standing (issue 19) -------------------------------------------------------------
def test_a_viewers_standing_is_their_worst_active_restriction_and_never_a_moderators(stream, owner, alice):
    from datetime import timedelta

    from django.contrib.auth.models import AnonymousUser
    from django.utils import timezone

    assert policy.viewer_standing(stream, alice) is None
    assert policy.viewer_standing(stream, AnonymousUser()) is None
    moderation.restrict(stream, alice, StreamRestriction.Kind.MUTE, reason="noise")
    assert policy.viewer_standing(stream, alice) == {"kind": "mute", "until": None, "reason": "noise"}
    timeout = moderation.restrict(stream, alice, StreamRestriction.Kind.TIMEOUT, seconds=30)
    assert policy.viewer_standing(stream, alice)["kind"] == "timeout"
    # An expired timeout no longer counts: the mute shows again, without anyone lifting anything.
    StreamRestriction.objects.filter(pk=timeout.pk).update(until=timezone.now() - timedelta(seconds=1))
    assert policy.viewer_standing(stream, alice)["kind"] == "mute"
    # A restriction on a moderator is ignored (take away their rights instead).
    StreamRestriction.objects.create(stream=stream, user=owner, kind=StreamRestriction.Kind.BAN)
    assert policy.viewer_standing(stream, owner) is None


def test_check_refuses_a_timed_out_viewer_with_timed_out_until_it_ends(stream, alice):
    from datetime import timedelta

    from django.utils import timezone

    from realtime.exceptions import Denied

    timeout = moderation.restrict(stream, alice, StreamRestriction.Kind.TIMEOUT, seconds=30)
    with pytest.raises(Denied) as refusal:
        policy.check(stream, policy.Standing(timeout=timeout), "reaction")
    assert refusal.value.code == "timed_out" and "until" in refusal.value.message
    timeout.until = timezone.now() - timedelta(seconds=1)
    policy.check(stream, policy.Standing(timeout=timeout), "reaction")  # ended: nothing raised
    policy.check(stream, policy.Standing(timeout=timeout, moderator=True), "comment")
