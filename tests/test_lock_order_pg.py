"""On PostgreSQL, a receipt batch and a targeted announcement storing on the same users' topics take
them in one order, so neither is aborted as a deadlock (the dismissal and the round both stored).

Runs against the server on 127.0.0.1:5432 (user postgres) in a database of its own, whatever
DATABASE_URL says; skipped only if no PostgreSQL answers there. The race itself is in tests/lockkit.py.
"""

from __future__ import annotations

from tests.pgkit import own_database, run_kit  # noqa: F401  (the fixture)


def test_a_receipt_batch_and_a_targeted_announcement_never_deadlock(own_database):  # noqa: F811
    report = run_kit(own_database, "tests.lockkit")
    # The shape was provoked: the batch scanned user 10's receipt first (it takes user-10's topic
    # first whatever the code), and both writers were waiting on a lock at the same time.
    assert report["scan_order"] == [10, 2]
    assert report["waiting"] == [1, 2]
    assert report["errors"] == []  # with topics taken in different orders: "deadlock detected"
    assert report["dismissed_by"] == [2, 10]
    names = [name for _topic, name in report["stored"]]
    assert names.count("announcement.dismissed") == 2 and names.count("announcement") == 4
