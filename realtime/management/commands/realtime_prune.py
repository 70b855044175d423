"""`manage.py realtime_prune [--days N] [--dry-run]`: delete stored events past their retention.

Run it daily (cron, a scheduled task). Events older than `REALTIME["EVENT_RETENTION_DAYS"]` go, except
those a resuming client may still be replayed: each topic's newest `HISTORY_LIMIT` events, the one
before them, and the markers among them stay, however old (see `realtime.eventlog.prune_events`).
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from realtime.conf import realtime_settings
from realtime.eventlog import prune_events


def _days(value: Any, source: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value) or value < 0:
        raise CommandError(f"{source} must be a number of days >= 0 (or None to keep events), not {value!r}.")
    return value


class Command(BaseCommand):
    help = (
        "Delete stored events older than REALTIME['EVENT_RETENTION_DAYS'], keeping what a resuming "
        "client could still be replayed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=float,
            default=None,
            help="Retention in days for this run, instead of EVENT_RETENTION_DAYS.",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Report what would be deleted; delete nothing."
        )

    def handle(self, *args: Any, days: float | None, dry_run: bool, **options: Any) -> None:
        if days is not None:
            retention = _days(days, "--days")
        elif realtime_settings.EVENT_RETENTION_DAYS is None:
            self.stdout.write("REALTIME['EVENT_RETENTION_DAYS'] is None: events are kept for ever.")
            return
        else:
            retention = _days(realtime_settings.EVENT_RETENTION_DAYS, "REALTIME['EVENT_RETENTION_DAYS']")
        keep = int(realtime_settings.HISTORY_LIMIT)
        try:
            older_than = timezone.now() - timedelta(days=retention)
        except OverflowError:  # a retention longer than the calendar: nothing is that old
            self.stdout.write(f"Nothing is older than {retention:g} days.")
            return
        pruned = prune_events(older_than, keep, dry_run=dry_run)
        verb = "would delete" if dry_run else "deleted"
        for topic, count in pruned.items():
            self.stdout.write(f"{topic}: {verb} {count} event{'s' if count != 1 else ''}")
        self.stdout.write(
            f"{sum(pruned.values())} events {'to delete' if dry_run else 'deleted'} on "
            f"{len(pruned)} topics (stored before {older_than.isoformat(timespec='seconds')}; "
            f"the newest {keep} of each topic kept)."
        )
