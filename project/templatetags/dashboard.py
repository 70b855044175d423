"""`{% load dashboard %}`: the example dashboard's template filters."""

from __future__ import annotations

from django import template

from realtime.announcements.models import Announcement

from ..dashboard import receipt_counts

register = template.Library()


@register.filter
def receipts(announcement: Announcement) -> dict[str, int]:
    """delivered / seen / dismissed of the announcement's round now out (a fragment's context holds only
    the object: this is where its receipts come from)."""
    return receipt_counts([announcement.pk])[announcement.pk]
