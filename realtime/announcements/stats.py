"""The figures the admin shows for an announcement: audience size, connected targeted users, and the
delivered / seen / dismissed receipts of the round now out."""

from __future__ import annotations

from typing import Any

from django.db.models import Count

from .audience import ALL_TOPIC, SIGNED_IN_TOPIC, audience_users, stream_topic
from .census import PERSONAL
from .models import Announcement, Audience, Receipt


def census_topic(announcement: Announcement) -> str | None:
    """Where the census finds this announcement's connected audience."""
    if announcement.audience == Audience.EVERYONE:
        return ALL_TOPIC
    if announcement.audience == Audience.SIGNED_IN:
        return SIGNED_IN_TOPIC
    if announcement.audience == Audience.STREAM:
        return stream_topic(announcement.stream_id) if announcement.stream_id else None
    return PERSONAL


def audience_size(announcement: Announcement) -> int | None:
    """Users the audience names: for a targeted audience already sent, those it was sent to; None for a
    stream's viewers (not a list of people)."""
    if announcement.audience == Audience.STREAM:
        return None
    if announcement.targeted and announcement.round:
        return Receipt.objects.filter(announcement=announcement, round=announcement.round).count()
    return audience_users(announcement).count()


def connected_in_audience(
    announcement: Announcement, users: set[int] | frozenset[int], anonymous: int
) -> tuple[int, int]:
    """(signed-in users, anonymous connections) of the audience that are connected."""
    if announcement.audience in (Audience.EVERYONE, Audience.STREAM):
        return len(users), anonymous
    if announcement.audience == Audience.SIGNED_IN:
        return len(users), 0
    if announcement.round:
        count = Receipt.objects.filter(
            announcement=announcement, round=announcement.round, user_id__in=users
        ).count()
    else:
        count = audience_users(announcement).filter(pk__in=users).count()
    return count, 0


def compute(pk: int, users: set[int] | frozenset[int] = frozenset(), anonymous: int = 0) -> dict[str, Any]:
    announcement = Announcement.objects.filter(pk=pk).first()
    if announcement is None:
        return {"id": pk, "deleted": True}
    counts = Receipt.objects.filter(announcement=announcement, round=announcement.round).aggregate(
        delivered=Count("delivered_at"), seen=Count("seen_at"), dismissed=Count("dismissed_at")
    )
    connected, connected_anonymous = connected_in_audience(announcement, users, anonymous)
    return {
        "id": pk,
        "state": announcement.state,
        "state_label": str(announcement.get_state_display()),  # lazy: rendered here, for JSON
        "round": announcement.round,
        "audience": str(announcement.get_audience_display()),
        "audience_size": audience_size(announcement),
        "connected": connected,
        "connected_anonymous": connected_anonymous,
        **counts,
    }
