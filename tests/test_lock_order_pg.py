"""On PostgreSQL, a receipt batch and a targeted announcement storing on the same users' topics take
them in one order, so neither is aborted as a deadlock (the dismissal and the round both stored).

Runs against the server on 127.0.0.1:5432 (user postgres) in a database of its own, whatever
DATABASE_URL says; skipped only if no PostgreSQL answers there. The race itself is in tests/lockkit.py.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.faultkit import PostgresDatabase

ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"


def _postgres_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def own_database():
    if not _postgres_answers():
        pytest.skip("no PostgreSQL on 127.0.0.1:5432")
    database = PostgresDatabase(ADMIN_URL).create()
    yield database
    database.drop()


def test_a_receipt_batch_and_a_targeted_announcement_never_deadlock(own_database):
    env = {**os.environ, "DATABASE_URL": own_database.url(), "DJANGO_SETTINGS_MODULE": "tests.settings"}
    env.pop("REDIS_URL", None)  # the in-memory layer: publishing is not what is tested here
    done = subprocess.run(
        [sys.executable, "-m", "tests.lockkit"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    # The shape was provoked: the batch scanned user 10's receipt first (it takes user-10's topic
    # first whatever the code), and both writers were waiting on a lock at the same time.
    assert report["scan_order"] == [10, 2]
    assert report["waiting"] == [1, 2]
    assert report["errors"] == []  # with topics taken in different orders: "deadlock detected"
    assert report["dismissed_by"] == [2, 10]
    names = [name for _topic, name in report["stored"]]
    assert names.count("announcement.dismissed") == 2 and names.count("announcement") == 4
