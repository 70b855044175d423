"""The per-topic event log: storing events with dense ids, and reading them back for resume.

Storing happens inside the caller's transaction; the id counter row is updated first, which takes the
write lock (a row lock on PostgreSQL, the database lock on SQLite), so two writers on one topic queue up
and committed ids have no holes. That density is what lets a hub tell "not arrived yet" from "never".

Why this module is long: it is the one place that knows the log's invariants (ids dense per topic,
counters locked one topic at a time or several in one global order by `store_on_topics`, replays and
pruning that rely on the density), and each part is checked against the others' assumptions; split,
the rules that keep PostgreSQL from deadlocking would sit apart from the counters they protect.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connections, router, transaction
from django.db.models import F
from django.db.models.functions import Collate

from .inserts import insert
from .models import Event, TopicSequence
from .ops import metrics


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as it travels: plain values only (the channel layer serialises with msgpack)."""

    topic: str
    name: str
    data: dict[str, Any]
    id: int | None = None
    at: str | None = None
    withdrawn: bool = False
    #: A marker announces a change to earlier events or to the topic's state (`comment.deleted`,
    #: `stream.updated`): replayed with the events it concerns, never counted against HISTORY_LIMIT.
    marker: bool = False
    #: This event changes earlier history (an event withdrawn or restored): caches of recent events must
    #: be dropped. Always a marker.
    resets_history: bool = False

    def as_message(self) -> dict[str, Any]:
        return {
            "type": "realtime.event",
            "topic": self.topic,
            "event": self.name,
            "data": self.data,
            "id": self.id,
            "at": self.at,
            "withdrawn": self.withdrawn,
            "marker": self.marker,
            "resets_history": self.resets_history,
        }

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> StoredEvent:
        return cls(
            topic=message["topic"],
            name=message["event"],
            data=message.get("data") or {},
            id=message.get("id"),
            at=message.get("at"),
            withdrawn=bool(message.get("withdrawn")),
            marker=bool(message.get("marker")),
            resets_history=bool(message.get("resets_history")),
        )

    @classmethod
    def from_row(cls, row: Event) -> StoredEvent:
        return cls(
            topic=row.topic,
            name=row.name,
            data=row.data,
            id=row.seq,
            at=row.created_at.isoformat(),
            withdrawn=row.withdrawn,
            marker=row.marker,
        )


@dataclass(frozen=True, slots=True)
class History:
    """A replay read from the database (see `realtime.hub.recent.select_replay` for what it holds)."""

    events: list[StoredEvent]
    last_id: int
    truncated: bool
    #: Every replayable event with an id above `floor` (up to `last_id`) is in `events`; None when that
    #: is not so (too many markers to return them all), and the read cannot seed a room's cache.
    floor: int | None = None
    #: A replayable event that is not a marker is known to lie at or below `floor`.
    content_below: bool = False


#: Markers returned with one replay at most (a moderator deleting thousands of comments in a minute).
MAX_REPLAY_MARKERS = 1000


def next_id(topic: str) -> int:
    """Allocate the next id on `topic`. Must run inside `transaction.atomic()`."""
    return reserve_ids(topic, 1)


def store_event(
    topic: str, name: str, data: dict[str, Any], *, marker: bool = False, resets_history: bool = False
) -> StoredEvent:
    """Append an event to `topic`'s log. Must run inside `transaction.atomic()`; publish after commit.

    `marker`: the event announces a change of state or of earlier events rather than being content
    itself (replayed with the content, not counted against `HISTORY_LIMIT`). `resets_history`: it
    announces that earlier events were withdrawn or restored (implies `marker`).
    """
    marker = marker or resets_history
    row = Event.objects.create(topic=topic, seq=next_id(topic), name=name, data=data, marker=marker)
    metrics.stored(topic)
    stored = StoredEvent.from_row(row)
    return replace(stored, resets_history=True) if resets_history else stored


def reserve_ids(topic: str, count: int) -> int:
    """Allocate `count` consecutive ids on `topic` in one statement; return the first.

    Must run inside `transaction.atomic()`, like `next_id()`.
    """
    last = _increment(topic, count)
    if last is not None:
        return last - count + 1
    try:
        # First event on this topic. A savepoint so a racing creator does not poison the transaction.
        with transaction.atomic():
            TopicSequence.objects.create(topic=topic, last_id=count)
        return 1
    except IntegrityError:
        return reserve_ids(topic, count)


def _increment(topic: str, count: int) -> int | None:
    """Add `count` to the topic's counter; its new value, or None when the topic has no counter yet."""
    connection = connections[router.db_for_write(TopicSequence)]
    if connection.vendor == "postgresql" or (
        connection.vendor == "sqlite" and connection.features.can_return_columns_from_insert
    ):
        # One statement instead of an UPDATE and a SELECT: this runs for every stored batch, and the
        # ORM's per-statement cost is what limits how many batches a process stores a second.
        # (SQLite >= 3.35, the same version test Django uses for INSERT ... RETURNING.)
        table = connection.ops.quote_name(TopicSequence._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET last_id = last_id + %s WHERE topic = %s RETURNING last_id",
                [count, topic],
            )
            row = cursor.fetchone()
        return None if row is None else int(row[0])
    if TopicSequence.objects.filter(topic=topic).update(last_id=F("last_id") + count):
        return TopicSequence.objects.values_list("last_id", flat=True).get(topic=topic)
    return None


def store_on_topics(
    items: Sequence[tuple[str, str, dict[str, Any]]], *, marker: bool = False, resets_history: bool = False
) -> list[StoredEvent]:
    """Store events on several topics in the caller's transaction; the events, in the order given.
    Publish them after commit.

    Every transaction that stores on more than one topic must come through here. Each topic's
    counter row is locked while ids are reserved on it, so two transactions taking shared topics in
    different orders deadlock on PostgreSQL, which then aborts one of them (a receipt batch's
    dismissals, a round of an announcement: lost). Here the topics are locked and reserved one
    after another sorted by name, the one order every multi-topic writer shares; then all events go
    in one INSERT. Call it before anything else in the transaction locks one of these topics.
    `marker` and `resets_history` as for `store_event`, for every event.
    """
    marker = marker or resets_history
    counts: dict[str, int] = {}
    for topic, _name, _data in items:
        counts[topic] = counts.get(topic, 0) + 1
    following = _reserve_in_order(counts)  # topic -> the next id to hand out
    rows = []
    for topic, name, data in items:
        rows.append(Event(topic=topic, seq=following[topic], name=name, data=data, marker=marker))
        following[topic] += 1
    metrics.stored_many([topic for topic, _name, _data in items])
    stored = [StoredEvent.from_row(row) for row in Event.objects.bulk_create(rows)]
    return [replace(event, resets_history=True) for event in stored] if resets_history else stored


#: Topics locked and reserved per statement by `store_on_topics` on PostgreSQL.
RESERVE_CHUNK = 500


def _reserve_in_order(counts: dict[str, int]) -> dict[str, int]:
    """Reserve `counts[topic]` ids on each topic, taking the topics in name order; {topic: first id}."""
    topics = sorted(counts)
    connection = connections[router.db_for_write(TopicSequence)]
    upsert = connection.vendor == "postgresql" or (
        connection.vendor == "sqlite" and connection.features.can_return_columns_from_insert
    )
    if not upsert:
        # Other databases lock one counter after another, in this order.
        return {topic: reserve_ids(topic, counts[topic]) for topic in topics}
    # One upsert per chunk: PostgreSQL inserts or locks the rows in the order of the VALUES list, a
    # topic's first event included (a new counter is locked from its insertion, in the same order).
    # SQLite (>= 3.35) takes the same statement; its transaction holds the database's write lock, so
    # order does not matter there, but one statement instead of up to four per topic does (an
    # announcement round to thousands of users is thousands of new topics).
    table = connection.ops.quote_name(TopicSequence._meta.db_table)
    first: dict[str, int] = {}
    with connection.cursor() as cursor:
        for start in range(0, len(topics), RESERVE_CHUNK):
            chunk = topics[start : start + RESERVE_CHUNK]
            cursor.execute(
                f"INSERT INTO {table} (topic, last_id) VALUES {', '.join(['(%s, %s)'] * len(chunk))} "
                f"ON CONFLICT (topic) DO UPDATE SET last_id = {table}.last_id + EXCLUDED.last_id "
                "RETURNING topic, last_id",
                [value for topic in chunk for value in (topic, counts[topic])],
            )
            for topic, last in cursor.fetchall():
                first[topic] = int(last) - counts[topic] + 1
    return first


def lock_topic(topic: str) -> None:
    """Take the topic's write lock now, so checks made before allocating ids run one writer at a time.

    PostgreSQL (and other databases with SELECT ... FOR UPDATE): a row lock on the counter. SQLite has
    no row locks (Django drops FOR UPDATE there): the transaction already holds the database's write lock
    (`transaction_mode = "IMMEDIATE"`, checked by `manage.py check`), so no statement is sent.
    """
    if connections[router.db_for_write(TopicSequence)].vendor == "sqlite":
        return
    list(TopicSequence.objects.select_for_update().filter(topic=topic).values_list("topic"))


def lock_topics(topics: Iterable[str]) -> None:
    """Take several topics' write locks now, in the order `store_on_topics` takes them (by name): for
    a transaction that will also change counters without storing on them (deleting a stream's). The
    sort is under the row locks (PostgreSQL locks rows as the sorted scan returns them). SQLite: no
    statement, as for `lock_topic`."""
    names = sorted(set(topics))
    if not names or connections[router.db_for_write(TopicSequence)].vendor == "sqlite":
        return
    # Byte order ("C"), as Python sorts: the database's own collation may order "-" or "." otherwise.
    rows = TopicSequence.objects.select_for_update().filter(topic__in=names).order_by(Collate("topic", "C"))
    list(rows.values_list("topic"))


def store_events(topic: str, first_id: int, items: list[tuple[str, dict[str, Any]]]) -> list[StoredEvent]:
    """Append events with ids first_id, first_id + 1, ... (reserved with `reserve_ids`) in one INSERT."""
    rows = insert(
        [Event(topic=topic, seq=first_id + n, name=name, data=data) for n, (name, data) in enumerate(items)]
    )
    metrics.stored(topic, len(rows))
    return [StoredEvent.from_row(row) for row in rows]


def last_id(topic: str) -> int:
    return TopicSequence.objects.filter(topic=topic).values_list("last_id", flat=True).first() or 0


def last_ids(topics: list[str]) -> dict[str, int]:
    return dict(TopicSequence.objects.filter(topic__in=topics).values_list("topic", "last_id"))


def read_history(topic: str, since: int | None, limit: int) -> History:
    """What a (re)subscribing client is owed: the newest `limit` events after `since` (or the newest
    `limit` at all), plus the markers among and after them.

    `last_id` is read first: every event up to it is committed, so the replay has no holes, and anything
    newer reaches the client live. `truncated`: a resuming client missed more than `limit` events.
    Same answer as `realtime.hub.recent.select_replay`, computed in two indexed queries.
    """
    newest = last_id(topic)
    if since is not None and since >= newest:
        return History([], newest, truncated=since > newest, floor=newest if since == newest else None)
    rows = Event.objects.filter(topic=topic, seq__lte=newest, withdrawn=False)
    if since is not None:
        rows = rows.filter(seq__gt=since)
    content = list(rows.filter(marker=False).order_by("-seq")[: limit + 1])
    content_below = len(content) > limit
    if content_below:
        floor = content[limit - 1].seq - 1 if limit > 0 else newest
        content = content[:limit]
    else:
        floor = since or 0
    markers = list(rows.filter(marker=True, seq__gt=floor).order_by("-seq")[:MAX_REPLAY_MARKERS])
    complete = len(markers) < MAX_REPLAY_MARKERS
    page = sorted(content + markers, key=lambda row: row.seq)
    truncated = since is not None and floor > since
    return History(
        [StoredEvent.from_row(row) for row in page],
        newest,
        truncated,
        floor=floor if complete else None,
        content_below=content_below,
    )


def read_range(topic: str, after: int, upto: int) -> list[StoredEvent]:
    """Events with after < id <= upto, withdrawn ones included, so a hub can fill a gap exactly."""
    rows = Event.objects.filter(topic=topic, seq__gt=after, seq__lte=upto).order_by("seq")
    return [StoredEvent.from_row(row) for row in rows]


def withdraw(topic: str, seq: int) -> None:
    """Stop replaying one event (e.g. a deleted comment)."""
    Event.objects.filter(topic=topic, seq=seq).update(withdrawn=True)


def restore(topic: str, seq: int) -> None:
    Event.objects.filter(topic=topic, seq=seq).update(withdrawn=False)


#: Rows deleted per statement when pruning: short transactions, so writers on the topic never wait long.
PRUNE_BATCH = 1000


def prune_events(
    older_than: datetime, keep: int, *, dry_run: bool = False, batch_size: int = PRUNE_BATCH
) -> dict[str, int]:
    """Delete events stored before `older_than` that no resume can still be owed; {topic: count}.

    Whatever their age, each topic keeps its newest `keep` + 1 replayable events (neither markers nor
    withdrawn) and every event after the oldest of them, markers and withdrawn ones included. With
    `keep` = HISTORY_LIMIT, `read_history(topic, since, keep)` then answers exactly as before for every
    `since`: the newest `keep` are the replay, and the one before them is what tells a client resuming
    from further back that it missed events (`truncated`). Topics with fewer replayable events lose
    nothing. Ids are never reused: the TopicSequence rows are not touched.

    One query finds the topics, one per topic finds its boundary, then deletes go in batches of
    `batch_size` rows, each its own statement. `dry_run`: count what would go, delete nothing.
    """
    if keep < 0 or batch_size < 1:
        raise ValueError("prune_events(): keep must be >= 0 and batch_size >= 1.")
    # A topic that never had more than `keep` ids cannot have an event to lose: skip it unread.
    crowded = TopicSequence.objects.filter(last_id__gt=keep).values("topic")
    topics = (
        Event.objects.filter(created_at__lt=older_than, topic__in=crowded)
        .order_by("topic")
        .values_list("topic", flat=True)
        .distinct()
    )
    pruned: dict[str, int] = {}
    for topic in list(topics):
        boundary = next(
            iter(
                Event.objects.filter(topic=topic, marker=False, withdrawn=False)
                .order_by("-seq")
                .values_list("seq", flat=True)[keep : keep + 1]
            ),
            None,
        )
        if boundary is None:
            continue
        doomed = Event.objects.filter(topic=topic, seq__lt=boundary, created_at__lt=older_than)
        count = doomed.count() if dry_run else _delete_in_batches(doomed, batch_size)
        if count:
            pruned[topic] = count
    return pruned


def _delete_in_batches(rows: Any, batch_size: int) -> int:
    deleted = 0
    while True:
        ids = list(rows.order_by("seq").values_list("pk", flat=True)[:batch_size])
        if ids:
            deleted += Event.objects.filter(pk__in=ids).delete()[0]
        if len(ids) < batch_size:
            return deleted
