"""Rooms and hubs: regressions of the subscription states, the room's lifetime, a cancelled consumer,
markers and the recent-events cache.

The first tests drive a `Room` alone, with fake sockets and an injected database reader, so they need
no database; the others go through `RealtimeClient` (and two hubs on one in-memory layer).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import AnonymousUser

from realtime import abroadcast, eventlog
from realtime.consumer import RealtimeConsumer
from realtime.eventlog import History, StoredEvent
from realtime.hub import get_hub
from realtime.hub import hub as hub_module
from realtime.hub import room as room_module
from realtime.hub.frames import encode
from realtime.hub.recent import Item, Replay, select_replay
from realtime.hub.room import CATCHING, LIVE, Room
from realtime.testing import RealtimeClient, bound_to, events, make_hub, override_realtime
from realtime.topics import Topic
from tests.streamkit import comment, comment_ids, wait_viewers

TOPIC = "broadcast.all"


# -- a room alone -----------------------------------------------------------------------------------
class Socket:
    """A connection as the room sees it: a writer that keeps what it is sent."""

    def __init__(self) -> None:
        self.writer = self
        self.sent: list[dict[str, Any]] = []

    def write(self, frame) -> bool:
        message = json.loads(frame.text)
        self.sent += message["messages"] if message["type"] == "batch" else [message]
        return True

    def ids(self) -> list[int | None]:
        return [m.get("id") for m in self.sent if m["type"] == "event"]


class Database:
    """Committed events of one topic; reads can be held back to stand for a slow database."""

    def __init__(self) -> None:
        self.events: list[StoredEvent] = []
        self.reads: list[tuple[int, int]] = []
        self.gate: asyncio.Event | None = None

    def commit(self, name: str = "broadcast", *, withdraws: int | None = None) -> StoredEvent:
        """Store the next event; `withdraws`: it is a marker withdrawing that earlier event."""
        if withdraws is not None:
            self.events[withdraws - 1] = replace(self.events[withdraws - 1], withdrawn=True)
        event = StoredEvent(
            TOPIC,
            name,
            {},
            id=len(self.events) + 1,
            marker=withdraws is not None,
            resets_history=withdraws is not None,
        )
        self.events.append(event)
        return event

    async def read_range(self, topic: str, after: int, upto: int) -> list[StoredEvent]:
        self.reads.append((after, upto))
        if self.gate is not None:
            await self.gate.wait()
        return [e for e in self.events if after < e.id <= upto]

    def history(self, since: int | None, limit: int) -> History:
        """`eventlog.read_history` (for the small cases here: `since` not ahead, no truncation)."""
        newest = len(self.events)
        items = [Item(e.id, e.marker, str(e.id)) for e in self.events if not e.withdrawn]
        chosen, truncated = select_replay(items, since, limit)
        assert not truncated and (since or 0) <= newest
        return History([self.events[i.id - 1] for i in chosen], newest, truncated, floor=since or 0)


def make_room(db: Database, *, persistent: bool = True, window: float = 0.0, limit: int = 100) -> Room:
    return Room(TOPIC, persistent=persistent, limit=limit, window=lambda: window, read_range=db.read_range)


def subscribe(room: Room, db: Database, since: int | None = None) -> tuple[Socket, Any]:
    """What the hub does for one subscriber, reading history from the database (not the cache)."""
    socket = Socket()
    sub = room.add(socket, None)
    history = db.history(since, room.sequencer.recent.limit)
    replay = Replay([encode(e) for e in history.events], history.last_id, history.truncated)
    room.start(sub, replay, '{"type": "subscribed"}')
    return socket, sub


@pytest.fixture(autouse=True)
def quick_gaps(monkeypatch):
    monkeypatch.setattr(room_module, "GAP_GRACE", 0.01)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0.02)


async def test_a_subscriber_ahead_of_the_room_waits_for_it_instead_of_getting_events_twice():
    """Events 2 and 3 are committed; their publish is still on its way when a subscriber reads them."""
    db = Database()
    room = make_room(db)
    room.accept(db.commit())
    watcher, _ = subscribe(room, db)
    db.commit(), db.commit()
    late, sub = subscribe(room, db, since=1)
    assert late.ids() == [2, 3] and sub.state == CATCHING
    for event in db.events[1:]:  # the publishes arrive
        room.accept(event)
    room.accept(db.commit())
    await settle()
    assert watcher.ids() == [1, 2, 3, 4]
    assert late.ids() == [2, 3, 4] and sub.state == LIVE


async def test_a_subscriber_ahead_of_the_room_makes_it_read_what_was_never_published():
    db = Database()
    room = make_room(db)
    watcher, _ = subscribe(room, db)
    db.commit(), db.commit()  # stored; both publishes lost
    late, sub = subscribe(room, db, since=0)
    await settle()
    assert db.reads == [(0, 2)]
    assert watcher.ids() == [1, 2] and late.ids() == [1, 2] and sub.state == LIVE
    room.accept(db.commit())
    assert watcher.ids() == [1, 2, 3] and late.ids() == [1, 2, 3]


async def test_after_a_deletion_emptied_the_cache_a_reader_ahead_gets_each_event_once():
    db = Database()
    room = make_room(db)
    watcher, _ = subscribe(room, db)
    room.seed(db.history(None, 100), Replay([], 0, False))
    for _ in range(2):
        room.accept(db.commit())
    assert room.cached_replay(None, 100) is not None
    room.accept(db.commit("comment.deleted", withdraws=1))  # empties the cache
    assert room.cached_replay(None, 100) is None
    db.commit()  # 4: committed, publish in flight
    fresh, sub = subscribe(room, db)
    assert fresh.ids() == [2, 3, 4] and sub.state == CATCHING
    room.accept(db.events[3])
    room.accept(db.commit())
    await settle()
    assert fresh.ids() == [2, 3, 4, 5] and watcher.ids() == [1, 2, 3, 4, 5]


async def test_a_live_only_room_delivers_what_arrived_while_the_subscriber_loaded():
    db = Database()
    room = make_room(db, persistent=False)
    socket = Socket()
    sub = room.add(socket, None)
    room.accept(StoredEvent(TOPIC, "ping", {"n": 1}))  # while its state() is being read
    room.start(sub, None, '{"type": "subscribed"}')
    room.accept(StoredEvent(TOPIC, "ping", {"n": 2}))
    assert [m["type"] for m in socket.sent] == ["subscribed", "event", "event"]
    assert [m["data"]["n"] for m in socket.sent[1:]] == [1, 2]


async def test_a_closed_room_leaves_no_timer_or_task_running():
    db = Database()
    db.gate = asyncio.Event()  # the gap read never finishes
    room = make_room(db, window=30.0)
    subscribe(room, db)
    db.commit(), db.commit()
    room.accept(db.events[1])  # 1 is missing: a gap task starts and reads the database
    viewers = '{"type": "event", "topic": "broadcast.all", "event": "viewers", "data": {}}'
    room.push(viewers)  # leaves at once
    room.push(viewers)  # waits for the coalescing window
    await settle()
    gap, timer = room.gap_task, room.flush_handle
    assert gap is not None and not gap.done() and db.reads == [(0, 1)]
    assert timer is not None
    room.close()
    await asyncio.sleep(0)
    assert gap.cancelled() and timer.cancelled()
    assert room.gap_task is None and room.flush_handle is None
    room.accept(db.commit())
    room.push(viewers)
    assert room.gap_task is None and room.flush_handle is None  # a closed room starts nothing new


# -- through the hub --------------------------------------------------------------------------------
uses_db = pytest.mark.django_db(transaction=True)


class HeldBack:
    """Hold back the events a hub receives from the layer, to release them later (or never)."""

    def __init__(self, hub, monkeypatch) -> None:
        from realtime.hub import reader

        self.hub = hub
        self.held: list[dict[str, Any]] = []
        self.original = reader.dispatch
        monkeypatch.setattr(reader, "dispatch", self._dispatch)
        self.holding = True

    def _dispatch(self, hub, message: dict[str, Any]) -> None:
        if hub is self.hub and self.holding and message.get("type") in ("realtime.event", "realtime.events"):
            self.held.append(message)
        else:
            self.original(hub, message)

    def release(self) -> None:
        self.holding = False
        for message in self.held:
            self.original(self.hub, message)
        self.held = []


def event_ids(messages: list[dict[str, Any]]) -> list[int]:
    return [m["id"] for m in messages if m["type"] == "event" and m.get("event") != "viewers"]


@uses_db
@pytest.mark.parametrize("publish", ["late", "lost"])
async def test_a_subscriber_whose_history_is_ahead_of_the_room_gets_each_event_once(monkeypatch, publish):
    hub = await get_hub()
    async with RealtimeClient() as watcher, RealtimeClient() as late:
        await watcher.subscribe(TOPIC)
        held = HeldBack(hub, monkeypatch)
        ids = [await abroadcast(TOPIC, "broadcast", {"n": n}) for n in range(3)]
        reply = await late.subscribe(TOPIC, since=ids[0])
        assert (reply["last_id"], reply["history"]) == (ids[2], 2)
        if publish == "late":
            held.release()
        else:
            held.holding = False
        live = await abroadcast(TOPIC, "broadcast", {"n": "live"})
        assert event_ids(await watcher.collect(0.4)) == [*ids, live]
        assert event_ids(await late.collect()) == [*ids[1:], live]


@uses_db
@pytest.mark.parametrize("publish", ["late", "lost"])
async def test_resuming_on_another_hub_ahead_of_its_room_replays_nothing_twice(monkeypatch, publish):
    """A client resumes on process B with `since` from process A; B's copy of the events is delayed."""
    other = await make_hub()
    try:
        with bound_to(other):
            watcher, resumed = RealtimeClient(), RealtimeClient()
        async with watcher, RealtimeClient() as on_a:
            await watcher.subscribe(TOPIC)
            await on_a.subscribe(TOPIC)
            held = HeldBack(other, monkeypatch)
            ids = [await abroadcast(TOPIC, "broadcast", {"n": n}) for n in range(3)]
            assert event_ids(await on_a.collect()) == ids and other.rooms[TOPIC].sequencer.last_id == 0
            async with resumed:
                reply = await resumed.subscribe(TOPIC, since=ids[-1])
                assert (reply["last_id"], reply["history"]) == (ids[-1], 0)
                if publish == "late":
                    held.release()
                else:
                    held.holding = False
                assert event_ids(await watcher.collect(0.4)) == ids
                live = await abroadcast(TOPIC, "broadcast", {"n": "live"})
                assert event_ids(await resumed.collect()) == [live]
                assert event_ids(await watcher.collect()) == [live]
    finally:
        await other.stop()


@uses_db
async def test_after_a_deletion_a_subscriber_reading_ahead_gets_each_comment_once(
    stream, owner, alice, monkeypatch
):
    from realtime.streams.models import Comment
    from realtime.streams.moderation import set_comment_state
    from realtime.streams.storage import post_comment

    hub = await get_hub()
    async with RealtimeClient(user=owner) as watcher:
        await watcher.subscribe(stream.topic)
        acks = [await sync_to_async(post_comment)(stream.pk, alice, comment(f"c{n}")) for n in range(3)]
        gone = await Comment.objects.aget(stream=stream, seq=acks[0]["id"])
        await sync_to_async(set_comment_state)(gone, Comment.State.DELETED)
        await watcher.collect()
        held = HeldBack(hub, monkeypatch)
        late = await sync_to_async(post_comment)(stream.pk, alice, comment("late"))
        async with RealtimeClient() as fresh:
            await fresh.subscribe(stream.topic)
            held.release()
            after = await sync_to_async(post_comment)(stream.pk, alice, comment("after"))
            got = await fresh.collect(0.3)
            assert comment_ids(got) == [acks[1]["id"], acks[2]["id"], late["id"], after["id"]]
            assert len(events(got, "comment.deleted")) == 1


class LiveOnlyTopic(Topic):
    """Events that are never stored (think typing indicators), with a slow `state()`."""

    kind = "liveonly"
    persistent = False
    loading: asyncio.Event | None = None
    loaded: asyncio.Event | None = None

    async def can_subscribe(self, user: Any) -> bool:
        return True

    async def state(self, client: Any) -> dict[str, Any]:
        type(self).loading.set()
        await type(self).loaded.wait()
        return {}


@uses_db
async def test_a_live_only_topic_delivers_what_was_published_while_state_loaded():
    LiveOnlyTopic.loading, LiveOnlyTopic.loaded = asyncio.Event(), asyncio.Event()
    with override_realtime(TOPICS={"liveonly": LiveOnlyTopic}):
        async with RealtimeClient() as client:
            request = asyncio.ensure_future(client.subscribe("liveonly.x"))
            await LiveOnlyTopic.loading.wait()
            assert await abroadcast("liveonly.x", "typing", {"n": 1}) is None
            await asyncio.sleep(0.05)  # it reached the hub, which holds it for the loading subscriber
            LiveOnlyTopic.loaded.set()
            assert (await request)["type"] == "subscribed"
            await abroadcast("liveonly.x", "typing", {"n": 2})
            assert [m["data"]["n"] for m in events(await client.collect(), "typing")] == [1, 2]


@uses_db
async def test_rooms_that_close_cancel_their_work_and_hub_tasks_do_not_grow(monkeypatch):
    monkeypatch.setattr(hub_module, "ROOM_LINGER", 0.01)
    hub = await get_hub()
    baseline = len(hub.tasks)
    never = asyncio.Event()

    async def stuck(topic, after, upto):
        await never.wait()
        return []

    rooms = []
    for n in range(10):
        async with RealtimeClient() as client:
            await client.subscribe(TOPIC)
            rooms.append(hub.rooms[TOPIC])
            if n == 0:  # leave a gap that is still being read when the room closes
                monkeypatch.setattr(rooms[0], "read_range", stuck)
                await hub.publish(await sync_to_async(_store)(3))  # 1 and 2 are not published
                await asyncio.sleep(0.1)
                gap = rooms[0].gap_task
                assert gap is not None and not gap.done()
        await asyncio.sleep(0.05)
        assert TOPIC not in hub.rooms and rooms[-1].closed
    assert gap.cancelled() and rooms[0].gap_task is None
    assert len(hub.tasks) == baseline
    assert not [t for t in asyncio.all_tasks() if "_fill_gap" in repr(t.get_coro())]


def _store(count: int) -> StoredEvent:
    from django.db import transaction

    with transaction.atomic():
        for _ in range(count - 1):
            eventlog.store_event(TOPIC, "broadcast", {})
        return eventlog.store_event(TOPIC, "broadcast", {})


# -- a consumer cancelled by daphne -----------------------------------------------------------------
class Connection:
    """A hand-made ASGI connection to the consumer, run as a task the way daphne runs it."""

    def __init__(self) -> None:
        self.incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.outgoing: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        scope = {
            "type": "websocket",
            "path": "/ws/realtime/",
            "headers": [],
            "query_string": b"",
            "user": AnonymousUser(),
            "subprotocols": [],
        }
        self.task = asyncio.ensure_future(
            RealtimeConsumer.as_asgi()(scope, self.incoming.get, self.outgoing.put)
        )

    async def request(self, message: dict[str, Any]) -> None:
        await self.incoming.put({"type": "websocket.receive", "text": json.dumps(message)})

    async def until(self, kind: str) -> dict[str, Any]:
        while True:
            message = await asyncio.wait_for(self.outgoing.get(), 2)
            if message["type"] == "websocket.send" and json.loads(message["text"])["type"] == kind:
                return json.loads(message["text"])

    async def cancel(self) -> None:
        # daphne: an application still running after its client left is cancelled, not awaited.
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


@uses_db
@pytest.mark.parametrize("when", ["idle", "subscribing"])
async def test_a_consumer_cancelled_mid_connection_leaves_no_membership(stream, monkeypatch, when):
    from realtime.streams.presence import Presence
    from realtime.streams.topic import StreamTopic

    async with RealtimeClient() as observer:
        await observer.subscribe(stream.topic)
        hub = await get_hub()
        connection = Connection()
        await connection.incoming.put({"type": "websocket.connect"})
        await connection.until("hello")
        if when == "subscribing":
            stuck = asyncio.Event()
            original = StreamTopic.state

            async def slow_state(self, client):
                result = await original(self, client)
                stuck.set()
                await asyncio.Event().wait()  # never returns: the client is gone, daphne cancels
                return result

            monkeypatch.setattr(StreamTopic, "state", slow_state)
            await connection.request({"type": "subscribe", "topic": stream.topic, "ref": "1"})
            await stuck.wait()
        else:
            await connection.request({"type": "subscribe", "topic": stream.topic, "ref": "1"})
            await connection.until("subscribed")
        assert len(hub.rooms[stream.topic]) == 2
        await wait_viewers(observer, 2)
        await connection.cancel()
        assert len(hub.memberships) == 1 and len(hub.rooms[stream.topic]) == 1
        await wait_viewers(observer, 1)
        assert hub.service(Presence).total(stream.topic) == 1
    await asyncio.sleep(0.05)
    assert not hub.memberships and hub.service(Presence).total(stream.topic) == 0


# -- markers and the recent-events cache ------------------------------------------------------------
@uses_db
async def test_markers_do_not_count_against_the_history_limit(stream, alice, db_reads):
    from realtime.streams.models import Comment
    from realtime.streams.moderation import set_comment_state
    from realtime.streams.storage import post_comment

    with override_realtime(RATE_LIMIT_COUNT=None):
        earlier = [await sync_to_async(post_comment)(stream.pk, alice, comment(f"old {n}")) for n in range(3)]
        kept = [await sync_to_async(post_comment)(stream.pk, alice, comment(f"new {n}")) for n in range(3)]
    for ack in earlier:
        gone = await Comment.objects.aget(stream=stream, seq=ack["id"])
        await sync_to_async(set_comment_state)(gone, Comment.State.DELETED)
    with override_realtime(HISTORY_LIMIT=3):
        for _ in range(2):  # the first reads the database, the second is answered from memory
            async with RealtimeClient() as fresh:
                reply = await fresh.subscribe(stream.topic)
                got = await fresh.collect()
                assert comment_ids(got) == [ack["id"] for ack in kept]
                assert [m["data"]["comment"] for m in events(got, "comment.deleted")] == [
                    ack["id"] for ack in earlier
                ]
                assert (reply["history"], reply["truncated"]) == (6, False)
            await asyncio.sleep(0.05)
    assert db_reads == [None]


@uses_db
@pytest.mark.parametrize(
    "withdrawn, from_memory",
    [
        # Holes in the ids (a withdrawn event): the old cache counted ids, not events, and told a client
        # that had missed nothing it could be sent `truncated: true`.
        (True, [None, 0, 1, 2, 3, 4]),
        # Exactly HISTORY_LIMIT events above the cache's floor: whether one lies below it is unknown, so
        # only the database can say whether a client resuming from before the floor missed any.
        (False, [1, 2, 3, 4]),
    ],
)
async def test_the_cache_says_truncated_exactly_when_the_database_does(db_reads, withdrawn, from_memory):
    ids = [await abroadcast(TOPIC, "broadcast", {"n": n}) for n in range(4)]
    if withdrawn:
        await sync_to_async(eventlog.withdraw)(TOPIC, ids[0])
    with override_realtime(HISTORY_LIMIT=3):
        async with RealtimeClient() as first:
            await first.subscribe(TOPIC)
            for since in [None, 0, *ids]:
                async with RealtimeClient() as later:
                    reply = await later.subscribe(TOPIC, since=since)
                    expected = await sync_to_async(eventlog.read_history)(TOPIC, since, 3)
                    assert (reply["last_id"], reply["history"], reply["truncated"]) == (
                        expected.last_id,
                        len(expected.events),
                        expected.truncated,
                    ), since
                    assert event_ids(await later.collect()) == [e.id for e in expected.events]
    assert db_reads[0] is None and not set(db_reads[1:]) & set(from_memory)  # these came from memory


@uses_db
async def test_a_room_kept_while_leaving_its_group_does_not_answer_from_what_it_knew_before(monkeypatch):
    """A viewer returns just as the emptied room leaves its layer group: the room stays, but events
    sent while it was out of the group never reached it, so its memory of recent events is stale."""
    from realtime.topics.names import group_for_topic

    monkeypatch.setattr(hub_module, "ROOM_LINGER", 0.01)
    hub = await get_hub()
    left, resume = asyncio.Event(), asyncio.Event()
    original = hub.layer.group_discard

    async def slow_discard(group, channel):
        await original(group, channel)
        if group == group_for_topic(TOPIC):
            left.set()
            await resume.wait()

    monkeypatch.setattr(hub.layer, "group_discard", slow_discard)
    first = await abroadcast(TOPIC, "broadcast", {"n": 1})
    async with RealtimeClient() as client:
        await client.subscribe(TOPIC)  # the room now remembers event 1
    await left.wait()
    async with RealtimeClient() as back:
        request = asyncio.ensure_future(back.subscribe(TOPIC))  # finds the room, waits for its lock
        await asyncio.sleep(0.05)
        missed = await abroadcast(TOPIC, "broadcast", {"n": 2})  # the room is out of the group
        resume.set()
        reply = await request
        assert reply["last_id"] == missed
        assert event_ids(await back.collect()) == [first, missed]
        later = await abroadcast(TOPIC, "broadcast", {"n": 3})
        assert event_ids(await back.collect()) == [later]
