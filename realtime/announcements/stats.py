"""The figures the admin shows for an announcement: who is in its audience now, how many of them are
connected, and the delivered / seen / dismissed receipts of the round now out.

Every figure follows the one audience model (`audience.py`): the audience is who it names *now*, not
who was sent the round. Receipts count only the people still in the audience, so "seen 40 of 50"
never counts someone who left staff, a group or the chosen users since; their receipts are counted
apart, as `left_audience`, so nothing disappears without a word. For a stream's viewers (not a list of
people: who may watch is the stream's own rule) every receipt of the round counts and `audience_size`
and `left_audience` are None.

`compute` costs three queries, whatever the number of recipients or connected users: the
announcement, one for the audience (its size and who of it is connected), one aggregate over the
round's receipts.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet

from .audience import ALL_TOPIC, SIGNED_IN_TOPIC, audience_users, stream_topic
from .census import PERSONAL
from .models import Announcement, Audience, Receipt

__all__ = ["census_topic", "compute"]


def census_topic(announcement: Announcement) -> str | None:
    """Where the census finds this announcement's connected audience."""
    if announcement.audience == Audience.EVERYONE:
        return ALL_TOPIC
    if announcement.audience == Audience.SIGNED_IN:
        return SIGNED_IN_TOPIC
    if announcement.audience == Audience.STREAM:
        return stream_topic(announcement.stream_id) if announcement.stream_id else None
    return PERSONAL


def audience_now(announcement: Announcement) -> QuerySet | None:
    """The ids of the users in the audience now, as a subquery; None for a stream's viewers."""
    if announcement.audience == Audience.STREAM:
        return None
    return audience_users(announcement).values("pk")


def audience_figures(
    announcement: Announcement, users: set[int] | frozenset[int], anonymous: int
) -> dict[str, int | None]:
    """`audience_size` (who the audience names now) and `connected` / `connected_anonymous` (those of
    them with a page open that can show the banner; `users` and `anonymous` come from the census)."""
    audience = announcement.audience
    if audience == Audience.STREAM:
        return {"audience_size": None, "connected": len(users), "connected_anonymous": anonymous}
    if audience in (Audience.EVERYONE, Audience.SIGNED_IN):
        # The census asked the audience's own topic, which only its members may hold.
        return {
            "audience_size": audience_users(announcement).count(),
            "connected": len(users),
            "connected_anonymous": anonymous if audience == Audience.EVERYONE else 0,
        }
    # Targeted: the census answered with everyone holding a personal topic; keep the audience's.
    # The ids are intersected here rather than sent to the database as `pk IN (...)`, so the query
    # stays one short statement however many users are connected (PostgreSQL refuses more than
    # 65,535 parameters).
    members = set(audience_users(announcement).values_list("pk", flat=True))
    return {"audience_size": len(members), "connected": len(members & users), "connected_anonymous": 0}


def receipt_figures(announcement: Announcement) -> dict[str, int | None]:
    """delivered / seen / dismissed of the round now out, counted over the people in the audience now,
    and `left_audience`: this round's receipts (for a targeted audience: its recipients) of people who
    have left the audience since. One aggregate query."""
    receipts = Receipt.objects.filter(announcement=announcement, round=announcement.round)
    members = audience_now(announcement)
    if members is None:
        counts = receipts.aggregate(
            delivered=Count("delivered_at"), seen=Count("seen_at"), dismissed=Count("dismissed_at")
        )
        return {**counts, "left_audience": None}
    still = Q(user_id__in=members)
    return receipts.aggregate(
        delivered=Count("delivered_at", filter=still),
        seen=Count("seen_at", filter=still),
        dismissed=Count("dismissed_at", filter=still),
        left_audience=Count("pk", filter=~still),
    )


def compute(pk: int, users: set[int] | frozenset[int] = frozenset(), anonymous: int = 0) -> dict[str, Any]:
    """The panel's figures for announcement `pk` (`{"id", "deleted": True}` once it is gone)."""
    announcement = Announcement.objects.filter(pk=pk).first()
    if announcement is None:
        return {"id": pk, "deleted": True}
    return {
        "id": pk,
        "state": announcement.state,
        "state_label": str(announcement.get_state_display()),  # lazy: rendered here, for JSON
        "round": announcement.round,
        "audience": str(announcement.get_audience_display()),
        **audience_figures(announcement, users, anonymous),
        **receipt_figures(announcement),
    }
