"""The room's cache of recent events: (re)subscribing to a live topic reads no database, and answers
exactly what the database would."""

import pytest
from asgiref.sync import sync_to_async

from realtime import abroadcast
from realtime.eventlog import read_history
from realtime.hub.recent import Item, RecentEvents
from realtime.testing import RealtimeClient, override_realtime
from tests.streamkit import comment_ids, moderate, post

pytestmark = pytest.mark.django_db(transaction=True)
TOPIC = "broadcast.all"


def event_ids(messages):
    return [m["id"] for m in messages if m["type"] == "event"]


async def test_later_subscribers_to_a_live_room_are_served_from_memory(db_reads):
    ids = [await abroadcast(TOPIC, "broadcast", {"n": n}) for n in range(5)]
    async with RealtimeClient() as first:
        await first.subscribe(TOPIC)
        live = await abroadcast(TOPIC, "broadcast", {"n": "live"})
        await first.collect()
        assert db_reads == [None]
        for since in (None, ids[1], live, 0):
            async with RealtimeClient() as later:
                reply = await later.subscribe(TOPIC, since=since)
                expected = await sync_to_async(read_history)(TOPIC, since, 100)
                assert (reply["last_id"], reply["history"], reply["truncated"]) == (
                    expected.last_id,
                    len(expected.events),
                    expected.truncated,
                )
                assert event_ids(await later.collect()) == [e.id for e in expected.events]
        assert db_reads == [None]  # every later subscriber came from memory


async def test_the_cache_answers_truncation_like_the_database(db_reads):
    with override_realtime(HISTORY_LIMIT=3):
        ids = [await abroadcast(TOPIC, "broadcast", {"n": n}) for n in range(6)]
        async with RealtimeClient() as first:
            await first.subscribe(TOPIC)
            # One more than the limit in memory: it can tell that a client resuming from 1 missed some.
            ids.append(await abroadcast(TOPIC, "broadcast", {"n": 6}))
            await first.collect()
            async with RealtimeClient() as later:
                reply = await later.subscribe(TOPIC, since=ids[0])
                assert (reply["history"], reply["truncated"]) == (3, True)
                assert event_ids(await later.collect()) == ids[-3:]
        assert db_reads == [None]  # `later` was answered from memory


async def test_a_deleted_comment_is_not_replayed_from_memory(stream, owner, alice, db_reads):
    async with RealtimeClient(user=owner) as mod, RealtimeClient(user=alice) as a:
        await mod.subscribe(stream.topic)
        await a.subscribe(stream.topic)
        kept = await post(a, stream, "kept")
        gone = await post(a, stream, "gone")
        await moderate(mod, stream, action="delete", comment=gone["id"])
        await mod.collect()
        async with RealtimeClient() as fresh:
            await fresh.subscribe(stream.topic)
            assert comment_ids(await fresh.collect()) == [kept["id"]]
        # The deletion emptied the cache, so that read went to the database, and re-seeded it.
        reads = len(db_reads)
        async with RealtimeClient() as again:
            await again.subscribe(stream.topic)
            assert comment_ids(await again.collect()) == [kept["id"]]
        assert len(db_reads) == reads


def test_recent_events_declines_what_it_cannot_answer():
    recent = RecentEvents(3)
    assert recent.replay(None, 3, 0) is None  # never seeded
    recent.seed([Item(5, False, "e5"), Item(6, False, "e6")], floor=4)
    assert recent.replay(4, 3, 6).texts == ["e5", "e6"]
    assert recent.replay(3, 3, 6) is None  # events at or before 4 are unknown here
    assert recent.replay(None, 3, 6) is None  # the newest 3 may include one before 5
    assert recent.replay(4, 5, 6) is None  # seeded for another limit
    recent.add(Item(7, False, "e7"))
    assert recent.replay(None, 3, 7) is None  # exactly 3 held: a 4th below the floor is unknown
    recent.add(Item(8, False, "e8"))  # 4 held: more than a replay needs
    assert recent.replay(None, 3, 8).texts == ["e6", "e7", "e8"]
    replay = recent.replay(1, 3, 8)
    assert (replay.texts, replay.truncated) == (["e6", "e7", "e8"], True)
    assert recent.replay(9, 3, 8) is None  # a client ahead of the room


async def test_a_burst_of_subscribers_loads_the_stream_row_once(stream, monkeypatch):
    """A connect storm on one stream: one Stream query, not one per viewer."""
    from realtime.streams import lookup as stream_topic

    loads = []
    original = stream_topic.Stream.objects.filter

    def counting(*args, **kwargs):
        loads.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(stream_topic.Stream.objects, "filter", counting)
    clients = [RealtimeClient() for _ in range(10)]
    for client in clients:
        await client.__aenter__()
        assert (await client.subscribe(stream.topic))["type"] == "subscribed"
    for client in clients:
        await client.__aexit__(None, None, None)
    assert len(loads) == 1


async def test_a_changed_stream_is_not_served_stale_by_this_process(stream, owner):
    from realtime.streams import moderation

    async with RealtimeClient() as first:
        assert (await first.subscribe(stream.topic))["state"]["comments_open"] is True
    await sync_to_async(moderation.update_stream)(stream, comments_open=False)
    async with RealtimeClient() as second:
        assert (await second.subscribe(stream.topic))["state"]["comments_open"] is False


def test_a_fresh_subscriber_is_answered_from_exactly_limit_events_when_more_lie_below():
    """A database read of a long topic leaves exactly `limit` events in the cache; the next fresh
    subscriber is answered from memory, without the markers below the oldest of them (as the database
    would: it replays markers only from the oldest replayed event on)."""
    recent = RecentEvents(3)
    recent.seed(
        [
            Item(11, True, "m11"),
            Item(12, False, "e12"),
            Item(13, True, "m13"),
            Item(14, False, "e14"),
            Item(15, False, "e15"),
        ],
        floor=10,
        content_below=True,
    )
    assert recent.replay(None, 3, 15).texts == ["e12", "m13", "e14", "e15"]
    unknown_below = RecentEvents(3)
    unknown_below.seed(
        [Item(11, True, "m11"), Item(12, False, "e12"), Item(13, False, "e13"), Item(14, False, "e14")],
        floor=10,
    )
    assert unknown_below.replay(None, 3, 14) is None  # below 11 there may be nothing: only the DB knows


@pytest.fixture
def held_reads(monkeypatch):
    """History reads (the stock `Topic.history`, so still answerable from the cache) that read the
    database, then wait for `gate` before answering; `calls` has each read's `since`."""
    import asyncio

    from realtime.topics.base import Topic

    original = Topic.history
    state = type("Held", (), {"calls": [], "gate": asyncio.Event(), "read": asyncio.Event()})()

    async def held(self, since, limit):
        result = await original(self, since, limit)
        state.calls.append(since)
        state.read.set()
        await state.gate.wait()
        return result

    monkeypatch.setattr(Topic, "history", held)
    return state


async def test_a_storm_into_a_cold_room_reads_the_database_once(held_reads):
    """Viewers arriving together at a room nobody watches: the first reads the history, the others
    wait for it and are answered from the cache it seeded (`realtime.hub.warmup`)."""
    import asyncio

    ids = [await abroadcast(TOPIC, "broadcast", {"n": n}) for n in range(5)]
    clients = [RealtimeClient() for _ in range(20)]
    try:
        for client in clients:
            await client.__aenter__()
        for n, client in enumerate(clients):
            await client.send({"type": "subscribe", "topic": TOPIC, "ref": f"s{n}"})
        await asyncio.sleep(0.2)  # every subscribe has arrived while the first read is held
        held_reads.gate.set()
        for client in clients:
            messages = await client.collect(quiet=0.3)
            reply = next(m for m in messages if m["type"] == "subscribed")
            assert (reply["last_id"], reply["history"]) == (ids[-1], 5)
            assert event_ids(messages) == ids
        assert held_reads.calls == [None]
    finally:
        for client in clients:
            await client.__aexit__(None, None, None)


async def test_a_viewer_waiting_for_anothers_read_gets_what_was_published_in_between(held_reads):
    """The first subscriber's read is taken, then an event is published, then a second subscriber
    arrives and waits for that read: it must not take the read (which lacks the event) as its own."""
    import asyncio

    ids = [await abroadcast(TOPIC, "broadcast", {"n": n}) for n in range(3)]
    async with RealtimeClient() as first, RealtimeClient() as second:
        await first.send({"type": "subscribe", "topic": TOPIC, "ref": "a"})
        await asyncio.wait_for(held_reads.read.wait(), 5)
        between = await abroadcast(TOPIC, "broadcast", {"n": "between"})
        await asyncio.sleep(0.05)  # the live event reaches the room before the second one joins
        await second.send({"type": "subscribe", "topic": TOPIC, "ref": "b"})
        await asyncio.sleep(0.05)
        held_reads.gate.set()
        for client in (first, second):
            assert event_ids(await client.collect(quiet=0.3)) == [*ids, between]
