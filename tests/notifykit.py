"""Two first notifications for one user at once, on PostgreSQL. Run in a process of its own
(`python -m tests.notifykit`, DATABASE_URL naming a fresh database) by
tests/test_notifications_races_pg.py.

The shape, made deterministic: the first notify() has stored its row and its event on the user's
brand-new topic and is paused before it commits; the second starts meanwhile. Its topic counter row
does not exist for it yet (the first's insert is uncommitted), so a lock taken with SELECT ... FOR
UPDATE locks nothing, it counts the unread without the first's row, and its event says 1 where the
user has 2. It must instead wait for the first's commit and count 2. Prints a JSON report: the errors,
how many sessions waited on a lock, and the unread counts of the two events in id order.
"""

from __future__ import annotations

import threading
from typing import Any

from tests.pgkit import connection_kwargs, kit_main, wait_for_lock_waiters


def run() -> dict[str, Any]:
    import psycopg
    from django.contrib.auth import get_user_model
    from django.db import connection

    from realtime.models import Event
    from realtime.notifications import notify
    from realtime.notifications.signals import notification_sent

    user = get_user_model().objects.create_user("racer", password="pw")
    connection.close()
    stored, release = threading.Event(), threading.Event()
    first_thread: list[threading.Thread] = []

    def paused(sender: Any, notifications: Any, **kwargs: Any) -> None:
        if threading.current_thread() in first_thread:  # the first is stored and not committed
            stored.set()
            release.wait(30)

    notification_sent.connect(paused, weak=False)
    errors: list[str] = []

    def worker(title: str) -> None:
        try:
            notify(user, title)
        except Exception as exc:
            errors.append(f"{title}: {type(exc).__name__}: {exc}".splitlines()[0])
        finally:
            connection.close()

    with psycopg.connect(**connection_kwargs(), autocommit=True) as observer:
        first = threading.Thread(target=worker, args=("first",))
        first_thread.append(first)
        first.start()
        assert stored.wait(30), "the first notify never stored"
        second = threading.Thread(target=worker, args=("second",))
        second.start()
        waiting = wait_for_lock_waiters(observer, 1, timeout=3)
        release.set()
        first.join(30)
        second.join(30)
    counts = [
        data["unread"]
        for data in Event.objects.filter(topic=f"notify.{user.pk}")
        .order_by("seq")
        .values_list("data", flat=True)
    ]
    return {"errors": errors, "waiting": waiting, "counts": counts}


if __name__ == "__main__":
    kit_main(run)
