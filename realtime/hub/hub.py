"""The process hub: the one channel-layer reader of a process, and the owner of every subscription.

Why: the Channels tutorial puts every consumer in the group, so one comment costs one channel-layer
message, one msgpack decode, one JSON encode and one task wake-up per viewer. Here a topic's group is
joined once per process (first local subscriber) and left with the last; an event crosses the layer once
per process, is encoded once, and the same bytes go to every local socket (`realtime.hub.room`).

The hub alone decides who is subscribed to what: connections ask it to subscribe and unsubscribe, and
its control messages (disconnect a user, kick a subscriber, re-check a topic's permissions) reach every
process. `health` probes the layer and brings the hub back into its groups after an outage; `upkeep`
reads the database for events whose publish never arrived and for access revoked while sockets stay open.

Why this module is long: subscribing, listening (`listen`), leaving groups and publishing all change
the same rooms and memberships under the same rules (a room lives while a socket or a listener holds
it, joins its group once, lingers when empty); they read best side by side, and the parts that need
no such map live in the modules named above.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any, Protocol, TypeVar

from ..conf import realtime_settings
from ..eventlog import History, StoredEvent
from ..layerlink import link_for
from ..ops import metrics
from ..outage import Outage
from ..serverpatch import lighten_autobahn
from ..topics.base import Topic
from ..topics.names import CONTROL_GROUP, group_for_topic
from ..transport import Writer
from . import control, reader, upkeep
from .frames import encode
from .health import LayerHealth
from .lastvalue import newest_only
from .listeners import Listener, Listening, listen
from .pacing import Pacer
from .recent import Replay
from .room import Room, Subscription

# Seconds an empty room stays joined (with its recent events) before leaving the layer group: a viewer
# reloading the page comes back to a warm room instead of a new group_add and a database read.
ROOM_LINGER = 5.0

T = TypeVar("T")


class Connection(Protocol):
    """What the hub needs of a socket (the consumer implements it)."""

    writer: Writer
    hub: Hub
    user: Any
    user_id: int | None
    session_key: str | None
    scope: dict[str, Any]

    def kicked(self, topic: str, code: str, message: str) -> None: ...
    def close_with(self, code: int) -> None: ...


class Hub:
    """One per event loop (daphne runs one loop per process). Get it with `await get_hub()`."""

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        # Every call to the layer goes through the link: bounded by LAYER_TIMEOUT, failing fast while
        # the layer is known to be down (realtime.layerlink). `health` is what marks it up again.
        self.link = link_for(layer)
        self.channel = ""
        self.rooms: dict[str, Room] = {}
        self.memberships: dict[Connection, dict[str, Subscription]] = {}
        # A plain set, like `memberships`: `drop()` (every connection's teardown) takes each out. A
        # WeakSet cost a weak reference per socket (~0.1 KB of an idle socket's ~21 KB).
        self.connections: set[Connection] = set()
        self.pacer = Pacer.from_settings()  # the rooms' coalescing window, widened while they fall behind
        self.history_limit = int(realtime_settings.HISTORY_LIMIT)
        self.tasks: set[asyncio.Task] = set()
        # Per-hub helpers features attach (viewer counts, reaction sums), keyed by their class.
        self.services: dict[type, Any] = {}
        # Extension points for features: handlers of layer message types, and room observers.
        self.handlers: dict[str, Callable[[dict[str, Any]], None]] = {}
        self.room_observers: list[Callable[[Room], None]] = []
        self.closed_observers: list[Callable[[str], None]] = []
        self.health = LayerHealth(self)
        self.database = Outage("Database", "what needs it is refused as `unavailable` (clients retry)")
        self._started = asyncio.Event()
        self._starting = False
        self.stopped = False

    # -- lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        if self._starting:
            await self._started.wait()
            return
        self._starting = True
        lighten_autobahn()  # the first connection pays for it; every later one does not
        try:
            self.channel = await self.link.new_channel("realtime.hub.")
        except BaseException:
            self._starting = False  # the next connection tries again instead of waiting for ever
            raise
        # Bounded, and failing at once while the layer is known to be down: a process started during an
        # outage still greets its connections (the health probe joins once the layer answers).
        await self.link.group_add(CONTROL_GROUP, self.channel, during="joining the control group")
        self.spawn(reader.read(self))
        self.spawn(self.health.run())
        self.spawn(upkeep.maintain(self))
        self._started.set()

    async def stop(self) -> None:
        """Stop reading and leave every layer group, so other processes stop sending to this one."""
        self.stopped = True
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for room in self.rooms.values():
            room.close()
        groups = [group_for_topic(room.topic) for room in self.rooms.values() if room.joined] + [
            CONTROL_GROUP
        ]
        # One at a time: the first to time out marks the layer down, the rest fail at once (expiring there).
        for group in groups:
            await self.link.group_discard(group, self.channel, during="leaving groups while stopping")
        self.health.stop_listening()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task:
        """Run a background task that the hub keeps a reference to and cancels when it stops."""
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def service(self, cls: type[T]) -> T:
        """This hub's instance of a per-process helper (`cls(hub)`), made on first use."""
        if cls not in self.services:
            self.services[cls] = cls(self)  # type: ignore[call-arg]  # every service takes the hub
        return self.services[cls]

    def on_message(self, kind: str, handler: Callable[[dict[str, Any]], None]) -> None:
        """Handle channel-layer messages of type `kind` sent to every hub (see `send_to_hubs`)."""
        self.handlers[kind] = handler

    # -- subscriptions ----------------------------------------------------------------------------
    def subscriptions(self, conn: Connection) -> dict[str, Subscription]:
        """The connection's subscriptions by topic name, including those still loading."""
        return self.memberships.get(conn, {})

    def topic_of(self, conn: Connection, name: str) -> Topic | None:
        sub = self.memberships.get(conn, {}).get(name)
        return sub.topic if sub is not None else None

    async def subscribe(
        self,
        conn: Connection,
        topic: Topic,
        since: int | None,
        make_reply: Callable[[Replay | None, dict], str],
    ) -> bool:
        """Add `conn` to `topic`; send it the reply, its history and then the live feed.

        History comes from the room's cache of recent events when it can answer, else the database.
        Subscribing again to a topic replays from the new `since`. Returns False if the connection
        went away (or was unsubscribed or kicked) while history was being read.
        """
        self.unsubscribe(conn, topic.name)
        room = self._room(topic)
        sub = room.add(conn, topic)
        self.memberships.setdefault(conn, {})[topic.name] = sub
        self._changed(room)
        limit = self.history_limit
        # Only the stock history can be answered from memory; a topic kind may define its own. The
        # memory holds every event: a last-value-wins kind's replay is compacted from a read instead.
        cacheable = type(topic).history is Topic.history and room.key_of is None
        history: History | None = None
        warming = None
        try:
            await self.join(room)
            replay = await room.warmed(since, limit) if topic.persistent and cacheable else None
            if topic.persistent and replay is None:
                warming = room.warmup.start() if cacheable else None
                history = await topic.history(since, limit)
                if room.key_of is not None:
                    history = replace(history, events=newest_only(history.events, room.key_of))
                replay = Replay([encode(e) for e in history.events], history.last_id, history.truncated)
            state = await topic.state(conn)
        except BaseException:
            room.warmup.done(warming)
            if self.subscriptions(conn).get(topic.name) is sub:
                self.unsubscribe(conn, topic.name)
            raise
        current = self.subscriptions(conn).get(topic.name) is sub
        if current:
            room.start(sub, replay, make_reply(replay, state))
            if history is not None and replay is not None and cacheable:
                room.seed(history, replay)
        room.warmup.done(warming)  # after the seed: whoever waited for this read finds the cache warm
        return current

    def _room(self, topic: Topic) -> Room:
        room = self.rooms.get(topic.name)
        if room is None:
            lasting = type(topic).compact_key is not Topic.compact_key
            window = self.pacer.current
            if type(topic).min_window is not Topic.min_window:
                window = lambda: max(self.pacer.current(), topic.min_window())  # noqa: E731
            room = self.rooms[topic.name] = Room(
                topic.name,
                persistent=topic.persistent,
                limit=self.history_limit,
                window=window,
                read_range=upkeep.read_range,
                on_flush=self.pacer.flushed,
                key_of=topic.compact_key if lasting else None,
            )
        return room

    async def listen(self, topic: Topic, callback: Listener) -> Listening:
        """Feed `callback` every event of `topic` this process's room accepts, in order and once each,
        whether the layer, the database sync or the in-memory layer's watch brought it (`listeners`).

        For server-side code that reacts to a topic in each process (`realtime.live` re-renders what
        its sockets show). The hub joins the topic's group as for a first subscriber; the callback
        runs in the event loop and must not block. Close the returned handle to stop.
        """
        return await listen(self, self._room(topic), callback)

    def deliver(self, event: StoredEvent) -> bool:
        """Send an ephemeral event to this process's subscribers of its topic only (not through the
        layer, not stored): what each process computes for its own sockets. False: none here."""
        room = self.rooms.get(event.topic)
        if room is None or not len(room):
            return False
        room.accept(replace(event, id=None))
        return True

    def release(self, room: Room) -> None:
        """Nothing holds the room any more: leave its group after the linger (unless it is taken)."""
        if not self.stopped:
            asyncio.get_running_loop().call_later(ROOM_LINGER, self._linger_over, room)

    def unsubscribe(self, conn: Connection, topic: str) -> bool:
        subs = self.memberships.get(conn)
        if not subs or subs.pop(topic, None) is None:
            return False
        if not subs:
            del self.memberships[conn]
        room = self.rooms.get(topic)
        if room is None or room.discard(conn) is None:
            return True
        self._changed(room)
        if not len(room) and not room.listeners:
            self.release(room)
        return True

    def _linger_over(self, room: Room) -> None:
        if not self.stopped:  # a stopped hub has left its groups already
            self.spawn(self._leave_if_empty(room))

    def drop(self, conn: Connection) -> None:
        """The connection is gone: remove it from every room it is in. Safe to call more than once."""
        for topic in list(self.memberships.get(conn, {})):
            self.unsubscribe(conn, topic)
        self.connections.discard(conn)

    def kick(self, conn: Connection, topic: str, code: str, message: str) -> None:
        """End one subscription from the server side; the connection is told and stays open."""
        if self.unsubscribe(conn, topic):
            conn.kicked(topic, code, message)

    def _changed(self, room: Room) -> None:
        for observer in self.room_observers:
            observer(room)

    # -- channel-layer groups ---------------------------------------------------------------------
    async def join(self, room: Room, *, probe: bool = False) -> bool:
        """Join the room's layer group; False if the layer is down or slower than LAYER_TIMEOUT (the probe
        joins it once the layer answers). `probe`: the health probe's own, tried even while it is down."""
        async with room.lock:
            if room.joined:
                return True
            group = group_for_topic(room.topic)
            if await self.link.group_add(group, self.channel, during=f"joining {room.topic}", probe=probe):
                room.joined = True
                return True
            return False

    async def _leave_if_empty(self, room: Room) -> None:
        async with room.lock:
            if len(room) or room.listeners or self.rooms.get(room.topic) is not room:
                return
            if room.joined:
                # Failing (noted by the link) leaves a membership that expires in the layer by itself.
                await self.link.group_discard(
                    group_for_topic(room.topic), self.channel, during=f"leaving {room.topic}"
                )
                room.joined = False
                # From here on events pass the room by: if a returning viewer keeps it, what it
                # remembers must not answer them (their database read brings the room up to date).
                room.sequencer.recent.clear()
            # A subscriber that arrived during the await keeps the room (and re-joins under the lock).
            if len(room) or room.listeners or self.rooms.get(room.topic) is not room:
                return
            del self.rooms[room.topic]
            room.close()
        for observer in self.closed_observers:
            observer(room.topic)

    # -- publishing -------------------------------------------------------------------------------
    async def publish(self, event: StoredEvent) -> bool:
        """Send an event (committed, if stored) to every process's hub; False if the layer refused: stored
        events still arrive (the hubs' database sync), ephemeral ones are lost, as ephemeral means."""
        return await self.publish_many(event.topic, [event])

    async def publish_many(self, topic: str, events: list[StoredEvent]) -> bool:
        """Publish several committed events of one topic as one layer message (a batch of posts).

        Never waits longer than LAYER_TIMEOUT, and returns False at once while the layer is known to be
        down (the outage is logged once, not per publish); the hubs' database sync and the catch-up on
        the layer's recovery deliver stored events then."""
        if len(events) == 1:
            message = events[0].as_message()
        else:
            message = {"type": "realtime.events", "topic": topic, "events": [e.as_message() for e in events]}
        sent = await self.link.group_send(group_for_topic(topic), message, during=f"publishing on {topic}")
        return metrics.published(topic, len(events), sent)

    async def send_to_hubs(self, message: dict[str, Any]) -> bool:
        """Send a message to every process's hub; False if the layer refused, or at once while it is
        down (the message is lost: use it for what may be, like periodic reports)."""
        return await self.link.group_send(
            CONTROL_GROUP, message, during=f"sending {message.get('type')} to every process"
        )

    # -- what other processes send ---------------------------------------------------------------
    def on_control(self, message: dict[str, Any]) -> None:
        control.handle(self, message)

    async def sync(self) -> None:
        """Deliver stored events whose publish never reached us (lost message, layer outage)."""
        await upkeep.sync(self)
