"""On PostgreSQL, two first notifications for one user at once: the second waits for the first's
commit and its event carries the true unread count (2), not the count it would read beside an
uncommitted first (1), which would leave every open badge of the user one short.

Runs against the server on 127.0.0.1:5432 (user postgres) in a database of its own, whatever
DATABASE_URL says; skipped only if no PostgreSQL answers there. The race itself is in tests/notifykit.py.
"""

from __future__ import annotations

from tests.pgkit import own_database, run_kit  # noqa: F401  (the fixture)


def test_two_first_notifications_at_once_count_each_other(own_database):  # noqa: F811
    report = run_kit(own_database, "tests.notifykit")
    assert report["errors"] == []
    assert report["waiting"] == 1  # the second queued behind the first: the race was real
    assert report["counts"] == [1, 2]
