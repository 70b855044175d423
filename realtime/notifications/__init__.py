"""Notifications: per-user messages, stored, counted unread, and read on every tab at once.

    from realtime.notifications import notify, unread_count, mark_read
    notify(user, "Your export is ready", url="/exports/12/")

The functions are imported lazily so that importing the package (as Django does while loading apps)
touches no models. Pages show them with `{% load realtime_notifications %}{% notifications_badge %}`.
See docs/notifications.md.
"""

from __future__ import annotations

from typing import Any

__all__ = ["amark_read", "anotify", "aunread_count", "mark_read", "notify", "topic_for", "unread_count"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'realtime.notifications' has no attribute {name!r}")
