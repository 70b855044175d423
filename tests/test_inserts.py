"""`realtime.inserts.insert` stores what `bulk_create` would, with the SQL built once."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from realtime import inserts
from realtime.models import Event, TopicSequence

pytestmark = pytest.mark.django_db


def test_rows_read_back_as_bulk_create_would_store_them():
    data = {"text": "héllo <b>", "n": [1, 2.5, None], "nested": {"ok": True}}
    mine = inserts.insert([Event(topic="t.1", seq=n, name="comment", data=data) for n in (1, 2)])
    theirs = Event.objects.bulk_create([Event(topic="t.2", seq=n, name="comment", data=data) for n in (1, 2)])
    assert [e.pk for e in mine] and all(e.pk and not e._state.adding for e in mine)
    for a, b in zip(mine, theirs, strict=True):
        a, b = Event.objects.get(pk=a.pk), Event.objects.get(pk=b.pk)
        assert (a.seq, a.name, a.data, a.withdrawn, a.marker) == (
            b.seq,
            b.name,
            b.data,
            b.withdrawn,
            b.marker,
        )
        assert a.created_at.tzinfo is not None


def test_the_statement_is_built_once_per_row_count():
    inserts._statement.cache_clear()
    for n in range(3):
        inserts.insert([Event(topic="t.3", seq=n, name="x", data={})])
    inserts.insert([Event(topic="t.4", seq=n, name="x", data={}) for n in range(2)])
    assert inserts._statement.cache_info().misses == 2
    with CaptureQueriesContext(connection) as captured:
        inserts.insert([Event(topic="t.5", seq=1, name="x", data={})])
    [sql] = [q["sql"] for q in captured.captured_queries]
    assert sql.startswith('INSERT INTO "realtime_event"') and "RETURNING" in sql


def test_a_model_whose_key_the_database_does_not_make_goes_through_bulk_create():
    [row] = inserts.insert([TopicSequence(topic="t.6", last_id=3)])
    assert TopicSequence.objects.get(topic="t.6").last_id == 3 and row.pk == "t.6"
