"""Presence in one process, over the real consumer: state then diffs, who sees what, statuses, leaving."""

import asyncio

import pytest

from realtime import akick, presence, signals
from realtime.presence.roster import apply
from realtime.testing import RealtimeClient, override_realtime

pytestmark = pytest.mark.django_db(transaction=True)

WINDOW = 0.05


def roster_seen(messages, topic, start=None):
    """What a client that applies presence_state then every presence_diff holds, and the last counts."""
    entries, counts = dict(start or {}), None
    for message in messages:
        if message.get("topic") != topic:
            continue
        if message["type"] == "presence_state":
            entries, counts = message["entries"], (message.get("count"), message.get("anonymous"))
        elif message["type"] == "presence_diff":
            entries = apply(entries, message["joins"], message["leaves"])
            counts = (message.get("count"), message.get("anonymous"))
    return entries, counts


async def test_state_then_diffs_add_up_to_who_is_here(alice, bob):
    with override_realtime(PRESENCE_WINDOW=WINDOW):
        async with RealtimeClient(user=alice) as a, RealtimeClient(user=bob) as b, RealtimeClient() as anon:
            assert (await a.subscribe("page.home"))["type"] == "subscribed"
            state = await a.receive_type("presence_state")
            assert state == {
                "type": "presence_state",
                "topic": "page.home",
                "entries": {},
                "anonymous": 0,
                "count": 0,
            }
            await b.subscribe("page.home")
            await anon.subscribe("page.home")
            await asyncio.sleep(WINDOW * 4)
            seen, counts = roster_seen([state, *await a.collect()], "page.home")
            assert sorted(seen) == [str(alice.pk), str(bob.pk)]
            assert seen[str(bob.pk)]["name"] == "bob" and set(seen[str(bob.pk)]) == {
                "name",
                "avatar",
                "metas",
            }
            assert counts == (2, 1)  # the anonymous viewer is counted, never listed
            # The anonymous viewer may not see the roster on a page: not even a count.
            assert [m for m in await anon.collect() if m["type"].startswith("presence")] == []
            assert await presence.acount("page.home") == {"count": 2, "anonymous": 1}
            assert sorted(await presence.alist("page.home")) == [str(alice.pk), str(bob.pk)]
        # bob's socket closes: he leaves the others' rosters (checked on the Python side here).
        await asyncio.sleep(WINDOW * 2)
        assert await presence.acount("page.home") == {"count": 0, "anonymous": 0}


async def test_a_second_tab_is_a_second_meta_and_the_user_leaves_with_the_last(alice, bob):
    with override_realtime(PRESENCE_WINDOW=WINDOW):
        async with RealtimeClient(user=alice) as a:
            await a.subscribe("page.doc")
            async with RealtimeClient(user=bob) as b1, RealtimeClient(user=bob) as b2:
                await b1.subscribe("page.doc")
                await b2.subscribe("page.doc")
                await asyncio.sleep(WINDOW * 4)
                seen, _ = roster_seen(await a.collect(), "page.doc")
                assert len(seen[str(bob.pk)]["metas"]) == 2
                await b1.request({"type": "unsubscribe", "topic": "page.doc"})
                await asyncio.sleep(WINDOW * 4)
                diffs = [m for m in await a.collect() if m["type"] == "presence_diff"]
                assert [len(d["leaves"][str(bob.pk)]["metas"]) for d in diffs] == [1] and diffs[-1][
                    "count"
                ] == 2
            await asyncio.sleep(WINDOW * 4)
            diffs = [m for m in await a.collect() if m["type"] == "presence_diff"]
            assert str(bob.pk) in diffs[-1]["leaves"] and diffs[-1]["count"] == 1


async def test_a_join_storm_costs_each_viewer_a_bounded_number_of_frames(alice, make_user):
    window = 0.2
    with override_realtime(PRESENCE_WINDOW=window):
        async with RealtimeClient(user=alice) as a:
            await a.subscribe("page.big")
            await a.receive_type("presence_state")
            users = [await asyncio.to_thread(make_user, f"user{n}") for n in range(25)]
            clients = [RealtimeClient(user=u) for u in users] + [RealtimeClient() for _ in range(10)]
            start = asyncio.get_running_loop().time()
            for client in clients:
                await client.__aenter__()
                await client.subscribe("page.big")
            elapsed = asyncio.get_running_loop().time() - start
            await asyncio.sleep(window * 3)
            messages = await a.collect()
            diffs = [m for m in messages if m["type"] == "presence_diff"]
            # At most one diff per window (plus the first, sent at once), whatever the number of joins.
            assert 1 <= len(diffs) <= elapsed / window + 3, (len(diffs), elapsed)
            seen, counts = roster_seen(messages, "page.big")
            assert len(seen) == 26 and counts == (26, 10)  # exact
            for client in clients:
                await client.__aexit__(None, None, None)


async def test_status_is_allow_listed_rate_limited_and_seen_as_leave_then_join(alice, bob):
    with override_realtime(PRESENCE_WINDOW=WINDOW):
        async with RealtimeClient(user=alice) as a, RealtimeClient(user=bob) as b:
            assert (await b.request({"type": "presence", "topic": "page.x", "status": "typing"}))["code"] == (
                "not_subscribed"
            )
            await a.subscribe("page.x")
            await b.subscribe("page.x")
            await asyncio.sleep(WINDOW * 3)
            await a.collect()
            for bad in ("<b>x</b>", "dancing"):
                reply = await b.request({"type": "presence", "topic": "page.x", "status": bad})
                assert reply["code"] == "bad_status"
            reply = await b.request({"type": "presence", "topic": "page.x", "status": 5})
            assert reply["code"] == "bad_message"
            assert (await b.request({"type": "presence", "topic": "page.x", "status": "typing"}))[
                "type"
            ] == "ack"
            await asyncio.sleep(WINDOW * 3)
            (diff,) = [m for m in await a.collect() if m["type"] == "presence_diff"]
            key = str(bob.pk)
            assert diff["leaves"][key]["metas"][0]["status"] is None
            assert diff["joins"][key]["metas"][0]["status"] == "typing" and diff["count"] == 2
            replies = [
                await b.request({"type": "presence", "topic": "page.x", "status": None}) for _ in range(6)
            ]
            limited = [r for r in replies if r["type"] == "error"]
            assert limited and all(r["code"] == "rate_limited" and r["retry_after"] > 0 for r in limited)
            await asyncio.sleep(limited[-1]["retry_after"] + 0.05)
            reply = await b.request({"type": "presence", "topic": "page.x", "status": "away"})
            assert reply["type"] == "ack", reply


async def test_topics_without_presence_refuse_a_status(alice):
    async with RealtimeClient(user=alice) as a:
        await a.subscribe("broadcast.all")
        assert (await a.request({"type": "presence", "topic": "broadcast.all", "status": None}))["code"] == (
            "bad_status"
        )
        assert await a.nothing_more()


async def test_a_stream_roster_is_for_its_moderators_only(stream, owner, alice, bob):
    topic = f"stream.{stream.pk}"
    with override_realtime(PRESENCE_WINDOW=WINDOW):
        async with (
            RealtimeClient(user=owner) as mod,
            RealtimeClient(user=alice) as a,
            RealtimeClient(user=bob) as b,
        ):
            await mod.subscribe(topic)
            await a.subscribe(topic)
            await b.subscribe(topic)
            assert (await b.request({"type": "presence", "topic": topic, "status": "away"}))[
                "code"
            ] == "bad_status"
            assert (await b.request({"type": "presence", "topic": topic, "status": "typing"}))[
                "type"
            ] == "ack"
            await asyncio.sleep(WINDOW * 4)
            seen, counts = roster_seen(await mod.collect(), topic)
            assert sorted(seen) == sorted([str(owner.pk), str(alice.pk), str(bob.pk)]) and counts == (3, 0)
            assert seen[str(bob.pk)]["metas"][0]["status"] == "typing"
            # Viewers see who is typing (`public_statuses`): names and statuses only, never the roster.
            for viewer in (a, b):
                frames = [m for m in await viewer.collect() if m["type"].startswith("presence")]
                assert_only_typing(frames, topic, {str(bob.pk): "bob"})


def assert_only_typing(frames, topic, typing):
    """`frames` tell a viewer exactly who is `typing` ({key: name}) and nothing else of the roster."""
    assert frames and frames[0]["type"] == "presence_state", frames
    for frame in frames:
        assert (
            set(frame) == {"type", "topic", "entries"}
            if frame["type"] == "presence_state"
            else {
                "type",
                "topic",
                "joins",
                "leaves",
            }
        ), frame  # no count, no anonymous
        for part in [frame.get("entries", {}), frame.get("joins", {}), frame.get("leaves", {})]:
            for item in part.values():
                assert set(item) == {"name", "metas"}, item  # no avatar
                assert all(set(m) == {"conn", "status"} and m["status"] == "typing" for m in item["metas"])
    seen, counts = roster_seen(frames, topic)
    assert counts is None or counts == (None, None)
    assert {key: item["name"] for key, item in seen.items()} == typing


async def test_a_stream_viewer_sees_who_types_and_stops_but_never_the_roster(stream, owner, alice, bob):
    topic = f"stream.{stream.pk}"
    with override_realtime(PRESENCE_WINDOW=WINDOW):
        async with (
            RealtimeClient(user=owner) as mod,
            RealtimeClient(user=alice) as a,
            RealtimeClient(user=bob) as b,
            RealtimeClient(user=bob) as b2,
        ):
            for client in (mod, a, b, b2):
                await client.subscribe(topic)
            await asyncio.sleep(WINDOW * 3)
            frames = [m for m in await b.collect() if m["type"].startswith("presence")]
            assert frames == [{"type": "presence_state", "topic": topic, "entries": {}}]  # joins: nothing
            await a.request({"type": "presence", "topic": topic, "status": "typing"})
            await asyncio.sleep(WINDOW * 3)
            frames += [m for m in await b.collect() if m["type"].startswith("presence")]
            assert_only_typing(frames, topic, {str(alice.pk): "alice"})
            await a.request({"type": "presence", "topic": topic, "status": None})
            await asyncio.sleep(WINDOW * 3)
            frames += [m for m in await b.collect() if m["type"].startswith("presence")]
            assert_only_typing(frames, topic, {})
            # The moderator's frames are as they were: everyone, with counts.
            seen, counts = roster_seen(await mod.collect(), topic)
            assert len(seen) == 3 and counts == (3, 0) and "avatar" in seen[str(alice.pk)]


async def test_a_kicked_user_leaves_the_roster_at_once_and_signals_fire(alice, bob):
    joined, left = [], []

    def on_join(sender, topic, user_id, **kw):
        joined.append((sender.kind, topic, user_id))

    def on_leave(sender, topic, user_id, **kw):
        left.append((topic, user_id))

    signals.presence_joined.connect(on_join)
    signals.presence_left.connect(on_leave)
    try:
        with override_realtime(PRESENCE_WINDOW=WINDOW):
            async with RealtimeClient(user=alice) as a, RealtimeClient(user=bob) as b:
                await a.subscribe("page.k")
                await b.subscribe("page.k")
                await asyncio.sleep(WINDOW * 3)
                await a.collect()
                await akick("page.k", bob.pk)
                await b.receive_type("kicked")
                await asyncio.sleep(WINDOW * 3)
                diffs = [m for m in await a.collect() if m["type"] == "presence_diff"]
                assert list(diffs[0]["leaves"]) == [str(bob.pk)] and diffs[0]["count"] == 1
                assert await presence.acount("page.k") == {"count": 1, "anonymous": 0}
                # The kicked socket stays open but gets nothing of the roster any more.
                await b.collect()
                assert (await a.request({"type": "presence", "topic": "page.k", "status": "away"}))[
                    "type"
                ] == "ack"
                await asyncio.sleep(WINDOW * 3)
                assert [m for m in await a.collect() if m["type"] == "presence_diff"]
                assert [m for m in await b.collect() if m["type"].startswith("presence")] == []
    finally:
        signals.presence_joined.disconnect(on_join)
        signals.presence_left.disconnect(on_leave)
    assert joined == [("page", "page.k", str(alice.pk)), ("page", "page.k", str(bob.pk))]
    assert left[0] == ("page.k", str(bob.pk))


async def test_page_slugs_are_checked():
    async with RealtimeClient() as c:
        assert (await c.subscribe("page.Bad!"))["type"] == "error"


async def test_a_moderator_removed_stops_seeing_the_viewer_list_at_once(stream, alice, bob):
    from asgiref.sync import sync_to_async

    topic = f"stream.{stream.pk}"
    await sync_to_async(stream.moderators.add)(alice)
    with override_realtime(PRESENCE_WINDOW=WINDOW):
        async with RealtimeClient(user=alice) as mod, RealtimeClient(user=bob) as b:
            await mod.subscribe(topic)
            assert (await mod.receive_type("presence_state"))["topic"] == topic
            await sync_to_async(stream.moderators.remove)(alice)  # re-checks stream.<id> for alice
            await asyncio.sleep(WINDOW * 4)
            # From now on she is a viewer: a state with who is typing (nobody) replaces the roster.
            frames = [m for m in await mod.collect() if m["type"].startswith("presence")]
            assert frames[-1] == {"type": "presence_state", "topic": topic, "entries": {}}, frames
            await b.subscribe(topic)
            await asyncio.sleep(WINDOW * 4)
            assert [m for m in await mod.collect() if m["type"].startswith("presence")] == []
            # The sync API answers from the same hub (from a sync view, say).
            assert await sync_to_async(presence.count)(topic) == {"count": 2, "anonymous": 0}
            assert sorted(await sync_to_async(presence.list)(topic)) == sorted([str(alice.pk), str(bob.pk)])


async def test_a_new_moderator_gets_the_roster_on_the_re_check(stream, alice):
    from asgiref.sync import sync_to_async

    from realtime import areauthorize

    topic = f"stream.{stream.pk}"
    with override_realtime(PRESENCE_WINDOW=WINDOW):
        async with RealtimeClient(user=alice) as a:
            await a.subscribe(topic)
            await asyncio.sleep(WINDOW * 3)  # her own join is in the roster now
            frames = [m for m in await a.collect() if m["type"].startswith("presence")]
            assert frames == [{"type": "presence_state", "topic": topic, "entries": {}}]  # a viewer's
            await sync_to_async(stream.moderators.add)(alice)
            await areauthorize(topic)
            state = await a.receive_type("presence_state")
            assert list(state["entries"]) == [str(alice.pk)] and state["count"] == 1


async def test_a_closed_room_leaves_nothing_behind(alice, monkeypatch):
    from realtime.hub import get_hub, hub
    from realtime.presence.tracker import Tracker

    monkeypatch.setattr(hub, "ROOM_LINGER", 0.05)
    with override_realtime(PRESENCE_WINDOW=WINDOW):
        async with RealtimeClient(user=alice) as a:
            await a.subscribe("page.brief")
            await asyncio.sleep(WINDOW * 3)
        await asyncio.sleep(0.5)
        tracker = (await get_hub()).service(Tracker)
        assert "page.brief" not in tracker.sent and not tracker.members and not tracker.sizes
