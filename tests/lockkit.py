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

from typing import Any

from tests.pgkit import kit_main, race_behind_a_held_counter


def run() -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.db import connection

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
    waiting = race_behind_a_held_counter(
        user_topic(ten.pk),
        lambda: writer(lambda: receipts.store_reports(reports), True),
        lambda: writer(lambda: lifecycle.send_now(going_out)),
    )
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
        "waiting": waiting,
        "dismissed_by": dismissals,
        "stored": stored,
    }


if __name__ == "__main__":
    kit_main(run)
