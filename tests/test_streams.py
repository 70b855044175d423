"""The stream topic over real consumer connections: posting and acks, fan-out, idempotent retries,
history and resume (also while comments arrive during the history read), viewer counts, reactions and
the plain-text / allow-list validation of comments."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from django.conf import settings as django_settings

from realtime.hub import get_hub
from realtime.models import Event
from realtime.streams import storage as comments_module
from realtime.streams.conf import DEFAULTS
from realtime.streams.models import Comment, ReactionTotal, Stream, StreamRestriction
from realtime.streams.presence import Presence
from realtime.streams.storage import post_comment
from realtime.testing import RealtimeClient, events
from realtime.topics import base as topics_base
from tests.streamkit import comment, comment_ids, post, post_direct, wait_viewers

pytestmark = pytest.mark.django_db(transaction=True)


# -- helpers --------------------------------------------------------------------------------------
async def reaction_totals(stream: Stream, expect: dict[str, int], within: float = 2.0) -> dict[str, int]:
    """The stored totals, once they equal `expect` or `within` seconds have passed (they are written
    just after the event goes out)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        totals = {t.kind: t.count async for t in ReactionTotal.objects.filter(stream=stream)}
        if totals == expect or asyncio.get_running_loop().time() > deadline:
            return totals
        await asyncio.sleep(0.02)


@pytest.fixture
def no_rate_limit(settings):
    settings.REALTIME = {**django_settings.REALTIME, "RATE_LIMIT_COUNT": None}


# -- posting --------------------------------------------------------------------------------------
async def test_ack_carries_the_stored_id_and_the_row_exists_when_it_arrives(stream, alice):
    async with RealtimeClient(user=alice) as client:
        assert (await client.subscribe(stream.topic))["type"] == "subscribed"
        ack = await post(client, stream, "first!", "c-1", color="#FF5555", mode="top", media_time=12.5)
        assert ack["type"] == "ack" and ack["topic"] == stream.topic
        stored = await Comment.objects.aget(stream=stream, seq=ack["id"])  # already committed
        assert (stored.text, stored.client_id, stored.author_id) == ("first!", "c-1", alice.pk)
        assert (stored.color, stored.mode, stored.media_time) == ("#ff5555", "top", 12.5)
        assert await Event.objects.filter(topic=stream.topic, seq=ack["id"], name="comment").aexists()
        assert ack["data"] == {
            "id": ack["id"],
            "text": "first!",
            "color": "#ff5555",
            "mode": "top",
            "media_time": 12.5,
            "client_id": "c-1",
            "author": {"id": alice.pk, "username": "alice"},
        }
        assert "duplicate" not in ack


async def test_subscribed_state_describes_the_stream_and_the_viewer(stream, owner):
    await Stream.objects.filter(pk=stream.pk).aupdate(slow_mode_seconds=5)
    async with RealtimeClient(user=owner) as mod, RealtimeClient() as anonymous:
        reply = await mod.subscribe(stream.topic)
        assert reply["state"] == {
            "viewers": 1,
            "comments_open": True,
            "slow_mode_seconds": 5,
            "live": True,
            "moderator": True,
            "standing": None,  # the subscriber's own restriction (tests/test_moderation_actions.py)
        }
        assert (reply["topic"], reply["last_id"], reply["history"], reply["truncated"]) == (
            stream.topic,
            0,
            0,
            False,
        )
        reply = await anonymous.subscribe(stream.topic)
        assert reply["state"] == {
            "viewers": 2,
            "comments_open": True,
            "slow_mode_seconds": 5,
            "live": True,
            "moderator": False,
            "standing": None,
        }


async def test_no_ack_and_nothing_sent_when_storing_fails(stream, alice, bob, monkeypatch):
    """The ack waits for the store: a failure while storing answers with an error, rolls the comment
    back, and no subscriber sees a comment that does not exist."""

    def broken_store(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(comments_module, "store_events", broken_store)
    async with RealtimeClient(user=alice) as poster, RealtimeClient(user=bob) as watcher:
        await poster.subscribe(stream.topic)
        await watcher.subscribe(stream.topic)
        reply = await post(poster, stream, "lost")
        assert reply["type"] == "error" and reply["code"] == "internal_error"
        assert not await Comment.objects.filter(stream=stream).aexists()
        for messages in await asyncio.gather(watcher.collect(), poster.collect()):
            assert comment_ids(messages) == []


async def test_comment_fans_out_to_every_subscriber_exactly_once(stream, alice, bob, make_user):
    carol = await database_sync_to_async(make_user)("carol")
    async with (
        RealtimeClient(user=alice) as a,
        RealtimeClient(user=bob) as b,
        RealtimeClient(user=carol) as c,
        RealtimeClient() as anonymous,
    ):
        for client in (a, b, c, anonymous):
            assert (await client.subscribe(stream.topic))["type"] == "subscribed"
        ack = await post(a, stream, "hello everyone")
        assert ack["type"] == "ack"
        for messages in await asyncio.gather(*(client.collect() for client in (a, b, c, anonymous))):
            received = events(messages, "comment")
            assert [m["id"] for m in received] == [ack["id"]]
            assert received[0]["data"] == ack["data"] and received[0]["topic"] == stream.topic
            assert received[0]["at"]


async def test_retry_with_same_client_id_is_acked_again_and_delivered_once(stream, alice, bob):
    async with RealtimeClient(user=alice) as poster, RealtimeClient(user=bob) as watcher:
        await poster.subscribe(stream.topic)
        await watcher.subscribe(stream.topic)
        first = await post(poster, stream, "only once", "retry-me")
        again = await post(poster, stream, "only once", "retry-me")
        assert again["type"] == "ack" and again["id"] == first["id"] and again["duplicate"] is True
        assert again["data"] == first["data"]
        assert await Comment.objects.filter(stream=stream).acount() == 1
        for messages in await asyncio.gather(watcher.collect(), poster.collect()):
            assert comment_ids(messages) == [first["id"]]
    # A client that lost the ack reconnects and resends: still one comment, same id.
    async with RealtimeClient(user=alice) as poster:
        await poster.subscribe(stream.topic, since=first["id"])
        third = await post(poster, stream, "only once", "retry-me")
        assert (third["id"], third["duplicate"]) == (first["id"], True)
        assert comment_ids(await poster.collect()) == []
    assert await Comment.objects.filter(stream=stream).acount() == 1


async def test_concurrent_posts_with_one_client_id_store_one_comment(stream, alice):
    """Two tabs racing the same retry: both get the same ack, one row."""
    async with RealtimeClient(user=alice) as tab1, RealtimeClient(user=alice) as tab2:
        await tab1.subscribe(stream.topic)
        await tab2.subscribe(stream.topic)
        one, two = await asyncio.gather(
            post(tab1, stream, "race", "same"), post(tab2, stream, "race", "same")
        )
        assert one["type"] == two["type"] == "ack" and one["id"] == two["id"]
        assert await Comment.objects.filter(stream=stream).acount() == 1
        assert comment_ids(await tab1.collect()) == [one["id"]]


async def test_same_client_id_from_another_user_is_a_different_comment(stream, alice, bob):
    async with RealtimeClient(user=alice) as a, RealtimeClient(user=bob) as b:
        await a.subscribe(stream.topic)
        await b.subscribe(stream.topic)
        first, second = await post(a, stream, "mine", "x"), await post(b, stream, "mine too", "x")
        assert second["id"] == first["id"] + 1 and "duplicate" not in second


async def test_anonymous_viewer_may_watch_but_not_post(stream, alice):
    async with RealtimeClient() as anonymous, RealtimeClient(user=alice) as a:
        assert (await anonymous.subscribe(stream.topic))["type"] == "subscribed"
        await a.subscribe(stream.topic)
        reply = await post(anonymous, stream, "hi")
        assert (reply["type"], reply["code"], reply["ref"]) == ("error", "auth_required", "2")
        reply = await anonymous.publish(stream.topic, "reaction", {"kind": "heart"})
        assert reply["code"] == "auth_required"
        assert not await Comment.objects.aexists()
        assert comment_ids(await a.collect()) == []
        # The refusal left the connection usable.
        ack = await post(a, stream, "hello")
        assert comment_ids(await anonymous.collect()) == [ack["id"]]


async def test_stream_without_anonymous_viewers_refuses_anonymous_subscribe(stream, alice):
    await Stream.objects.filter(pk=stream.pk).aupdate(allow_anonymous=False)
    async with RealtimeClient() as anonymous, RealtimeClient(user=alice) as a:
        reply = await anonymous.subscribe(stream.topic)
        assert (reply["type"], reply["code"]) == ("error", "auth_required")
        assert (await a.subscribe(stream.topic))["type"] == "subscribed"
        await post(a, stream, "members only")
        assert comment_ids(await anonymous.collect()) == []


async def test_publishing_needs_a_subscription_and_a_known_event(stream, alice):
    async with RealtimeClient(user=alice) as client:
        assert (await post(client, stream, "hi"))["code"] == "not_subscribed"
        await client.subscribe(stream.topic)
        assert (await client.publish(stream.topic, "shout", {}))["code"] == "publish_not_allowed"
        assert not await Comment.objects.aexists()


@pytest.mark.parametrize("topic", ["stream.999", "stream.abc", "stream.0"])
async def test_unknown_stream_is_not_found(stream, alice, topic):
    async with RealtimeClient(user=alice) as client:
        reply = await client.subscribe(topic)
        assert (reply["type"], reply["code"]) == ("error", "not_found")
        assert (await client.request({"type": "ping"}))["type"] == "pong"


async def test_posting_on_a_deleted_stream_is_not_found(stream, alice):
    async with RealtimeClient(user=alice) as client:
        topic = stream.topic
        await client.subscribe(topic)
        await Stream.objects.filter(pk=stream.pk).adelete()
        reply = await client.publish(topic, "comment", comment("anyone?"))
        assert (reply["type"], reply["code"]) == ("error", "not_found")


async def test_a_muted_user_pressing_send_again_and_again_is_not_disconnected(stream, alice):
    """Only malformed requests count toward the abuse limit (ABUSE_LIMIT, 20): a muted user's refused
    but well-formed posts are not abuse, however many."""
    await StreamRestriction.objects.acreate(stream=stream, user=alice, kind=StreamRestriction.Kind.MUTE)
    async with RealtimeClient(user=alice) as a:
        await a.subscribe(stream.topic)
        replies = [await post(a, stream, f"let me speak {n}") for n in range(25)]
        assert [(r["type"], r.get("code")) for r in replies] == [("error", "muted")] * 25
        assert (await a.request({"type": "ping"}))["type"] == "pong"
        assert a.close_code is None
    assert not await Comment.objects.aexists()


# -- history and resume ---------------------------------------------------------------------------
async def test_resume_with_since_replays_exactly_the_missed_comments_then_live(
    stream, alice, bob, no_rate_limit
):
    async with RealtimeClient(user=bob) as poster:
        await poster.subscribe(stream.topic)
        acks = [await post(poster, stream, f"#{n}") for n in range(1, 3)]
        async with RealtimeClient(user=alice) as viewer:
            await viewer.subscribe(stream.topic)
            seen = comment_ids(await viewer.collect())
        assert seen == [acks[0]["id"], acks[1]["id"]]
        acks += [await post(poster, stream, f"#{n}") for n in range(3, 6)]  # alice is away
        async with RealtimeClient(user=alice) as viewer:
            reply = await viewer.subscribe(stream.topic, since=seen[-1])
            assert (reply["history"], reply["last_id"], reply["truncated"]) == (3, acks[-1]["id"], False)
            live = await post(poster, stream, "#6")
            received = await viewer.collect()
        assert comment_ids(received) == [ack["id"] for ack in acks[2:]] + [live["id"]]
        assert [m["data"]["text"] for m in events(received, "comment")] == ["#3", "#4", "#5", "#6"]


async def test_resume_when_nothing_was_missed_replays_nothing(stream, alice):
    async with RealtimeClient(user=alice) as client:
        await client.subscribe(stream.topic)
        ack = await post(client, stream, "seen")
        await client.collect()
        reply = await client.subscribe(stream.topic, since=ack["id"])  # resubscribe on the same socket
        assert (reply["history"], reply["last_id"], reply["truncated"]) == (0, ack["id"], False)
        assert comment_ids(await client.collect()) == []


async def test_fresh_subscriber_gets_the_most_recent_comments_up_to_the_limit(stream, alice, settings):
    settings.REALTIME = {**django_settings.REALTIME, "HISTORY_LIMIT": 3, "RATE_LIMIT_COUNT": None}
    for n in range(1, 6):
        await post_direct(stream, alice, f"#{n}")
    async with RealtimeClient() as fresh:
        reply = await fresh.subscribe(stream.topic)
        assert (reply["history"], reply["last_id"], reply["truncated"]) == (3, 5, False)
        assert comment_ids(await fresh.collect()) == [3, 4, 5]
    async with RealtimeClient() as resuming:
        reply = await resuming.subscribe(stream.topic, since=1)  # missed 4, is told only 3 follow
        assert (reply["history"], reply["truncated"]) == (3, True)
        assert comment_ids(await resuming.collect()) == [3, 4, 5]
    async with RealtimeClient() as resuming:
        reply = await resuming.subscribe(stream.topic, since=2)  # missed exactly the limit
        assert (reply["history"], reply["truncated"]) == (3, False)
        assert comment_ids(await resuming.collect()) == [3, 4, 5]


async def test_since_beyond_the_newest_id_is_flagged_truncated(stream, alice):
    """A client remembering ids the server no longer has (e.g. a reset database) is told so."""
    await post_direct(stream, alice, "one")
    async with RealtimeClient() as client:
        reply = await client.subscribe(stream.topic, since=40)
        assert (reply["history"], reply["last_id"], reply["truncated"]) == (0, 1, True)


@pytest.mark.parametrize("room_already_live", [False, True], ids=["first-subscriber", "room-live"])
async def test_comments_committed_during_the_history_read_arrive_once_and_in_order(
    stream, alice, bob, monkeypatch, no_rate_limit, room_already_live
):
    """Comments committed just before and just after the history query (while the subscription is
    loading) reach the resuming client exactly once, in id order, with no gap."""
    for n in range(1, 4):
        await post_direct(stream, bob, f"old {n}")
    real_read = topics_base.read_history
    calls = []

    def read_while_posting(topic, since, limit):
        calls.append(since)
        if since != 1:  # only the subscription under test is raced
            return real_read(topic, since, limit)
        for n in range(2):
            post_comment(stream.pk, bob, comment(f"before read {n}"))
        history = real_read(topic, since, limit)
        for n in range(3):
            post_comment(stream.pk, bob, comment(f"after read {n}"))
        return history

    monkeypatch.setattr(topics_base, "read_history", read_while_posting)
    async with RealtimeClient(user=bob) as other, RealtimeClient(user=alice) as viewer:
        if room_already_live:
            await other.subscribe(stream.topic)
            # The live room could answer from its cache of recent events; the race under test is the
            # database read, so make the room forget them.
            (await get_hub()).rooms[stream.topic].sequencer.recent.clear()
        reply = await viewer.subscribe(stream.topic, since=1)
        assert reply["type"] == "subscribed" and reply["last_id"] == 5
        await asyncio.sleep(0.05)
        live = await post_direct(stream, bob, "live")
        received = await viewer.collect()
    assert 1 in calls
    assert comment_ids(received) == list(range(2, live["id"] + 1)) == list(range(2, 10))


async def test_resume_while_comments_keep_arriving_has_no_gap_and_no_duplicate(
    stream, alice, bob, make_user, no_rate_limit
):
    """A poster posts back to back while viewers (re)subscribe at different moments, some with
    `since`, one fresh; each viewer's ids are strictly increasing and contiguous up to the last post."""
    total = 40
    acked: list[int] = []
    done = asyncio.Event()
    posted = asyncio.Condition()

    async def keep_posting(poster: RealtimeClient) -> None:
        for n in range(total):
            ack = await post(poster, stream, f"burst {n}")
            assert ack["type"] == "ack", ack
            acked.append(ack["id"])
            async with posted:
                posted.notify_all()
        done.set()

    async def viewer(user, after: int, since_back: int | None) -> tuple[int | None, list[int]]:
        async with posted:
            await posted.wait_for(lambda: len(acked) >= after)
        since = max(acked[-1] - since_back, 0) if since_back is not None else None
        async with RealtimeClient(user=user) as client:
            reply = await client.subscribe(stream.topic, since=since)
            assert reply["type"] == "subscribed", reply
            await done.wait()
            return since, comment_ids(await client.collect())

    users = [await database_sync_to_async(make_user)(f"viewer{n}") for n in range(5)]
    async with RealtimeClient(user=bob) as poster:
        await poster.subscribe(stream.topic)
        results = await asyncio.gather(
            keep_posting(poster),
            viewer(users[0], 3, 2),
            viewer(users[1], 8, 0),
            viewer(users[2], 15, 5),
            viewer(users[3], 22, 1),
            viewer(alice, 30, None),
        )
    last = acked[-1]
    assert acked == list(range(1, total + 1))
    for since, ids in results[1:]:
        assert ids, "viewer received nothing"
        start = since + 1 if since is not None else ids[0]
        assert ids == list(range(start, last + 1)), (since, ids)


# -- viewer counts --------------------------------------------------------------------------------
async def test_viewer_count_follows_join_leave_and_disconnect(stream, alice, bob):
    async with RealtimeClient(user=alice) as a:
        reply = await a.subscribe(stream.topic)
        assert reply["state"]["viewers"] == 1
        await wait_viewers(a, 1)
        async with RealtimeClient(user=bob) as b:
            reply = await b.subscribe(stream.topic)
            assert reply["state"]["viewers"] == 2
            await wait_viewers(a, 2)
            async with RealtimeClient() as anonymous:  # anonymous viewers count too
                assert (await anonymous.subscribe(stream.topic))["state"]["viewers"] == 3
                await wait_viewers(a, 3)
                await wait_viewers(b, 3)
            await wait_viewers(a, 2)  # disconnected
            await wait_viewers(b, 2)
            reply = await b.request({"type": "unsubscribe", "topic": stream.topic})
            assert reply["type"] == "unsubscribed"
            await wait_viewers(a, 1)  # left
            assert events(await b.collect(), "viewers") == []  # no longer subscribed: no counts
        assert events(await a.collect(), "viewers") == []  # bob was not subscribed: no change


async def test_viewer_count_settles_on_the_truth_after_a_burst_of_joins_and_leaves(stream, alice):
    """Counts are sent at most once per interval; the last one after a burst must still be exact."""
    async with RealtimeClient(user=alice) as watcher:
        await watcher.subscribe(stream.topic)
        crowd = [RealtimeClient() for _ in range(12)]
        await asyncio.gather(*(client.__aenter__() for client in crowd))
        try:
            await asyncio.gather(*(client.subscribe(stream.topic) for client in crowd))
            await wait_viewers(watcher, 13)
        finally:
            await asyncio.gather(*(client.__aexit__(None, None, None) for client in crowd[4:]))
        try:
            await wait_viewers(watcher, 5)
            await asyncio.sleep(0.15)
            assert [m["data"]["count"] for m in events(await watcher.collect(), "viewers")] in ([], [5])
        finally:
            await asyncio.gather(*(client.__aexit__(None, None, None) for client in crowd[:4]))
        await wait_viewers(watcher, 1)


async def test_viewer_count_is_per_connection_and_not_inflated_by_resubscribing(stream, alice):
    async with RealtimeClient(user=alice) as tab1, RealtimeClient(user=alice) as tab2:
        await tab1.subscribe(stream.topic)
        assert (await tab2.subscribe(stream.topic))["state"]["viewers"] == 2
        assert (await tab2.subscribe(stream.topic, since=0))["state"]["viewers"] == 2
        await asyncio.sleep(0.15)
        counts = [m["data"]["count"] for m in events(await tab1.collect(), "viewers")]
        assert counts and counts[-1] == 2 and max(counts) == 2


async def test_viewer_counts_are_per_stream(stream, owner, alice, bob):
    other = await Stream.objects.acreate(title="Other", slug="other", owner=owner)
    async with RealtimeClient(user=alice) as a, RealtimeClient(user=bob) as b:
        await a.subscribe(stream.topic)
        await wait_viewers(a, 1)
        assert (await b.subscribe(other.topic))["state"]["viewers"] == 1
        await asyncio.sleep(0.15)
        assert events(await a.collect(), "viewers") == []


async def test_presence_keeps_nothing_about_streams_no_longer_watched_here(owner, alice, monkeypatch):
    """Per-topic counters are dropped when the hub closes a topic's room: a process serving many
    streams over a day must not grow with every stream ever viewed."""
    from realtime.hub import hub as hub_module

    monkeypatch.setattr(hub_module, "ROOM_LINGER", 0.01)
    streams = await database_sync_to_async(Stream.objects.bulk_create)(
        [Stream(title=f"S{n}", slug=f"s{n}", owner=owner) for n in range(50)]
    )
    hub = await get_hub()
    emitted = 0
    async with RealtimeClient(user=alice) as viewer:
        for stream in streams:
            assert (await viewer.subscribe(stream.topic))["type"] == "subscribed"
            emitted += stream.topic in hub.service(Presence).last_emit  # a count went out
            assert (await viewer.request({"type": "unsubscribe", "topic": stream.topic}))[
                "type"
            ] == "unsubscribed"
        presence = hub.service(Presence)
        assert emitted > 40
        for _ in range(150):  # the rooms close ROOM_LINGER after their last viewer left
            if not hub.rooms:
                break
            await asyncio.sleep(0.02)
        assert hub.rooms == {}
        await asyncio.sleep(3 * presence.interval)  # pending emits and one more report have run
        assert (presence.tracked, presence.sent, presence.last_emit, presence.scheduled) == (
            set(),
            {},
            {},
            set(),
        )
        assert (presence.remote, presence.reported) == ({}, set())


# -- reactions ------------------------------------------------------------------------------------
async def test_reactions_fan_out_as_aggregated_counts_and_update_totals(stream, alice, bob):
    async with RealtimeClient(user=alice) as a, RealtimeClient(user=bob) as b:
        await a.subscribe(stream.topic)
        await b.subscribe(stream.topic)
        kinds = ["heart", "heart", "fire", "heart"]
        for n, kind in enumerate(kinds):  # a burst, as a tapping thumb sends them
            await a.send(
                {
                    "type": "publish",
                    "topic": stream.topic,
                    "event": "reaction",
                    "data": {"kind": kind},
                    "ref": f"r{n}",
                }
            )
        await asyncio.sleep(0.1)  # one REACTION_INTERVAL and a bit
        by_a, by_b = await asyncio.gather(a.collect(), b.collect())
        acks = [m for m in by_a if m["type"] == "ack"]
        assert [m["ref"] for m in acks] == ["r0", "r1", "r2", "r3"] and all("id" not in m for m in acks)
        for messages in (by_a, by_b):
            received = events(messages, "reactions")
            assert len(received) == 1  # summed into one event, not one per reaction
            assert "id" not in received[0]  # ephemeral: not stored, not replayed
            assert received[0]["data"] == {"counts": {"heart": 3, "fire": 1}}
    assert await reaction_totals(stream, expect={"heart": 3, "fire": 1}) == {"heart": 3, "fire": 1}


async def test_reaction_totals_accumulate_across_flushes(stream, alice):
    await ReactionTotal.objects.acreate(stream=stream, kind="clap", count=10)
    async with RealtimeClient(user=alice) as a:
        await a.subscribe(stream.topic)
        await a.publish(stream.topic, "reaction", {"kind": "clap"})
        await asyncio.sleep(0.1)
        await a.publish(stream.topic, "reaction", {"kind": "clap"})
        await asyncio.sleep(0.1)
        await a.collect()
    assert await reaction_totals(stream, expect={"clap": 12}) == {"clap": 12}


@pytest.mark.parametrize("kind", ["poop", "", None, 1, ["heart"]])
async def test_unknown_reaction_is_refused_bad_reaction(stream, alice, kind):
    async with RealtimeClient(user=alice) as a:
        await a.subscribe(stream.topic)
        reply = await a.publish(stream.topic, "reaction", {"kind": kind})
        assert (reply["type"], reply["code"]) == ("error", "bad_reaction")
        await asyncio.sleep(0.1)
        assert events(await a.collect(), "reactions") == []
    assert not await ReactionTotal.objects.aexists()


async def test_reaction_flood_from_one_connection_is_rate_limited(stream, alice):
    async with RealtimeClient(user=alice) as a:
        await a.subscribe(stream.topic)
        replies = [await a.publish(stream.topic, "reaction", {"kind": "heart"}) for _ in range(12)]
        assert [r["type"] for r in replies[:10]] == ["ack"] * 10
        assert [r.get("code") for r in replies[10:]] == ["rate_limited"] * 2
        assert replies[10]["retry_after"] > 0


# -- validation -----------------------------------------------------------------------------------
async def test_html_is_stored_and_sent_verbatim_never_interpreted(stream, alice, bob):
    text = '<b>x</b> <script>alert("1")</script> &amp; <img src=x onerror=alert(1)>'
    async with RealtimeClient(user=alice) as a, RealtimeClient(user=bob) as b:
        await a.subscribe(stream.topic)
        await b.subscribe(stream.topic)
        ack = await post(a, stream, text)
        assert ack["data"]["text"] == text
        assert [m["data"]["text"] for m in events(await b.collect(), "comment")] == [text]
    assert (await Comment.objects.aget(seq=ack["id"])).text == text
    async with RealtimeClient() as fresh:
        await fresh.subscribe(stream.topic)
        assert [m["data"]["text"] for m in events(await fresh.collect(), "comment")] == [text]


async def test_whitespace_is_collapsed_to_one_line(stream, alice):
    async with RealtimeClient(user=alice) as a:
        await a.subscribe(stream.topic)
        ack = await post(a, stream, "  two\nlines\t and   spaces ")
        assert ack["data"]["text"] == "two lines and spaces"


async def test_control_characters_are_removed(stream, alice):
    """NUL and other C0/C1 controls have no place in one line of overlay text (and PostgreSQL refuses
    NUL in text columns, which would turn a comment into an internal error)."""
    async with RealtimeClient(user=alice) as a:
        await a.subscribe(stream.topic)
        ack = await post(a, stream, "a\x00b\x07c\x1b[31m\x9b \x00 d\u200d\U0001f44d")
        assert ack["data"]["text"] == "abc[31m d\u200d\U0001f44d"  # joiners (emoji sequences) stay
        reply = await post(a, stream, "\x00\x01 \x7f")
        assert (reply["type"], reply["code"]) == ("error", "text_empty")


@pytest.mark.parametrize(
    "extra, code",
    [
        ({"color": "#123456"}, "bad_color"),
        ({"color": "red"}, "bad_color"),
        ({"color": "#ff5555; background:url(x)"}, "bad_color"),
        ({"color": 16777215}, "bad_color"),
        ({"mode": "sideways"}, "bad_mode"),
        ({"mode": 1}, "bad_mode"),
        ({"media_time": -1}, "bad_message"),
        ({"media_time": "12"}, "bad_message"),
        ({"media_time": True}, "bad_message"),
        ({"media_time": 10**400}, "bad_message"),  # too large for a float: math.isfinite() would raise
        ({"media_time": 1e300}, "bad_message"),
        ({"media_time": 1e7}, "bad_message"),
        ({"text": 5}, "bad_message"),
        ({"text": "   \n\t "}, "text_empty"),
        ({"client_id": ""}, "bad_message"),
        ({"client_id": "x" * 65}, "bad_message"),
        ({"client_id": 7}, "bad_message"),
        ({"client_id": "a\x00"}, "bad_message"),
    ],
)
async def test_invalid_comment_fields_are_refused_with_a_stable_code(stream, alice, bob, extra, code):
    async with RealtimeClient(user=alice) as a, RealtimeClient(user=bob) as b:
        await a.subscribe(stream.topic)
        await b.subscribe(stream.topic)
        reply = await a.publish(stream.topic, "comment", {**comment("styled"), **extra})
        assert (reply["type"], reply["code"], reply["topic"]) == ("error", code, stream.topic)
        assert reply["message"]
        assert comment_ids(await b.collect()) == []
    assert not await Comment.objects.aexists()


@pytest.mark.parametrize("color", DEFAULTS["COMMENT_COLORS"])
async def test_every_allowed_colour_is_accepted(stream, alice, color):
    async with RealtimeClient(user=alice) as a:
        await a.subscribe(stream.topic)
        ack = await post(a, stream, "colourful", color=color.upper(), mode="bottom")
        assert (ack["data"]["color"], ack["data"]["mode"]) == (color, "bottom")
