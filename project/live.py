"""The example dashboard's live views (realtime.live finds this module as admin finds admin.py).

- `dashboard-streams`: the stream table, a rows view (a stream created, renamed, ended or deleted moves
  the table on every open dashboard).
- `dashboard-stats`: viewers (from the hubs' presence) and comments per minute, a value recomputed
  every `STATS_EVERY` s while a dashboard is open: comments are stored in batches and viewers are not
  in the database, so no model change would say when these move.
- `dashboard-announcement`: one announcement's state and receipts, a fragment per announcement.

All are for staff only (project.dashboard.is_staff), the rule the page itself applies. Each is rendered
once per change per page language (realtime.live makes a room per language), never per viewer.
"""

from __future__ import annotations

from typing import Any

from realtime import live
from realtime.announcements.models import Announcement
from realtime.streams.models import Stream

from . import dashboard

STATS_EVERY = 2.0  # seconds

_receipts = dashboard.ReceiptWatch()


def stats(audience: str) -> dict[str, Any]:
    """The stats value; and, since it runs every few seconds while a dashboard is open, the look at the
    announcements' receipts that re-renders those whose counts moved (see ReceiptWatch)."""
    value = dashboard.stats()
    ids = [a.pk for a in dashboard.recent_announcements()]
    moved = _receipts.moved(dashboard.receipt_counts(ids))
    if moved:
        live.changed(Announcement, pks=moved)
    return value


live.rows(
    "dashboard-streams",
    model=Stream,
    template="dashboard/_stream_row.html",
    queryset=lambda audience: dashboard.dashboard_streams(),
    cap=dashboard.STREAMS,
    can_view=dashboard.is_staff,
)
live.value(
    "dashboard-stats",
    compute=stats,
    depends_on=[Stream],
    every=STATS_EVERY,
    can_view=dashboard.is_staff,
)
live.fragment(
    "dashboard-announcement",
    model=Announcement,
    template="dashboard/_announcement.html",
    can_view=dashboard.is_staff,
)
