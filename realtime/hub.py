"""The process-local hub: topic -> the sockets in this process subscribed to it.

Why: the Channels tutorial puts every consumer in the group, so one comment costs one channel-layer
message, one msgpack decode, one JSON encode and one task wake-up per viewer. Here a topic's group is
joined once per process (first local subscriber) and left with the last; an event crosses the layer once
per process, is encoded once, and the same bytes go to every local socket.

Ordering and resume live here too. Stored events carry dense per-topic ids, so a room that sees id N+2
after N knows N+1 exists (committed, publish still in flight or lost) and fills the gap from the database
instead of dropping or reordering. A subscriber's own history read and the live feed are joined per
subscription (LOADING -> CATCHING -> LIVE), so nothing is missed or sent twice while history is read.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import weakref
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from . import eventlog, protocol
from .conf import realtime_settings
from .eventlog import History, StoredEvent
from .groups import CONTROL_GROUP, group_for_topic
from .presence import Presence
from .recent import RecentEvents, Replay
from .topics.base import Topic
from .transport import Frame, Writer

logger = logging.getLogger("realtime.hub")

GAP_GRACE = 0.25  # seconds an out-of-order event waits for the one before it before we read the DB
# Group memberships expire in the layer (redis_layer(): 15 minutes) so that a process that died without
# leaving stops costing every group_send; live hubs refresh theirs well before.
REJOIN_INTERVAL = 300.0
# Seconds an empty room stays joined (with its recent events) before leaving the layer group: a viewer
# reloading the page comes back to a warm room instead of a new group_add and a database read.
ROOM_LINGER = 5.0

LOADING, CATCHING, LIVE = "loading", "catching", "live"
T = TypeVar("T")


class Connection(Protocol):
    """What the hub needs of a socket (the consumer implements it)."""

    writer: Writer
    user_id: int | None
    session_key: str | None
    subscriptions: dict[str, Any]  # topic name -> Topic, including subscriptions still loading

    def kick(self, topic: str, code: str, message: str) -> None: ...
    def close_with(self, code: int) -> None: ...


class Subscription:
    __slots__ = ("conn", "state", "cursor", "buffer")

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.state = LOADING
        self.cursor = 0  # highest event id this connection has been sent
        self.buffer: list[tuple[int | None, str]] = []  # live items that arrived while LOADING


class Room:
    """One topic's local subscribers and its ordered, coalesced outgoing feed."""

    def __init__(self, hub: Hub, topic: str, *, persistent: bool, track_viewers: bool) -> None:
        self.hub = hub
        self.topic = topic
        self.group = group_for_topic(topic)
        self.persistent = persistent
        self.track_viewers = track_viewers
        # LIVE subscribers map to their writer's bound `write`: the fan-out loop is one call per socket.
        self.live: dict[Connection, Callable[[Frame], bool]] = {}
        self.others: dict[Connection, Subscription] = {}
        self.last_id: int | None = None
        self.pending: dict[int, StoredEvent] = {}
        self.outbox: list[tuple[int | None, str]] = []
        self.flush_handle: asyncio.TimerHandle | None = None
        self.last_flush = 0.0
        self.lock = asyncio.Lock()
        self.joined = False
        self.gap_task: asyncio.Task | None = None
        self.recent = RecentEvents()
        self.holding = False  # accept_many() is adding several events: flush once at the end

    # -- membership -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.live) + len(self.others)

    def connections(self) -> list[Connection]:
        return [*self.live, *self.others]

    def add(self, conn: Connection) -> Subscription:
        sub = Subscription(conn)
        self.others[conn] = sub
        return sub

    def discard(self, conn: Connection) -> bool:
        return self.live.pop(conn, None) is not None or self.others.pop(conn, None) is not None

    async def ensure_joined(self) -> None:
        async with self.lock:
            if self.joined:
                return
            try:
                await self.hub.layer.group_add(self.group, self.hub.channel)
                self.joined = True
            except Exception as exc:  # layer down: the DB sync loop still delivers, and we retry
                logger.warning("Could not join %s on the channel layer (%s); will retry", self.group, exc)

    async def leave_if_empty(self) -> None:
        async with self.lock:
            if len(self) or not self.joined:
                if not len(self) and self.hub.rooms.get(self.topic) is self:
                    del self.hub.rooms[self.topic]
                return
            try:
                await self.hub.layer.group_discard(self.group, self.hub.channel)
            except Exception as exc:
                logger.warning("Could not leave %s on the channel layer (%s)", self.group, exc)
            self.joined = False
            # A subscriber that arrived during the await keeps the room (and re-joins under the lock).
            if not len(self) and self.hub.rooms.get(self.topic) is self:
                del self.hub.rooms[self.topic]
                if self.flush_handle:
                    self.flush_handle.cancel()
                if self.gap_task:
                    self.gap_task.cancel()

    # -- subscribing ------------------------------------------------------------------------------
    def cached_replay(self, since: int | None, limit: int) -> Replay | None:
        if self.last_id is None or self.pending or self.gap_task is not None:
            return None
        return self.recent.replay(since, limit, self.last_id)

    def start(self, sub: Subscription, replay: Replay | None, reply: str) -> None:
        """History is read: send the reply and the replay, then join the live feed without a gap."""
        write = sub.conn.writer.write
        write(Frame(reply))
        if replay is None:
            self._promote(sub)
            return
        if self.last_id is None:
            # The group was joined before this history read, so every later event reaches us live.
            self.last_id = replay.last_id
            self._drain_pending()
        for frame in frames_for(replay.texts):
            write(frame)
        sub.cursor = replay.last_id
        fresh = [text for id, text in sub.buffer if id is None or id > sub.cursor]
        if fresh:
            for frame in frames_for(fresh):
                write(frame)
            sub.cursor = max([sub.cursor, *(id for id, _ in sub.buffer if id is not None)])
        sub.buffer = []
        sub.state = CATCHING
        if not any(id is not None for id, _ in self.outbox) and sub.cursor >= (self.last_id or 0):
            self._promote(sub)

    def _promote(self, sub: Subscription) -> None:
        if self.others.pop(sub.conn, None) is not None:
            sub.state = LIVE
            self.live[sub.conn] = sub.conn.writer.write

    # -- incoming events --------------------------------------------------------------------------
    def accept(self, event: StoredEvent) -> None:
        if event.id is None or not self.persistent:
            self.queue(None, encode(event))
            return
        if self.last_id is None:
            self.pending[event.id] = event
        elif event.id == self.last_id + 1:
            self._advance(event)
            self._drain_pending()
        elif event.id > self.last_id:
            self.pending[event.id] = event
            if self.gap_task is None:
                self.gap_task = asyncio.get_running_loop().create_task(self._fill_gap())

    def _advance(self, event: StoredEvent) -> None:
        self.last_id = event.id
        if event.resets_history:
            self.recent.clear()
        if not event.withdrawn:
            text = encode(event)
            self.queue(event.id, text)
            self.recent.add(event.id, text)

    def _drain_pending(self) -> None:
        assert self.last_id is not None
        while self.last_id + 1 in self.pending:
            self._advance(self.pending.pop(self.last_id + 1))
        for stale in [id for id in self.pending if id <= self.last_id]:
            del self.pending[stale]

    async def _fill_gap(self) -> None:
        try:
            await asyncio.sleep(GAP_GRACE)
            await self.catch_up(max(self.pending, default=0) - 1)
        finally:
            self.gap_task = None
        if self.pending and self.gap_task is None and self.last_id is not None:
            self.gap_task = asyncio.get_running_loop().create_task(self._fill_gap())

    async def catch_up(self, upto: int) -> None:
        """Read events (last_id, upto] from the database and feed them in order."""
        if self.last_id is None or upto <= self.last_id:
            return
        # The gap may hold withdrawals we cannot see (their announcement was lost too): start over.
        self.recent.clear()
        events = await database_sync_to_async(eventlog.read_range)(self.topic, self.last_id, upto)
        for event in events:
            if self.last_id is not None and event.id == self.last_id + 1:
                self._advance(event)
        if self.last_id is not None and self.last_id < upto:
            logger.error("Events %s..%s of %s are missing from the database; skipping them",
                         self.last_id + 1, upto, self.topic)
            self.last_id = upto
        self._drain_pending()

    # -- outgoing ---------------------------------------------------------------------------------
    def accept_many(self, events: list[StoredEvent]) -> None:
        """Events published together (a group commit) leave together: one frame, not first-then-rest."""
        self.holding = True
        try:
            for event in events:
                self.accept(event)
        finally:
            self.holding = False
        if self.outbox:
            self._schedule_flush()

    def queue(self, id: int | None, text: str) -> None:
        """Add one encoded event to the outgoing feed; the first after a quiet spell leaves at once."""
        self.outbox.append((id, text))
        if not self.holding:
            self._schedule_flush()

    def _schedule_flush(self) -> None:
        if self.flush_handle is not None:
            return
        loop = asyncio.get_running_loop()
        delay = self.last_flush + self.hub.coalesce_window - loop.time()
        if delay <= 0:
            self.flush()
        else:
            self.flush_handle = loop.call_later(delay, self.flush)

    def flush(self) -> None:
        self.flush_handle = None
        self.last_flush = asyncio.get_running_loop().time()
        items, self.outbox = self.outbox, []
        if not items:
            return
        frames = frames_for([text for _, text in items])
        if len(frames) == 1:
            frame = frames[0]
            for write in self.live.values():
                write(frame)
        else:
            for write in self.live.values():
                for frame in frames:
                    write(frame)
        if not self.others:
            return
        top = max((id for id, _ in items if id is not None), default=None)
        ready = []
        for sub in self.others.values():
            if sub.state == LOADING:
                sub.buffer.extend(items)
                continue
            fresh = [text for id, text in items if id is None or id > sub.cursor]
            for frame in frames if len(fresh) == len(items) else frames_for(fresh):
                sub.conn.writer.write(frame)
            if top is not None and top > sub.cursor:
                sub.cursor = top
            if sub.cursor >= (self.last_id or 0):
                ready.append(sub)
        for sub in ready:
            self._promote(sub)


MAX_BATCH_CHARS = 64 * 1024  # keep coalesced frames small enough for any client's frame limit


def frames_for(texts: list[str]) -> list[Frame]:
    """Pack encoded events into as few frames as possible, each batch at most MAX_BATCH_CHARS."""
    frames: list[Frame] = []
    chunk: list[str] = []
    size = 0
    for text in texts:
        if chunk and size + len(text) > MAX_BATCH_CHARS:
            frames.append(_frame(chunk))
            chunk, size = [], 0
        chunk.append(text)
        size += len(text)
    if chunk:
        frames.append(_frame(chunk))
    return frames


def _frame(texts: list[str]) -> Frame:
    return Frame(texts[0] if len(texts) == 1 else protocol.batch_envelope(texts))


def encode(event: StoredEvent) -> str:
    return protocol.event_envelope(event.topic, event.name, event.data, id=event.id, at=event.at)


class Hub:
    """One per event loop (daphne runs one loop per process). Get it with `await get_hub()`."""

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.channel = ""
        self.rooms: dict[str, Room] = {}
        self.connections: weakref.WeakSet[Connection] = weakref.WeakSet()
        self.coalesce_window = float(realtime_settings.COALESCE_WINDOW)
        self.presence = Presence(self)
        self.tasks: list[asyncio.Task] = []
        # Per-hub helpers other modules attach (e.g. reaction sums), keyed by their class.
        self.services: dict[type, Any] = {}
        self._started = asyncio.Event()
        self._starting = False

    async def start(self) -> None:
        if self._starting:
            await self._started.wait()
            return
        self._starting = True
        self.channel = await self.layer.new_channel("realtime.hub.")
        try:
            await self.layer.group_add(CONTROL_GROUP, self.channel)
        except Exception as exc:
            logger.warning("Could not join the control group (%s); will retry", exc)
        loop = asyncio.get_running_loop()
        self.tasks = [loop.create_task(self._read()), loop.create_task(self._maintain()),
                      loop.create_task(self.presence.run())]
        self._started.set()

    def service(self, cls: type[T]) -> T:
        """This hub's instance of a per-process helper (`cls(hub)`), made on first use."""
        instance = self.services.get(cls)
        if instance is None:
            instance = self.services[cls] = cls(self)
        return instance

    async def stop(self) -> None:
        """Stop reading and leave every layer group, so other processes stop sending to this one."""
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        groups = [room.group for room in self.rooms.values() if room.joined] + [CONTROL_GROUP]
        try:
            async with asyncio.timeout(2):
                for group in groups:
                    await self.layer.group_discard(group, self.channel)
        except Exception as exc:  # the layer is down: memberships expire there on their own
            logger.warning("Could not leave channel-layer groups while stopping (%s)", exc)

    # -- subscriptions ----------------------------------------------------------------------------
    async def subscribe(self, conn: Connection, topic: Topic, since: int | None,
                        make_reply: Callable[[Replay | None, dict], str]) -> bool:
        """Add `conn` to `topic`; send it the reply, its history and then the live feed.

        History comes from the room's cache of recent events when it can answer, else the database.
        Returns False if the connection went away (or unsubscribed) while history was being read.
        """
        room = self.rooms.get(topic.name)
        if room is None:
            room = self.rooms[topic.name] = Room(self, topic.name, persistent=topic.persistent,
                                                 track_viewers=topic.track_viewers)
        sub = room.add(conn)
        self.presence.changed(room)
        limit = int(realtime_settings.HISTORY_LIMIT)
        # Only the stock history can be answered from memory; a topic kind may define its own.
        cacheable = type(topic).history is Topic.history
        history: History | None = None
        try:
            await room.ensure_joined()
            replay = room.cached_replay(since, limit) if topic.persistent and cacheable else None
            if topic.persistent and replay is None:
                history = await topic.history(since, limit)
                replay = Replay([encode(event) for event in history.events], history.last_id, history.truncated)
            state = await topic.state(conn)
        except BaseException:
            self.unsubscribe(conn, topic.name)
            raise
        if room.others.get(conn) is not sub:
            return False
        if topic.track_viewers:
            state["viewers"] = self.presence.total(topic.name)
        room.start(sub, replay, make_reply(replay, state))
        if history is not None and replay is not None and cacheable:
            self._seed(room, history, replay, since, limit)
        return True

    @staticmethod
    def _seed(room: Room, history: History, replay: Replay, since: int | None, limit: int) -> None:
        """Keep a database read as the room's cache when it ends where the room's feed stands."""
        if room.recent.floor is not None or room.last_id != history.last_id or room.pending:
            return
        if since is not None and since > history.last_id:
            return
        ids = [event.id for event in history.events]
        room.recent.seed(ids, replay.texts, since=None if history.truncated else since, capacity=limit)

    def unsubscribe(self, conn: Connection, topic: str) -> bool:
        room = self.rooms.get(topic)
        if room is None or not room.discard(conn):
            return False
        self.presence.changed(room)
        if not len(room):
            loop = asyncio.get_running_loop()
            loop.call_later(ROOM_LINGER, lambda: loop.create_task(room.leave_if_empty()))
        return True

    def drop(self, conn: Connection) -> None:
        """The connection is gone: remove it from every room it is in."""
        for topic in list(conn.subscriptions):
            self.unsubscribe(conn, topic)
        self.connections.discard(conn)

    # -- publishing -------------------------------------------------------------------------------
    async def publish(self, event: StoredEvent) -> bool:
        """Send an event to every process's hub. Stored events must be committed already.

        Returns False when the channel layer refused; stored events still arrive (the hubs' database
        sync finds them), ephemeral ones are lost, which is what ephemeral means.
        """
        try:
            await self.layer.group_send(group_for_topic(event.topic), event.as_message())
            return True
        except Exception as exc:
            logger.warning("Channel layer unavailable, %s on %s not published now (%s)",
                           event.name, event.topic, exc)
            return False

    async def publish_many(self, topic: str, events: list[StoredEvent]) -> bool:
        """Publish several committed events of one topic as one layer message (a batch of posts)."""
        if len(events) == 1:
            return await self.publish(events[0])
        try:
            await self.layer.group_send(group_for_topic(topic), {
                "type": "realtime.events", "topic": topic, "events": [e.as_message() for e in events]})
            return True
        except Exception as exc:
            logger.warning("Channel layer unavailable, %d events on %s not published now (%s)",
                           len(events), topic, exc)
            return False

    async def send_control(self, message: dict[str, Any]) -> None:
        try:
            await self.layer.group_send(CONTROL_GROUP, {"type": "realtime.control", **message})
        except Exception as exc:
            logger.warning("Channel layer unavailable, control message %s not sent (%s)",
                           message.get("action"), exc)
            self.on_control(message)  # at least this process acts on it

    # -- the layer reader -------------------------------------------------------------------------
    async def _read(self) -> None:
        failures = 0
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                delay = min(30.0, 0.5 * 2 ** min(failures, 6))
                logger.warning("Channel layer receive failed (%s); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                continue
            if failures:
                failures = 0
                # The layer may have restarted and forgotten our groups: join again, then catch up.
                asyncio.get_running_loop().create_task(self._rejoin_and_sync())
            try:
                self._dispatch(message)
            except Exception:
                logger.exception("Could not handle channel-layer message %r", message.get("type"))

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "realtime.event":
            room = self.rooms.get(message.get("topic", ""))
            if room is not None:
                room.accept(StoredEvent.from_message(message))
        elif kind == "realtime.events":
            room = self.rooms.get(message.get("topic", ""))
            if room is not None:
                room.accept_many([StoredEvent.from_message(item) for item in message.get("events", [])])
        elif kind == "realtime.control":
            self.on_control(message)
        elif kind == "realtime.presence":
            self.presence.receive(message)

    def on_control(self, message: dict[str, Any]) -> None:
        action = message.get("action")
        user_id = message.get("user_id")
        if action == "disconnect":
            session_key = message.get("session_key")
            for conn in list(self.connections):
                if conn.user_id == user_id and (session_key is None or conn.session_key == session_key):
                    conn.close_with(int(message.get("code", 4003)))
        elif action == "kick":
            room = self.rooms.get(message.get("topic", ""))
            for conn in room.connections() if room else []:
                if conn.user_id == user_id:
                    conn.kick(room.topic, message.get("code", "forbidden"), message.get("message", ""))

    # -- upkeep -----------------------------------------------------------------------------------
    async def _maintain(self) -> None:
        loop = asyncio.get_running_loop()
        last_rejoin = loop.time()
        interval = float(realtime_settings.SYNC_INTERVAL)
        while True:
            await asyncio.sleep(interval)
            try:
                if loop.time() - last_rejoin > REJOIN_INTERVAL:
                    last_rejoin = loop.time()
                    await self._rejoin()
                else:
                    for room in list(self.rooms.values()):
                        if not room.joined and len(room):
                            await room.ensure_joined()
                await self.sync()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("Hub upkeep failed; trying again in %s s", interval)

    async def _rejoin(self) -> None:
        await self.layer.group_add(CONTROL_GROUP, self.channel)
        for room in list(self.rooms.values()):
            async with room.lock:
                if room.joined:
                    await self.layer.group_add(room.group, self.channel)
            if not room.joined and len(room):
                await room.ensure_joined()

    async def _rejoin_and_sync(self) -> None:
        try:
            await self._rejoin()
            await self.sync()
        except Exception as exc:
            logger.warning("Re-joining channel-layer groups failed (%s); upkeep will retry", exc)

    async def sync(self) -> None:
        """Deliver stored events whose publish never reached us (lost message, layer outage)."""
        rooms = {t: r for t, r in self.rooms.items() if r.persistent and r.last_id is not None}
        if not rooms:
            return
        newest = await database_sync_to_async(eventlog.last_ids)(list(rooms))
        for topic, last in newest.items():
            room = rooms[topic]
            if room.last_id is not None and last > room.last_id and room.gap_task is None:
                await room.catch_up(last)


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()
# Tests bind a connection to another hub to stand in for a second process (realtime.testing).
bound_hub: contextvars.ContextVar[Hub | None] = contextvars.ContextVar("realtime_bound_hub", default=None)


async def get_hub() -> Hub:
    """This process's hub (one per event loop), started on first use."""
    hub = bound_hub.get()
    if hub is not None:
        await hub.start()
        return hub
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        layer = get_channel_layer()
        if layer is None:
            raise RuntimeError("realtime needs a channel layer: set CHANNEL_LAYERS (see `manage.py check`).")
        hub = _hubs[loop] = Hub(layer)
    await hub.start()
    return hub


def current_hub() -> Hub | None:
    """The hub of the running loop if one was started, without starting one."""
    try:
        return _hubs.get(asyncio.get_running_loop())
    except RuntimeError:
        return None


async def reset_hub() -> None:
    """Stop and forget this loop's hub (tests)."""
    hub = _hubs.pop(asyncio.get_running_loop(), None)
    if hub is not None:
        await hub.stop()
