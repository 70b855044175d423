"""On PostgreSQL, two users deleted at the same time, each with comments on several streams, both
commit: the cascades' `comment.deleted` events lock the streams' counters in the one shared order
(`eventlog.store_on_topics`), so neither deletion is aborted as a deadlock.

Runs against the server on 127.0.0.1:5432 (user postgres) in a database of its own, whatever
DATABASE_URL says; skipped only if no PostgreSQL answers there. The race is in
tests/lockkit_comments.py.
"""

from __future__ import annotations

from tests.pgkit import own_database, run_kit  # noqa: F401  (the fixture)


def test_two_users_deleted_at_once_with_comments_on_several_streams_never_deadlock(own_database):  # noqa: F811
    report = run_kit(own_database, "tests.lockkit_comments")
    assert report["waiting"] == [1, 2]  # the shape was provoked: both deletions waited on a lock
    assert report["errors"] == []  # with counters locked in deletion order: "deadlock detected"
    assert report["users_left"] == ["host"] and report["comments_left"] == 0
    # Every comment announced as deleted on its stream: Uma's three, Vic's two.
    assert [tuple(pair) for pair in report["deleted"]] == [
        ("stream.1", 1),
        ("stream.1", 2),
        ("stream.2", 1),
        ("stream.2", 2),
        ("stream.3", 1),
    ]
    # A user owning stream.9 and stream.10 (their counters deleted one by one) who commented on stream.3: every
    # counter the deletion changes is locked first, in name order, before one is stored on or deleted.
    lock, *after = report["owner_deletion"]
    assert lock == ["stream.10", "stream.3", "stream.9"], report["owner_deletion"]
    assert after[0] == ["stream.3"] and sorted(after[1:]) == [["stream.10"], ["stream.9"]], after
