"""One topic's subscribers in this process and its ordered, coalesced outgoing feed.

A subscription goes LOADING (its history is being read; live events are buffered for it) ->
CATCHING (history sent; live events are filtered by the id it has reached) -> LIVE (it has everything
the room has sent: events go to it with no per-subscriber work). A subscriber whose history read is
ahead of the room (events committed whose publish has not arrived yet) stays CATCHING until the room
gets there, so nothing is sent to it twice.

The room knows nothing of the channel layer: the hub joins and leaves groups and hands the room what
arrives. Reading the database is a function it is given, so the room can be tested alone.

Why this module is long: the three subscription states, the outgoing feed and the gap watch share one
invariant (every subscriber gets each event once, in order, with no hole), which is easier to check
in one place than across modules; what only decorates the feed lives beside it (`lastvalue`,
`listeners`, `frames`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..eventlog import History, StoredEvent
from ..ops import metrics
from ..transport import Frame
from .frames import encode, frames_for
from .lastvalue import KeyOf, compact
from .listeners import Listener, notify
from .recent import Replay
from .sequencer import Delivery, Sequencer
from .warmup import Warmup

if TYPE_CHECKING:
    from .hub import Connection

logger = logging.getLogger("realtime.hub")

GAP_GRACE = 0.25  # seconds an out-of-order event waits for the one before it before we read the DB
GAP_RETRY_MAX = 5.0  # seconds between attempts to fill a gap while the database is failing

LOADING, CATCHING, LIVE = "loading", "catching", "live"

ReadRange = Callable[[str, int, int], Awaitable[list[StoredEvent]]]
# Told after every flush: how late it started, how long its writes took, when it ended (`pacing.Pacer`).
FlushReport = Callable[[float, float, float], None]


class Subscription:
    """One connection's subscription to a room's topic."""

    __slots__ = ("conn", "topic", "state", "cursor", "buffer")

    def __init__(self, conn: Connection, topic: Any) -> None:
        self.conn = conn
        self.topic = topic  # the Topic object that authorised it (publish goes through it)
        self.state = LOADING
        self.cursor = 0  # highest event id this connection has been sent
        self.buffer: list[Delivery] = []  # live items that arrived while LOADING


class Room:
    def __init__(
        self,
        topic: str,
        *,
        persistent: bool,
        limit: int,
        window: Callable[[], float],
        read_range: ReadRange,
        on_flush: FlushReport | None = None,
        key_of: KeyOf | None = None,
    ) -> None:
        self.topic = topic
        self.persistent = persistent
        self.window = window
        self.on_flush = on_flush
        self.read_range = read_range
        self.key_of = key_of  # last value wins (`hub.lastvalue`): None for most kinds
        self.listeners: list[Listener] = []  # server-side code fed every accepted event (`hub.listeners`)
        self.sequencer = Sequencer(encode, limit)
        # LIVE subscribers map to their writer's bound `write`: the fan-out loop is one call per socket.
        self.live: dict[Connection, Callable[[Frame], bool]] = {}
        self.others: dict[Connection, Subscription] = {}
        self.subs: dict[Connection, Subscription] = {}
        self.outbox: list[Delivery] = []
        self.flush_handle: asyncio.TimerHandle | None = None
        self.last_flush = 0.0
        self.due = 0.0  # when the scheduled flush should run (its lateness measures the loop's lag)
        self.gap_task: asyncio.Task | None = None
        self.warmup = Warmup()
        self.expected = 0  # an id some subscriber has already been sent: the room must get there too
        self.holding = False  # accept_many() is adding several events: flush once at the end
        self.closed = False
        # Owned by the hub (channel-layer membership); here so the room's lifetime carries them.
        self.joined = False
        self.lock = asyncio.Lock()

    # -- membership -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.subs)

    def connections(self) -> list[Connection]:
        return list(self.subs)

    def add(self, conn: Connection, topic: Any) -> Subscription:
        sub = self.subs[conn] = self.others[conn] = Subscription(conn, topic)
        return sub

    def discard(self, conn: Connection) -> Subscription | None:
        self.live.pop(conn, None)
        self.others.pop(conn, None)
        return self.subs.pop(conn, None)

    def close(self) -> None:
        """The room is gone: no timer or task of it may run on."""
        self.closed = True
        if self.flush_handle is not None:
            self.flush_handle.cancel()
            self.flush_handle = None
        if self.gap_task is not None:
            self.gap_task.cancel()
            self.gap_task = None

    # -- subscribing ------------------------------------------------------------------------------
    def cached_replay(self, since: int | None, limit: int) -> Replay | None:
        if self.gap_task is not None:
            return None
        return self.sequencer.cached_replay(since, limit)

    async def warmed(self, since: int | None, limit: int) -> Replay | None:
        """The cached replay, once a history read in progress has warmed the cache (`warmup`)."""
        await self.warmup.wait()
        return self.cached_replay(since, limit)

    def start(self, sub: Subscription, replay: Replay | None, reply: str) -> None:
        """History is read: send the reply and the replay, then join the live feed without a gap."""
        write = sub.conn.writer.write
        write(Frame(reply))
        if replay is None:  # a topic that stores nothing: what arrived while loading is still owed
            for frame in frames_for([item.text for item in sub.buffer]):
                write(frame)
            sub.buffer = []
            self._promote(sub)
            return
        if self.sequencer.last_id is None:
            # The group was joined before this history read, so every later event reaches us live.
            self._queue(self.sequencer.begin(replay.last_id))
        for frame in frames_for(replay.texts):
            write(frame)
        sub.cursor = replay.last_id
        fresh = [item for item in sub.buffer if item.id is None or item.id > sub.cursor]
        if fresh:
            for frame in frames_for([item.text for item in fresh]):
                write(frame)
            sub.cursor = max([sub.cursor, *(item.id for item in fresh if item.id is not None)])
        sub.buffer = []
        sub.state = CATCHING
        if sub.cursor > (self.sequencer.last_id or 0):
            # Our history read saw events whose publish has not reached this room yet.
            self.expected = max(self.expected, sub.cursor)
            self._watch_gap()
        self._settle()

    def begin(self, last_id: int) -> None:
        """Start the live feed after `last_id` for a room that no subscriber began (a listener's)."""
        self._queue(self.sequencer.begin(last_id))
        self._watch_gap()

    def seed(self, history: History, replay: Replay) -> None:
        """Keep a database read as the cache of recent events when it fits the live feed."""
        self.sequencer.seed(history, replay.texts)

    def _promote(self, sub: Subscription) -> None:
        if self.others.pop(sub.conn, None) is not None:
            sub.state = LIVE
            self.live[sub.conn] = sub.conn.writer.write

    def _settle(self) -> None:
        """Promote catching subscribers that have everything the room has sent or will send."""
        if not self.others or any(item.id is not None for item in self.outbox):
            return
        reached = self.sequencer.last_id or 0
        for sub in [s for s in self.others.values() if s.state == CATCHING and s.cursor <= reached]:
            self._promote(sub)

    # -- incoming events --------------------------------------------------------------------------
    def accept(self, event: StoredEvent) -> None:
        if event.id is None or not self.persistent:
            self._queue([Delivery(None, encode(event), event)])
            return
        self._queue(self.sequencer.accept(event))
        self._watch_gap()

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

    def push(self, text: str) -> None:
        """Send an already-encoded ephemeral event (no id) to every subscriber, e.g. a viewer count."""
        self._queue([Delivery(None, text)])

    def _watch_gap(self) -> None:
        behind = self.sequencer.pending or self.expected > (self.sequencer.last_id or 0)
        if self.gap_task is None and not self.closed and behind and self.sequencer.last_id is not None:
            self.gap_task = asyncio.get_running_loop().create_task(self._fill_gap())

    async def _fill_gap(self) -> None:
        delay = GAP_GRACE
        try:
            while True:
                await asyncio.sleep(delay)
                try:
                    await self.catch_up(max(max(self.sequencer.pending, default=1) - 1, self.expected))
                except Exception as exc:  # the database is failing: keep the pending events, retry
                    delay = min(delay * 2, GAP_RETRY_MAX)
                    logger.warning(
                        "Could not fill a gap on %s from the database (%s); retrying in %.1f s",
                        self.topic,
                        exc,
                        delay,
                    )
                    continue
                last = self.sequencer.last_id or 0
                if not self.sequencer.pending and self.expected <= last:
                    return
                delay = GAP_GRACE
        finally:
            self.gap_task = None

    async def catch_up(self, upto: int) -> None:
        """Read events (last_id, upto] from the database and feed them in order."""
        last = self.sequencer.last_id
        if last is None or upto <= last:
            return
        events = await self.read_range(self.topic, last, upto)
        deliveries, skipped = self.sequencer.fill(events, upto)
        for first, end in skipped:
            logger.warning(
                "Events %s..%s of %s are not in the database (rolled back or pruned); moving past them",
                first,
                end,
                self.topic,
            )
        self._queue(deliveries)
        self._settle()

    # -- outgoing ---------------------------------------------------------------------------------
    def _queue(self, items: list[Delivery]) -> None:
        """Add encoded events to the outgoing feed; the first after a quiet spell leaves at once."""
        if not items:
            return
        if self.listeners:
            notify(self.listeners, [item.event for item in items])
        self.outbox.extend(items)
        if not self.holding:
            self._schedule_flush()

    def _schedule_flush(self) -> None:
        if self.flush_handle is not None or self.closed:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        delay = self.last_flush + self.window() - now
        if delay <= 0:
            self.due = now
            self.flush()
        else:
            self.due = now + delay
            self.flush_handle = loop.call_later(delay, self.flush)

    def flush(self) -> None:
        self.flush_handle = None
        loop = asyncio.get_running_loop()
        self.last_flush = start = loop.time()
        items, self.outbox = self.outbox, []
        if not items:
            return
        if self.key_of is not None:
            items = compact(items, self.key_of)
        late, self.due = (max(start - self.due, 0.0) if self.due else 0.0), 0.0
        live, frames = len(self.live), self._send(items)  # live sockets before: once per flush
        metrics.room_flushed(len(frames) * live, len(items) * live, late)
        if self.on_flush is not None:
            end = loop.time()
            self.on_flush(late, end - start, end)

    def _send(self, items: list[Delivery]) -> list[Frame]:
        frames = frames_for([item.text for item in items])
        if len(frames) == 1:
            frame = frames[0]
            for write in self.live.values():
                write(frame)
        else:
            for write in self.live.values():
                for frame in frames:
                    write(frame)
        if not self.others:
            return frames
        top = max((item.id for item in items if item.id is not None), default=None)
        for sub in list(self.others.values()):
            if sub.state == LOADING:
                sub.buffer.extend(items)
                continue
            fresh = [item for item in items if item.id is None or item.id > sub.cursor]
            for frame in frames if len(fresh) == len(items) else frames_for([item.text for item in fresh]):
                sub.conn.writer.write(frame)
            if top is not None and top > sub.cursor:
                sub.cursor = top
        self._settle()
        return frames
