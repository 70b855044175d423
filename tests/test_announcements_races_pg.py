"""On PostgreSQL, Cancel clicked while the scheduler holds the row (its claim putting the announcement
live, not yet committed) wins: it waits for that commit and takes the announcement down, instead of
answering "nothing to cancel" and letting it go live.

Runs against the server on 127.0.0.1:5432 (user postgres) in a database of its own, whatever
DATABASE_URL says; skipped only if no PostgreSQL answers there. The race itself is in tests/cancelkit.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.test_lock_order_pg import ROOT, own_database  # noqa: F401  (the fixture)


def test_cancel_while_the_scheduler_holds_the_row_takes_it_down(own_database):  # noqa: F811
    env = {**os.environ, "DATABASE_URL": own_database.url(), "DJANGO_SETTINGS_MODULE": "tests.settings"}
    env.pop("REDIS_URL", None)  # the in-memory layer: publishing is not what is tested here
    done = subprocess.run(
        [sys.executable, "-m", "tests.cancelkit"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["started"] is True  # the scheduler's claim went through: the race was real
    assert report["waiting"] == 1  # Cancel queued on the row (a skip-locked claim never waits)
    assert report["errors"] == []  # before: "cancel: AnnouncementError: ... nothing to cancel"
    assert (report["cancel"], report["state"], report["round"]) == ("cancelled", "cancelled", 1)
    assert report["withdrawals"] == ["cancelled"] and report["live_now"] is False
