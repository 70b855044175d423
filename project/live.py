"""The example dashboard's live views (realtime.live finds this module as admin finds admin.py).

- `dashboard-streams`: the stream table, a rows view (a stream created, renamed, ended or deleted moves
  the table on every open dashboard).
- `dashboard-stats`: viewers (from the hubs' presence) and comments per minute, a value recomputed
  every `STATS_EVERY` s while a dashboard is open: comments are stored in batches and viewers are not
  in the database, so no model change would say when these move.
- `dashboard-announcements`: the newest announcements with their state and receipts, a rows view. A
  new announcement is a `post_save`; sending, ending, cancelling and receipts are stored with UPDATEs
  and bulk writes, which fire no model signal: realtime.announcements says so with its own signals
  (`announcements_changed`, `receipts_recorded`, after commit), connected here to `live.changed`.

All are for staff only (project.dashboard.is_staff), the rule the page itself applies. Each is rendered
once per change per page language (realtime.live makes a room per language), never per viewer.
"""

from __future__ import annotations

from typing import Any

from realtime import live
from realtime.announcements.models import Announcement
from realtime.announcements.signals import announcements_changed, receipts_recorded
from realtime.streams.models import Stream

from . import dashboard

STATS_EVERY = 2.0  # seconds


def announcements_moved(sender: Any, pks: list[int], **kwargs: Any) -> None:
    """Re-render these announcements' rows on every open dashboard (their state or receipts moved)."""
    live.changed(Announcement, pks=pks)


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
    compute=lambda audience: dashboard.stats(),
    depends_on=[Stream],
    every=STATS_EVERY,
    can_view=dashboard.is_staff,
)
live.rows(
    "dashboard-announcements",
    model=Announcement,
    template="dashboard/_announcement_row.html",
    queryset=lambda audience: dashboard.recent_announcements(),
    cap=dashboard.ANNOUNCEMENTS,
    can_view=dashboard.is_staff,
)
receipts_recorded.connect(announcements_moved, dispatch_uid="project.live.receipts")
announcements_changed.connect(announcements_moved, dispatch_uid="project.live.announcements")
