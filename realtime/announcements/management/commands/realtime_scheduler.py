"""`manage.py realtime_scheduler`: start and end scheduled announcements at their times, in a loop.

For deployments that prefer a worker to the in-process scheduler (set REALTIME["ANNOUNCEMENT_SCHEDULER"]
= False to leave it to this command; running both is safe, each announcement is sent once). On the
in-memory layer this process cannot reach daphne's: pages get what it sends through the hubs' database
sync (REALTIME["SYNC_INTERVAL"]). Use it with Redis.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from realtime.announcements.scheduler import run_due, seconds_until


class Command(BaseCommand):
    help = "Run the announcement scheduler: send scheduled announcements and end expiring ones on time."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--interval",
            type=float,
            default=1.0,
            help="most seconds between looks at the database (default 1)",
        )
        parser.add_argument("--once", action="store_true", help="handle what is due now, then exit")

    def handle(self, *args: Any, interval: float, once: bool, **options: Any) -> None:
        if interval <= 0:
            interval = 1.0
        self.stdout.write(
            "Announcement scheduler running" + (" once" if once else f" (every {interval:g} s at most)")
        )
        try:
            while True:
                close_old_connections()  # a database restart must not kill a long-running worker
                try:
                    due = run_due()
                except Exception as exc:  # database away: say so, keep going
                    self.stderr.write(f"Scheduler pass failed ({exc}); retrying in {interval:g} s")
                    due = None
                if once:
                    return
                time.sleep(seconds_until(due, interval))
        except KeyboardInterrupt:
            self.stdout.write("Scheduler stopped")
