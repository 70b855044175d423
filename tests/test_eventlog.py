"""Event-log retention: `prune_events` and `manage.py realtime_prune` delete old events, never one a
resuming client could still be replayed."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from realtime import eventlog
from realtime.models import Event, TopicSequence
from realtime.testing import override_realtime

pytestmark = pytest.mark.django_db

KEEP = 3
LONG_AGO = timezone.now() - timedelta(days=400)


def log(topic: str, script: str, *, old: bool = True) -> None:
    """Store one event per letter: c content, m marker, w content withdrawn later; all long ago if `old`."""
    with transaction.atomic():
        stored = [
            eventlog.store_event(topic, "e", {"n": n}, marker=(kind == "m")) for n, kind in enumerate(script)
        ]
    for event, kind in zip(stored, script, strict=True):
        if kind == "w":
            eventlog.withdraw(topic, event.id)
    if old:
        Event.objects.filter(topic=topic, seq__in=[e.id for e in stored]).update(created_at=LONG_AGO)


def seqs(topic: str) -> list[int]:
    return list(Event.objects.filter(topic=topic).order_by("seq").values_list("seq", flat=True))


def prune(**options):
    return eventlog.prune_events(timezone.now() - timedelta(days=30), KEEP, **options)


def every_replay(topic: str) -> list:
    """What read_history answers for a fresh subscribe and for a resume from every id there is."""
    last = eventlog.last_id(topic)
    return [eventlog.read_history(topic, since, KEEP) for since in [None, *range(0, last + 2)]]


def test_old_events_beyond_the_window_are_deleted():
    log("t.1", "cccccccccc")
    assert prune() == {"t.1": 6}
    # The newest KEEP are the replay; the one before them tells an older resume it was truncated.
    assert seqs("t.1") == [7, 8, 9, 10]


def test_the_newest_replayable_events_survive_however_old_with_the_markers_among_them():
    #    1234567890123
    log("t.1", "ccmcwmcmwcmcm")
    # Replayable (c, not withdrawn): 1 2 4 7 10 12. The newest KEEP = 7 10 12, then 4 before them.
    assert prune() == {"t.1": 3}
    assert seqs("t.1") == [4, 5, 6, 7, 8, 9, 10, 11, 12, 13]


def test_recent_events_and_small_topics_are_kept():
    log("t.recent", "cccccccc", old=False)
    log("t.small", "mcmcmcm")  # only 3 replayable events: each is the replay
    log("t.markers", "mmmmmmmm")
    assert prune() == {}
    assert len(seqs("t.recent")) == 8 and len(seqs("t.small")) == 7 and len(seqs("t.markers")) == 8


def test_only_the_old_part_goes_when_old_and_new_events_mix():
    log("t.1", "cccc")
    log("t.1", "cccc", old=False)
    assert prune() == {"t.1": 4}
    assert seqs("t.1") == [5, 6, 7, 8]


@pytest.mark.parametrize(
    "script", ["cccccccccc", "ccmcwmcmwcmcm", "mmcmmcmmcmmcmmc", "cwcwcwcwcw", "ccc", "mcmmcmc"]
)
def test_every_resume_is_answered_as_before(script):
    log("t.1", script)
    before = every_replay("t.1")
    prune()
    assert every_replay("t.1") == before


def test_a_dry_run_deletes_nothing():
    log("t.1", "cccccccccc")
    assert prune(dry_run=True) == {"t.1": 6}
    assert len(seqs("t.1")) == 10


def test_ids_keep_increasing_after_a_prune():
    log("t.1", "cccccccccc")
    prune()
    assert TopicSequence.objects.get(topic="t.1").last_id == 10
    with transaction.atomic():
        assert eventlog.store_event("t.1", "e", {}).id == 11


def test_deletes_go_in_batches_and_topics_cost_a_query_each():
    for n in range(3):
        log(f"t.{n}", "cccccccccc")
    log("t.small", "cc")  # never had more than KEEP ids: not even looked at
    with CaptureQueriesContext(connection) as dry:
        assert prune(dry_run=True) == {"t.0": 6, "t.1": 6, "t.2": 6}
    assert len(dry) == 1 + 3 * 2  # the topics, then a boundary and a count per topic
    with CaptureQueriesContext(connection) as wet:
        assert prune(batch_size=4) == {"t.0": 6, "t.1": 6, "t.2": 6}
    deletes = [q["sql"] for q in wet.captured_queries if q["sql"].startswith("DELETE")]
    assert len(deletes) == 3 * 2 and all(seqs(f"t.{n}") == [7, 8, 9, 10] for n in range(3))


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        eventlog.prune_events(timezone.now(), -1)


# -- manage.py realtime_prune -----------------------------------------------------------------------
def run(*args: str) -> str:
    out = StringIO()
    with override_realtime(HISTORY_LIMIT=KEEP):
        call_command("realtime_prune", *args, stdout=out)
    return out.getvalue()


def test_the_command_prunes_past_the_retention_and_says_what_it_deleted():
    log("t.1", "cccccccccc")
    log("t.2", "cccccc")
    with override_realtime(EVENT_RETENTION_DAYS=500):
        assert "0 events deleted" in run()
    assert len(seqs("t.1")) == 10
    output = run("--dry-run")  # the default retention: 30 days
    assert "t.1: would delete 6 events" in output and "t.2: would delete 2 events" in output
    assert len(seqs("t.1")) == 10
    output = run()
    assert "t.1: deleted 6 events" in output and "t.2: deleted 2 events" in output
    assert "8 events deleted on 2 topics" in output
    assert seqs("t.1") == [7, 8, 9, 10] and seqs("t.2") == [3, 4, 5, 6]


def test_days_override_the_setting_and_none_keeps_everything():
    log("t.1", "cccccccccc")
    with override_realtime(EVENT_RETENTION_DAYS=None):
        assert "kept for ever" in run()
        assert len(seqs("t.1")) == 10
        assert "t.1: deleted 6 events" in run("--days", "10")
    assert "Nothing is older" in run("--days", "1e12")


@pytest.mark.parametrize(
    "args, setting", [(("--days", "-1"), 30), (("--days", "nan"), 30), ((), "30"), ((), -2), ((), True)]
)
def test_bad_retention_is_a_clear_error(args, setting):
    with override_realtime(EVENT_RETENTION_DAYS=setting), pytest.raises(CommandError, match="days"):
        run(*args)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("returning", [True, False])
def test_reserved_ids_are_consecutive_with_or_without_update_returning(monkeypatch, returning):
    # Without UPDATE ... RETURNING (SQLite < 3.35, MySQL) the counter is bumped, then read back.
    if not returning:
        monkeypatch.setattr(connection, "vendor", "other-database")
    with transaction.atomic():
        firsts = [eventlog.reserve_ids("topic.ids", count) for count in (1, 3, 2)]
    assert firsts == [1, 2, 5]
    assert TopicSequence.objects.get(topic="topic.ids").last_id == 6


def test_store_on_topics_takes_ids_per_topic_and_returns_events_in_the_order_given(monkeypatch):
    """Several topics in one transaction (a targeted announcement, receipts' echoes): ids continue
    each topic's counter (new topics start at 1), events come back in the order given, all markers if
    asked. Chunked as PostgreSQL's upsert is (2 topics a statement here), on whatever database runs."""
    monkeypatch.setattr(eventlog, "RESERVE_CHUNK", 2)
    with transaction.atomic():
        eventlog.store_event("t.b", "e", {})
        eventlog.store_event("t.b", "e", {})
        eventlog.store_event("t.d", "e", {})
    items = [("t.d", "x", {"n": 0}), ("t.a", "x", {"n": 1}), ("t.b", "x", {"n": 2}), ("t.d", "x", {"n": 3})]
    items += [("t.c", "x", {"n": 4}), ("t.e", "x", {"n": 5})]
    with transaction.atomic():
        stored = eventlog.store_on_topics(items, marker=True)
    assert [(e.topic, e.id, e.data["n"]) for e in stored] == [
        ("t.d", 2, 0),
        ("t.a", 1, 1),
        ("t.b", 3, 2),
        ("t.d", 3, 3),
        ("t.c", 1, 4),
        ("t.e", 1, 5),
    ]
    assert all(e.marker and e.at for e in stored)
    assert eventlog.last_ids(["t.a", "t.b", "t.c", "t.d", "t.e"]) == {
        "t.a": 1,
        "t.b": 3,
        "t.c": 1,
        "t.d": 3,
        "t.e": 1,
    }
    assert Event.objects.filter(topic__startswith="t.", marker=True).count() == 6
    with transaction.atomic():
        assert eventlog.store_on_topics([]) == []
