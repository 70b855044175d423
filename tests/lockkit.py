"""Two multi-topic writers racing on PostgreSQL: a receipt batch echoing dismissals and a targeted
announcement going out, both storing on the same two users' topics. Run in a process of its own
(`python -m tests.lockkit`, DATABASE_URL naming a fresh database) by tests/test_lock_order_pg.py.

The deadlock shape, made deterministic: topic counters are taken in the order each writer reaches
them, so a third connection first holds the counter of `announcements.user-10`. The receipt batch,
reading its receipt rows in physical order (index scans off, user 2's row updated last so it lies
after user 10's), reaches user-10 first and waits. Then the announcement starts: if it takes topics
in recipient-id order, it holds user-2 and waits for user-10. The blocker lets go: the receipt
batch gets user-10 and wants user-2, which the announcement holds: a cycle, and PostgreSQL aborts
one of them. Taken in one order (names sorted: user-10 before user-2), both queue on user-10 and
both commit. Prints a JSON report: the errors, what was stored, and the scan order the receipt
batch saw (the proof that the shape was provoked).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Any


def _wait_for_lock_waiters(observer: Any, count: int, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    waiting = 0
    while time.monotonic() < deadline:
        waiting = observer.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        ).fetchone()[0]
        if waiting >= count:
            return waiting
        time.sleep(0.02)
    return waiting


def run() -> dict[str, Any]:
    import psycopg
    from django.contrib.auth import get_user_model
    from django.db import connection, connections

    from realtime.announcements import lifecycle, receipts
    from realtime.announcements.api import announce
    from realtime.announcements.audience import user_topic
    from realtime.announcements.models import Audience, Receipt
    from realtime.models import Event

    User = get_user_model()
    users = [User.objects.create_user(f"u{n}", password="x") for n in range(1, 11)]
    two, ten = users[1], users[9]
    assert (two.pk, ten.pk) == (2, 10), "a fresh database numbers users from 1"
    dismissed = announce("Maintenance", audience=Audience.USERS, users=[two, ten], dismissible=True)
    Receipt.objects.filter(announcement=dismissed, user=two).update(delivered_at=dismissed.sent_at)
    going_out = announce("Release notes", audience=Audience.USERS, users=[two, ten], draft=True)
    with connection.cursor() as cursor:  # what a physical-order scan of the receipt rows returns
        cursor.execute("SET enable_indexscan = off; SET enable_bitmapscan = off")
        cursor.execute(
            "SELECT user_id FROM realtime_announcements_receipt WHERE announcement_id = %s",
            [dismissed.pk],
        )
        scan_order = [row[0] for row in cursor.fetchall()]
        cursor.execute("RESET enable_indexscan; RESET enable_bitmapscan")
    connection.close()

    settings = connections["default"].settings_dict
    dsn = {
        "host": settings["HOST"] or "127.0.0.1",
        "port": int(settings["PORT"] or 5432),
        "user": settings["USER"] or "postgres",
        "dbname": settings["NAME"],
    }
    errors: list[str] = []

    def writer(work: Any, physical_scan: bool = False) -> None:
        try:
            if physical_scan:
                with connection.cursor() as cursor:
                    cursor.execute("SET enable_indexscan = off; SET enable_bitmapscan = off")
            work()
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}".splitlines()[0])
        finally:
            connection.close()

    reports = [
        receipts.Report(user, user_topic(user.pk), dismissed.pk, dismissed.round, "dismissed")
        for user in (two, ten)
    ]
    with (
        psycopg.connect(**dsn, autocommit=True) as observer,
        psycopg.connect(**dsn, autocommit=False) as blocker,
    ):
        blocker.execute(
            "SELECT 1 FROM realtime_topicsequence WHERE topic = %s FOR UPDATE", [user_topic(ten.pk)]
        )
        batch = threading.Thread(target=writer, args=(lambda: receipts.store_reports(reports), True))
        batch.start()
        first_wait = _wait_for_lock_waiters(observer, 1)
        announcement = threading.Thread(target=writer, args=(lambda: lifecycle.send_now(going_out),))
        announcement.start()
        both_wait = _wait_for_lock_waiters(observer, 2)
        blocker.rollback()
        batch.join(30)
        announcement.join(30)
    dismissals = sorted(
        Receipt.objects.filter(announcement=dismissed, dismissed_at__isnull=False).values_list(
            "user_id", flat=True
        )
    )
    stored = sorted(
        Event.objects.filter(topic__in=[user_topic(two.pk), user_topic(ten.pk)]).values_list("topic", "name")
    )
    return {
        "errors": errors,
        "scan_order": scan_order,
        "waiting": [first_wait, both_wait],
        "dismissed_by": dismissals,
        "stored": stored,
    }


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    json.dump(run(), sys.stdout)


if __name__ == "__main__":
    main()
