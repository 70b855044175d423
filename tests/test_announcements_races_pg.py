"""On PostgreSQL, Cancel clicked while the scheduler holds the row (its claim putting the announcement
live, not yet committed) wins: it waits for that commit and takes the announcement down, instead of
answering "nothing to cancel" and letting it go live.

Runs against the server on 127.0.0.1:5432 (user postgres) in a database of its own, whatever
DATABASE_URL says; skipped only if no PostgreSQL answers there. The race itself is in tests/cancelkit.py.
"""

from __future__ import annotations

from tests.pgkit import own_database, run_kit  # noqa: F401  (the fixture)


def test_cancel_while_the_scheduler_holds_the_row_takes_it_down(own_database):  # noqa: F811
    report = run_kit(own_database, "tests.cancelkit")
    assert report["started"] is True  # the scheduler's claim went through: the race was real
    assert report["waiting"] == 1  # Cancel queued on the row (a skip-locked claim never waits)
    assert report["errors"] == []  # before: "cancel: AnnouncementError: ... nothing to cancel"
    assert (report["cancel"], report["state"], report["round"]) == ("cancelled", "cancelled", 1)
    assert report["withdrawals"] == ["cancelled"] and report["live_now"] is False
