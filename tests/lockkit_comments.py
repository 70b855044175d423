"""Two users deleted at once on PostgreSQL, each deletion cascading to their comments on several
streams: both must commit (their `comment.deleted` events stored), never one aborted as a deadlock.
Run in a process of its own (`python -m tests.lockkit_comments`, DATABASE_URL naming a fresh
database) by tests/test_lock_order_comments_pg.py.

The deadlock shape, made deterministic. Uma's comments, in the order a deletion removes them (by
id), are on stream.2, stream.3, stream.1; Vic's on stream.1, stream.2. A third connection holds the
counter of stream.3. Uma's deletion starts: storing as each comment goes, it holds stream.2 and
waits for stream.3. Vic's starts: it takes stream.1 and waits for stream.2. The blocker lets go:
Uma's gets stream.3 and wants stream.1, which Vic's holds: a cycle, and PostgreSQL aborts one of
them. Stored together in name order (stream.1, stream.2, stream.3), Uma's deletion holds stream.1
and stream.2 while it waits, Vic's queues behind it on stream.1, and both commit. Prints a JSON
report: the errors, the lock waiters seen, and what was stored.
"""

from __future__ import annotations

from typing import Any

from tests.pgkit import kit_main, race_behind_a_held_counter


def run() -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from realtime.models import Event
    from realtime.streams.models import Comment, Stream
    from realtime.streams.storage import post_comment

    User = get_user_model()
    host, uma, vic = (User.objects.create_user(name, password="x") for name in ("host", "uma", "vic"))
    streams = [Stream.objects.create(title=f"Stream {n}", slug=f"stream-{n}", owner=host) for n in (1, 2, 3)]
    assert [s.topic for s in streams] == ["stream.1", "stream.2", "stream.3"], "a fresh database"
    for n, (user, stream) in enumerate([(uma, 2), (uma, 3), (vic, 1), (vic, 2), (uma, 1)]):
        post_comment(streams[stream - 1].pk, user, {"text": f"comment {n}", "client_id": f"c{n}"})
    connection.close()

    errors: list[str] = []

    def delete(username: str) -> None:
        try:
            User.objects.get(username=username).delete()
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}".splitlines()[0])
        finally:
            connection.close()

    waiting = race_behind_a_held_counter("stream.3", lambda: delete("uma"), lambda: delete("vic"))
    deleted = sorted(
        (topic, data["comment"])
        for topic, data in Event.objects.filter(name="comment.deleted").values_list("topic", "data")
    )
    owner_deletion = _an_owners_deletion(User, Stream, post_comment)
    return {
        "errors": errors,
        "waiting": waiting,
        "comments_left": Comment.objects.count(),
        "users_left": sorted(User.objects.values_list("username", flat=True)),
        "deleted": deleted,
        "owner_deletion": owner_deletion,
    }


def _an_owners_deletion(User: Any, Stream: Any, post_comment: Any) -> list[list[str]]:
    """Delete a user who owns stream.9 and stream.10 (their counters deleted one by one) and commented on
    stream.3; the counter rows each statement of the deletion locks or deletes, in order."""
    import re

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    olga = User.objects.create_user("olga", password="x")
    for pk in (9, 10):
        Stream.objects.create(pk=pk, title=f"Olga's {pk}", slug=f"olga-{pk}", owner=olga)
        post_comment(pk, olga, {"text": "mine", "client_id": f"o{pk}"})
    post_comment(3, olga, {"text": "elsewhere", "client_id": "o3"})
    with CaptureQueriesContext(connection) as queries:
        olga.delete()
    return [
        re.findall(r"'(stream\.\d+)'", q["sql"])
        for q in queries.captured_queries
        if "realtime_topicsequence" in q["sql"] and "stream." in q["sql"]
    ]


if __name__ == "__main__":
    kit_main(run)
