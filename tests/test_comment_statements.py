"""What storing a comment asks the database: the few statements a steady room pays per comment, and
the reads that only happen when there is something to find (a restriction, a retry, a rate limit)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from realtime.streams.models import Comment, StreamRestriction
from realtime.streams.storage import store_comments
from realtime.testing import override_realtime

pytestmark = pytest.mark.django_db


def stored(stream, user, text, client_id):
    """Store one post; the outcome and the statements it took (transaction control and PostgreSQL's
    topic lock left out: SQLite's IMMEDIATE transaction is the lock there)."""
    with CaptureQueriesContext(connection) as captured:
        [outcome] = store_comments(stream.pk, [(user, {"text": text, "client_id": client_id})])
    statements = [q["sql"] for q in captured.captured_queries]
    control = ("BEGIN", "SAVEPOINT", "RELEASE")
    return outcome, [s for s in statements if not s.startswith(control) and not s.endswith("FOR UPDATE")]


def tables_read(statements):
    return [s.split(" FROM ", 1)[1].split()[0].strip('"') for s in statements if s.startswith("SELECT")]


@pytest.fixture
def stream(stream, owner):
    """A stream with its first comment stored (which creates the topic's id counter: one more INSERT)."""
    store_comments(stream.pk, [(owner, {"text": "first", "client_id": "first"})])
    return stream


def test_a_plain_comment_costs_five_statements(stream, alice):
    with override_realtime(RATE_LIMIT_COUNT=None):
        outcome, statements = stored(stream, alice, "hello", "c1")
    assert outcome.ack and outcome.ack["id"] == 2
    # The stream; one probe for restrictions and retries; the id; the comment; the event.
    assert len(statements) == 5, statements
    assert tables_read(statements) == ["realtime_stream", "realtime_streamrestriction"], statements


def test_a_rate_limit_reads_the_posters_recent_comments(stream, alice):
    with override_realtime(RATE_LIMIT_COUNT=1, RATE_LIMIT_PERIOD=60):
        assert stored(stream, alice, "one", "c1")[0].ack
        outcome, statements = stored(stream, alice, "two", "c2")
    assert outcome.error and outcome.error.code == "rate_limited"
    assert tables_read(statements).count("realtime_comment") == 1, statements


def test_a_restricted_poster_is_read_and_refused(stream, alice, bob):
    StreamRestriction.objects.create(stream=stream, user=alice, kind=StreamRestriction.Kind.MUTE)
    with override_realtime(RATE_LIMIT_COUNT=None):
        outcome, statements = stored(stream, alice, "let me", "c1")
        assert outcome.error and outcome.error.code == "muted", outcome
        assert "realtime_streamrestriction" in tables_read(statements)[2:], statements
        # Someone else's restriction reads nothing more for bob.
        outcome, statements = stored(stream, bob, "hi", "c1")
    assert outcome.ack and len(statements) == 5, statements


def test_a_retry_is_found_and_another_authors_same_client_id_is_not_one(stream, alice, bob):
    with override_realtime(RATE_LIMIT_COUNT=None):
        first, _ = stored(stream, alice, "hello", "same")
        again, statements = stored(stream, alice, "hello", "same")
        assert again.ack == {**first.ack, "duplicate": True}
        # The probe found it: the retried comment and its event are read, nothing is written.
        assert tables_read(statements)[2:] == ["realtime_comment", "realtime_comment", "realtime_event"]
        assert not any(s.startswith(("INSERT", "UPDATE")) for s in statements), statements
        other, statements = stored(stream, bob, "hello too", "same")
    assert other.ack and not other.ack.get("duplicate") and len(statements) == 5
    assert Comment.objects.filter(stream=stream, client_id="same").count() == 2


def test_the_retry_probe_uses_the_idempotency_index(stream, alice):
    """The probe must not scan a stream's comments: a long stream has millions."""
    if connection.vendor != "sqlite":
        pytest.skip("reads SQLite's query plan; PostgreSQL plans by table statistics")
    from realtime.streams import batchreads

    with CaptureQueriesContext(connection) as captured:
        batchreads.findings(stream.pk, {alice.pk}, {"c1"})
    [probe] = [q["sql"] for q in captured.captured_queries]
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {probe}")
        plan = " ".join(str(row[-1]) for row in cursor.fetchall())
    assert "realtime_comment USING COVERING INDEX" in plan and "author_id=? AND client_id=?" in plan, plan
