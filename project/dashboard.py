"""The figures of the example site's live dashboard (templates/dashboard/): what the page shows, computed
from the product's own data. No I/O beyond the database and the presence API, so each is testable alone.

- Viewer counts come from the hubs (`realtime.presence`), not the database: who has a stream open is
  known only to the processes holding the sockets.
- Comments per minute are read from the stored comments: a rolling 60-second count per stream, and the
  last `MINUTES` whole minutes for the chart.
- Receipts of an announcement count the round now out, as the admin's figures do; realtime.announcements'
  `receipts_recorded` signal says when they move (project/live.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Count
from django.db.models.functions import TruncMinute
from django.utils import timezone

from realtime.announcements.models import Announcement, Receipt
from realtime.streams.models import Comment, Stream

MINUTES = 15  # the chart's span
ANNOUNCEMENTS = 10  # the dashboard lists the newest this many
STREAMS = 50  # the stream table's cap


def is_staff(user: Any) -> bool:
    """Who may see the dashboard: it shows every stream (members-only ones too) and every announcement's
    receipts, which the admin shows only to staff."""
    return bool(getattr(user, "is_active", False) and getattr(user, "is_staff", False))


def dashboard_streams() -> Any:
    """The stream table's rows: live streams first, then newest first (as the home page orders them)."""
    from django.db.models import Case, Value, When

    live_first = Case(When(status=Stream.Status.LIVE, then=Value(0)), default=Value(1))
    return Stream.objects.select_related("owner").order_by(live_first, "-created_at", "-pk")


def comments_last_minute(now: datetime | None = None) -> dict[int, int]:
    """Comments stored in the last 60 seconds, per stream id (streams with none are absent). One query."""
    since = (now or timezone.now()) - timedelta(seconds=60)
    rows = (
        Comment.objects.filter(created_at__gt=since)
        .order_by()
        .values("stream_id")
        .annotate(n=Count("pk"))
        .values_list("stream_id", "n")
    )
    return dict(rows)


def comments_per_minute_series(now: datetime | None = None, minutes: int = MINUTES) -> list[dict[str, Any]]:
    """Comments on all streams in each of the last `minutes` whole minutes, oldest first, the current
    (unfinished) minute last: [{"minute": "HH:MM" (UTC), "count": n}, ...]. One query."""
    now = now or timezone.now()
    current = now.replace(second=0, microsecond=0)
    start = current - timedelta(minutes=minutes - 1)
    counted = (
        Comment.objects.filter(created_at__gte=start)
        .order_by()
        .annotate(minute=TruncMinute("created_at"))
        .values("minute")
        .annotate(n=Count("pk"))
        .values_list("minute", "n")
    )
    by_minute = {minute.astimezone(UTC): n for minute, n in counted}
    series = []
    for step in range(minutes):
        minute = (start + timedelta(minutes=step)).astimezone(UTC)
        series.append({"minute": minute.strftime("%H:%M"), "count": by_minute.get(minute, 0)})
    return series


def viewer_count(counts: dict[str, int]) -> int:
    """A `realtime.presence.count()` answer as one number: signed-in people plus anonymous connections."""
    return int(counts.get("count", 0)) + int(counts.get("anonymous", 0))


def viewer_counts(stream_ids: Iterable[int]) -> dict[int, int]:
    """Viewers of each stream now, from the hubs (every process's part, through presence)."""
    from realtime import presence

    return {pk: viewer_count(presence.count(f"stream.{pk}")) for pk in stream_ids}


def stats(now: datetime | None = None, viewers: dict[int, int] | None = None) -> dict[str, Any]:
    """The dashboard's JSON value: per stream (by id, as text: JSON keys) its viewers and comments in
    the last minute, the totals, and the chart's series. `viewers` may be given (tests, the bench)."""
    ids = list(dashboard_streams().values_list("pk", flat=True)[:STREAMS])
    if viewers is None:
        viewers = viewer_counts(ids)
    per_minute = comments_last_minute(now)
    streams = {str(pk): {"viewers": viewers.get(pk, 0), "cpm": per_minute.get(pk, 0)} for pk in ids}
    return {
        "streams": streams,
        "viewers": sum(s["viewers"] for s in streams.values()),
        "cpm": sum(per_minute.values()),
        "series": comments_per_minute_series(now),
    }


def recent_announcements() -> Any:
    """The announcements the dashboard lists, newest first (the live rows view takes the first
    `ANNOUNCEMENTS`; it filters the queryset again, so it is not sliced here)."""
    return Announcement.objects.order_by("-created_at", "-pk")


def receipt_counts(announcement_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """delivered / seen / dismissed of the round now out, per announcement id. Two queries."""
    ids = list(announcement_ids)
    rounds = dict(Announcement.objects.filter(pk__in=ids).values_list("pk", "round"))
    counts = {pk: {"delivered": 0, "seen": 0, "dismissed": 0} for pk in ids}
    rows = (
        Receipt.objects.filter(announcement_id__in=ids)
        .order_by()
        .values("announcement_id", "round")
        .annotate(delivered=Count("delivered_at"), seen=Count("seen_at"), dismissed=Count("dismissed_at"))
    )
    for row in rows:
        pk = row["announcement_id"]
        if rounds.get(pk) == row["round"]:
            counts[pk] = {key: row[key] for key in ("delivered", "seen", "dismissed")}
    return counts
