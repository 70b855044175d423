"""Cancel racing the scheduler on PostgreSQL. Run in a process of its own (`python -m tests.cancelkit`,
DATABASE_URL naming a fresh database) by tests/test_announcements_races_pg.py.

The shape, made deterministic: the scheduler's claim of a due announcement has moved the row to live
and holds it (its transaction is paused before it commits). An admin clicks Cancel meanwhile. A claim
that skips locked rows finds nothing to cancel, reports "neither scheduled nor live", and a moment
later the announcement is live for everyone. Cancel must instead wait for the scheduler's commit, see
the announcement live, and take it down. Prints a JSON report: the errors, whether Cancel waited on
the row, the final state, and the withdrawals stored.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from tests.pgkit import connection_kwargs, kit_main, wait_for_lock_waiters


def run() -> dict[str, Any]:
    import psycopg
    from django.db import connection
    from django.utils import timezone

    from realtime.announcements import lifecycle
    from realtime.announcements.api import announce
    from realtime.announcements.models import Announcement
    from realtime.models import Event

    notice = announce("Maintenance", starts_in=timedelta(hours=1))
    due = notice.starts_at
    connection.close()

    claimed, release = threading.Event(), threading.Event()
    real_log = lifecycle._log

    def paused_log(announcement: Any, by: Any, message: str) -> None:
        real_log(announcement, by, message)
        if message.startswith("Went live"):  # the scheduler's claim is made and not committed
            claimed.set()
            release.wait(30)

    lifecycle._log = paused_log  # type: ignore[assignment]
    errors: list[str] = []
    results: dict[str, Any] = {}

    def worker(name: str, work: Any) -> None:
        try:
            results[name] = work()
        except Exception as exc:
            errors.append(f"{name}: {type(exc).__name__}: {exc}".splitlines()[0])
        finally:
            connection.close()

    dsn = connection_kwargs()
    with psycopg.connect(**dsn, autocommit=True) as observer:
        scheduler = threading.Thread(
            target=worker, args=("scheduler", lambda: lifecycle.start_due(notice.pk, due))
        )
        scheduler.start()
        assert claimed.wait(30), "the scheduler never claimed the announcement"
        canceller = threading.Thread(target=worker, args=("cancel", lambda: lifecycle.cancel(notice).state))
        canceller.start()
        waiting = wait_for_lock_waiters(observer, 1, timeout=3)
        release.set()
        scheduler.join(30)
        canceller.join(30)
    row = Announcement.objects.get(pk=notice.pk)
    withdrawals = [
        data["reason"]
        for data in Event.objects.filter(name="announcement.ended").values_list("data", flat=True)
        if data["id"] == notice.pk
    ]
    return {
        "errors": errors,
        "waiting": waiting,
        "started": results.get("scheduler"),
        "cancel": results.get("cancel"),
        "state": row.state,
        "round": row.round,
        "withdrawals": withdrawals,
        "live_now": row.is_showing(timezone.now()),
    }


if __name__ == "__main__":
    kit_main(run)
