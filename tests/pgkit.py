"""Race tests on PostgreSQL, shared by tests/test_lock_order_pg.py, tests/test_lock_order_comments_pg.py and
tests/test_announcements_races_pg.py and by the race kits they run (tests/lockkit.py,
tests/lockkit_comments.py, tests/cancelkit.py).

Each test gets a database of its own on 127.0.0.1:5432 (user postgres), whatever DATABASE_URL says, and
runs its race in a separate process (`python -m tests.<kit>`) so the threads get real connections of
their own. A kit holds a row with a third connection and watches `pg_stat_activity` to know when its
writers are queued on it: that is what makes the deadlock shapes deterministic.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # the kits import this module before django.setup(); faultkit needs Django ready
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
def own_database() -> Iterator[PostgresDatabase]:
    if not _postgres_answers():
        pytest.skip("no PostgreSQL on 127.0.0.1:5432")
    from tests.faultkit import PostgresDatabase

    database = PostgresDatabase(ADMIN_URL).create()
    yield database
    database.drop()


def run_kit(database: PostgresDatabase, module: str) -> dict[str, Any]:
    """Run `python -m <module>` against `database` and return the JSON report it prints last."""
    env = {**os.environ, "DATABASE_URL": database.url(), "DJANGO_SETTINGS_MODULE": "tests.settings"}
    env.pop("REDIS_URL", None)  # the in-memory layer: publishing is not what is tested here
    done = subprocess.run(
        [sys.executable, "-m", module],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def kit_main(run: Callable[[], dict[str, Any]]) -> None:
    """A kit's entry point: set Django up on DATABASE_URL, migrate, print `run()`'s report as JSON."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    json.dump(run(), sys.stdout)


def connection_kwargs() -> dict[str, Any]:
    """psycopg.connect() arguments for the database Django uses: for the blocker and the observer."""
    from django.db import connections

    settings = connections["default"].settings_dict
    return {
        "host": settings["HOST"] or "127.0.0.1",
        "port": int(settings["PORT"] or 5432),
        "user": settings["USER"] or "postgres",
        "dbname": settings["NAME"],
    }


def wait_for_lock_waiters(observer: Any, count: int, timeout: float = 10.0) -> int:
    """Poll until `count` sessions of this database wait on a lock (or `timeout`); the number seen."""
    deadline = time.monotonic() + timeout
    waiting = 0
    while time.monotonic() < deadline:
        waiting = int(
            observer.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"
            ).fetchone()[0]
        )
        if waiting >= count:
            return waiting
        time.sleep(0.02)
    return waiting


def race_behind_a_held_counter(
    topic: str, first: Callable[[], None], second: Callable[[], None]
) -> list[int]:
    """A third connection holds `topic`'s counter row; `first` starts and queues on it, then `second`
    starts and queues too; the holder lets go and both run on. Returns the lock waiters seen after each
    start ([1, 2] when the shape was provoked). `first` and `second` run in threads and must not raise."""
    import psycopg

    dsn = connection_kwargs()
    with (
        psycopg.connect(**dsn, autocommit=True) as observer,
        psycopg.connect(**dsn, autocommit=False) as blocker,
    ):
        blocker.execute("SELECT 1 FROM realtime_topicsequence WHERE topic = %s FOR UPDATE", [topic])
        first_thread = threading.Thread(target=first)
        first_thread.start()
        first_wait = wait_for_lock_waiters(observer, 1)
        second_thread = threading.Thread(target=second)
        second_thread.start()
        both_wait = wait_for_lock_waiters(observer, 2)
        blocker.rollback()
        first_thread.join(30)
        second_thread.join(30)
    return [first_wait, both_wait]
