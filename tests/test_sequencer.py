"""Property tests of the pure ordering logic (`realtime.hub.sequencer`, `realtime.hub.recent`).

A generated topic history (dense ids; some events are markers, some markers withdraw or restore an
earlier comment) is committed one event at a time while a sequencer sees it the way a room does: live
copies in any order, duplicated or lost, its first history read (`begin`) at any point, gap fills and
database syncs reading a fake database, and cached replays asked for at random `since` values.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realtime import eventlog
from realtime.eventlog import History, StoredEvent
from realtime.hub.recent import Item, select_replay
from realtime.hub.sequencer import Sequencer

TOPIC = "broadcast.all"
CONTENT, MARKER, WITHDRAW, RESTORE = "content", "marker", "withdraw", "restore"
PROPERTIES = settings(max_examples=200, deadline=None)


@dataclass(frozen=True)
class Spec:
    """One event of a generated history: a comment, a plain marker, or a marker that withdraws or
    restores the comment `target` (as moderation does, in the same transaction)."""

    kind: str
    target: int | None = None

    @property
    def marker(self) -> bool:
        return self.kind != CONTENT


@st.composite
def histories(draw, max_size: int = 24) -> tuple[Spec, ...]:
    size = draw(st.integers(1, max_size))
    specs: list[Spec] = []
    content: list[int] = []
    withdrawn: set[int] = set()
    for id in range(1, size + 1):
        visible = [c for c in content if c not in withdrawn]
        kinds = [CONTENT, CONTENT, MARKER] + [WITHDRAW] * bool(visible) + [RESTORE] * bool(withdrawn)
        kind = draw(st.sampled_from(kinds))
        target = None
        if kind == CONTENT:
            content.append(id)
        elif kind == WITHDRAW:
            # Mostly a recent comment: one whose publish may still be waiting behind a gap.
            target = draw(st.sampled_from(visible[-2:]) | st.sampled_from(visible))
            withdrawn.add(target)
        elif kind == RESTORE:
            target = draw(st.sampled_from(sorted(withdrawn)))
            withdrawn.discard(target)
        specs.append(Spec(kind, target))
    return tuple(specs)


def encode(event: StoredEvent) -> str:
    # A withdrawn copy must never be encoded: the mark makes it visible if it were.
    return f"#{event.id}" + ("!" if event.withdrawn else "")


class FakeLog:
    """The database as the history stood once events 1..`at` were committed."""

    def __init__(self, specs: tuple[Spec, ...]) -> None:
        self.specs = specs

    def __len__(self) -> int:
        return len(self.specs)

    def spec(self, id: int) -> Spec:
        return self.specs[id - 1]

    def withdrawn(self, at: int) -> set[int]:
        gone: set[int] = set()
        for spec in self.specs[:at]:
            if spec.kind == WITHDRAW:
                gone.add(spec.target)
            elif spec.kind == RESTORE:
                gone.discard(spec.target)
        return gone

    def ever_withdrawn(self) -> set[int]:
        return {spec.target for spec in self.specs if spec.kind == WITHDRAW}

    def live(self, id: int) -> StoredEvent:
        """The copy a publish carries (as stored: not withdrawn; resets_history rides along)."""
        spec = self.spec(id)
        return StoredEvent(
            TOPIC,
            spec.kind,
            {"n": id},
            id=id,
            marker=spec.marker,
            resets_history=spec.kind in (WITHDRAW, RESTORE),
        )

    def row(self, id: int, at: int) -> StoredEvent:
        """The copy a database read returns (`StoredEvent.from_row`: no resets_history)."""
        spec = self.spec(id)
        return StoredEvent(
            TOPIC, spec.kind, {"n": id}, id=id, marker=spec.marker, withdrawn=id in self.withdrawn(at)
        )

    def read_range(self, after: int, upto: int, at: int) -> list[StoredEvent]:
        return [self.row(id, at) for id in range(after + 1, upto + 1)]

    def items(self, newest: int, at: int) -> list[Item]:
        """The replayable events up to `newest`, for `select_replay`."""
        gone = self.withdrawn(at)
        return [Item(id, self.spec(id).marker, f"#{id}") for id in range(1, newest + 1) if id not in gone]

    def read_history(self, since: int | None, limit: int, newest: int) -> History:
        """`eventlog.read_history` over this log, by way of `select_replay` (the one definition)."""
        if since is not None and since >= newest:
            return History([], newest, since > newest, floor=newest if since == newest else None)
        items = self.items(newest, newest)
        chosen, truncated = select_replay(items, since, limit)
        content = [item for item in items if not item.marker and (since is None or item.id > since)]
        if len(content) <= limit:
            floor = since or 0
        else:
            floor = content[-limit].id - 1 if limit > 0 else newest
        return History(
            [self.row(item.id, newest) for item in chosen],
            newest,
            truncated,
            floor=floor,
            content_below=len(content) > limit,
        )


def since_values(last_id: int | None, floor: int | None) -> st.SearchStrategy[int | None]:
    top = (last_id or 0) + 2
    near_floor = [] if floor is None else [max(floor - 1, 0), floor, floor + 1]
    return st.one_of(st.none(), st.just(0), st.sampled_from(near_floor or [0]), st.integers(0, top))


class Run:
    """One interleaving, checked as it goes."""

    def __init__(self, data: st.DataObject, log: FakeLog, limit: int) -> None:
        self.data = data
        self.log = log
        self.limit = limit
        self.sequencer = Sequencer(encode, limit)
        self.committed = 0
        self.in_flight: list[int] = []  # publishes on their way: duplicates, or none if lost
        self.delivered: list[int] = []
        self.begun: int | None = None
        self.dropped: set[int] = set()  # read as withdrawn before being delivered: must never be
        self.replays_answered = 0

    def draw(self, strategy):
        return self.data.draw(strategy)

    def take(self, deliveries) -> None:
        for delivery in deliveries:
            assert delivery.text == f"#{delivery.id}", delivery
            assert not self.delivered or delivery.id > self.delivered[-1], (self.delivered, delivery)
            assert self.begun is not None and delivery.id > self.begun
            self.delivered.append(delivery.id)

    def check(self) -> None:
        seq = self.sequencer
        if seq.last_id is None:
            assert not self.delivered and seq.missing() is None
            return
        assert seq.last_id <= self.committed
        assert all(id > seq.last_id + 1 for id in seq.pending), "a deliverable event was left waiting"
        assert seq.missing() == ((seq.last_id, max(seq.pending)) if seq.pending else None)

    # -- what can happen ----------------------------------------------------------------------------
    def commit(self) -> None:
        if self.committed < len(self.log):
            self.committed += 1
            self.in_flight += [self.committed] * self.draw(st.sampled_from([0, 1, 1, 1, 2]))

    def arrive(self) -> None:
        if self.in_flight:
            newest_first = st.just(len(self.in_flight) - 1)  # overtaking publishes open gaps
            id = self.in_flight.pop(self.draw(newest_first | st.integers(0, len(self.in_flight) - 1)))
            self.take(self.sequencer.accept(self.log.live(id)))

    def begin(self) -> None:
        point = self.draw(st.integers(0, self.committed))
        out = self.sequencer.begin(point)
        if self.begun is None:
            self.begun = point
        else:
            assert out == []
        self.take(out)

    def fill(self, after: int, upto: int, at: int) -> None:
        """A database read of (after, upto] made when `at` events were committed."""
        events = self.log.read_range(after, upto, at)
        last = self.sequencer.last_id
        if last is not None:
            self.dropped |= {e.id for e in events if e.withdrawn and e.id > last}
        out, skipped = self.sequencer.fill(events, upto)
        assert skipped == []  # the fake database has every id
        self.take(out)

    def fill_gap(self) -> None:
        gap = self.sequencer.missing()
        if gap is not None:
            after, upto = gap
            self.fill(after, upto, self.draw(st.just(self.committed) | st.integers(upto, self.committed)))

    def catch_up(self) -> None:
        """A sync or a catch-up to an id a subscriber was sent; the read may have started earlier."""
        last = self.sequencer.last_id
        if last is None or last >= self.committed:
            return
        after = self.draw(st.integers(max(last - 3, 0), last))
        upto = self.draw(st.integers(after + 1, self.committed))
        self.fill(after, upto, self.draw(st.integers(upto, self.committed)))

    def seed(self) -> None:
        """A subscriber's database read (possibly slow: made at any point since the room's last id)."""
        last = self.sequencer.last_id
        if last is None:
            return
        newest = self.draw(st.sampled_from([last, last]) | st.integers(last, self.committed))
        since = self.draw(since_values(newest, None))
        history = self.log.read_history(since, self.limit, newest)
        self.sequencer.seed(history, [encode(event) for event in history.events])

    def subscribe(self) -> None:
        """Subscribers arrive: the first reads the database (seeding the cache), the others may not."""
        self.seed()
        for _ in range(3):
            self.replay()

    def replay(self) -> None:
        seq = self.sequencer
        since = self.draw(since_values(seq.last_id, seq.recent.floor))
        replay = seq.cached_replay(since, self.limit)
        assert seq.cached_replay(since, self.limit + 1) is None  # cached for one limit only
        if seq.last_id is None or seq.pending:
            assert replay is None
        if replay is None:
            return
        self.replays_answered += 1
        items = self.log.items(seq.last_id, seq.last_id)
        chosen, truncated = select_replay(items, since, self.limit)
        assert (replay.texts, replay.last_id, replay.truncated) == (
            [i.text for i in chosen],
            seq.last_id,
            truncated,
        )

    def settle(self) -> None:
        """Everything committed; the database sync reads what never arrived."""
        while self.committed < len(self.log):
            self.commit()
        if self.sequencer.last_id is None:
            self.begin()
        self.fill(self.sequencer.last_id, len(self.log), len(self.log))
        self.check()
        assert self.sequencer.last_id == len(self.log) and not self.sequencer.pending
        for id in self.in_flight:  # late and duplicate publishes change nothing now
            assert self.sequencer.accept(self.log.live(id)) == []


def run(data, specs, limit) -> Run:
    state = Run(data, FakeLog(specs), limit)
    actions = (
        [state.commit] * 3
        + [state.arrive] * 3
        + [state.begin, state.fill_gap, state.catch_up, state.seed, state.subscribe, state.replay]
    )
    for _ in range(data.draw(st.integers(0, 6 * len(specs) + 10))):
        data.draw(st.sampled_from(actions))()
        state.check()
    state.settle()
    state.subscribe()
    return state


@PROPERTIES
@given(st.data(), histories(), st.integers(1, 4))
def test_every_event_is_delivered_once_in_order_and_replays_match_the_database(data, specs, limit):
    state = run(data, specs, limit)
    log = state.log
    expected = [id for id in range(state.begun + 1, len(log) + 1) if id not in state.dropped]
    assert state.delivered == expected
    # Only comments can be dropped, and only one withdrawn at some point: markers always arrive.
    assert state.dropped <= log.ever_withdrawn()


@PROPERTIES
@given(histories(), st.integers(0, 4), st.data())
def test_a_seeded_cache_answers_like_the_database_as_events_arrive(specs, limit, data):
    """The cache alone: seeded from any read that ends where the feed stands, then fed live events."""
    log = FakeLog(specs)
    start = data.draw(st.integers(0, len(log)))
    sequencer = Sequencer(encode, limit)
    sequencer.begin(start)
    history = log.read_history(data.draw(since_values(start, None)), limit, start)
    sequencer.seed(history, [encode(event) for event in history.events])
    for id in range(start, len(log) + 1):
        if id > start:
            sequencer.accept(log.live(id))
        for since in [None, 0, *range(id + 2)]:
            replay = sequencer.cached_replay(since, limit)
            if replay is not None:
                chosen, truncated = select_replay(log.items(id, id), since, limit)
                assert (replay.texts, replay.truncated) == ([item.text for item in chosen], truncated), since


def test_the_property_runs_exercise_cached_replays():
    """Guard against a generator that never lets the cache answer (the property would be vacuous)."""
    answered = []

    @settings(max_examples=50, deadline=None)
    @given(st.data(), histories(), st.integers(1, 4))
    def probe(data, specs, limit):
        answered.append(run(data, specs, limit).replays_answered)

    probe()
    assert sum(answered) > 20


# -- the reference against the real database ---------------------------------------------------------
_topics = itertools.count(1)


def store(topic: str, specs: tuple[Spec, ...]) -> None:
    for spec in specs:
        with transaction.atomic():
            if spec.kind == WITHDRAW:
                eventlog.withdraw(topic, spec.target)
            elif spec.kind == RESTORE:
                eventlog.restore(topic, spec.target)
            eventlog.store_event(
                topic, spec.kind, {}, marker=spec.marker, resets_history=spec.kind in (WITHDRAW, RESTORE)
            )


@pytest.mark.django_db
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=histories(max_size=14))
def test_the_reference_agrees_with_read_history(specs):
    topic = f"broadcast.x{next(_topics)}"
    store(topic, specs)
    log = FakeLog(specs)
    newest = len(log)
    assert [e.withdrawn for e in eventlog.read_range(topic, 0, newest)] == [
        e.withdrawn for e in log.read_range(0, newest, newest)
    ]
    for limit in range(5):
        for since in [None, *range(newest + 2)]:
            real = eventlog.read_history(topic, since, limit)
            fake = log.read_history(since, limit, newest)
            assert (
                [(e.id, e.marker) for e in real.events],
                real.last_id,
                real.truncated,
                real.floor,
                real.content_below,
            ) == (
                [(e.id, e.marker) for e in fake.events],
                fake.last_id,
                fake.truncated,
                fake.floor,
                fake.content_below,
            ), (since, limit)
            if real.floor is not None:  # the claim a cache is seeded on: every replayable event above it
                above = [i.id for i in log.items(newest, newest) if i.id > real.floor]
                assert above == [e.id for e in real.events]
