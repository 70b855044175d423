"""The notifications' Python API: `notify()` from a view, a signal, a shell or a task, in one call.

    from realtime.notifications import notify
    notify(order.customer, "Your order shipped", body="Tracking number 1Z999.", url=f"/orders/{order.pk}/")

Delivery: the notification is stored (a `Notification` row, and an event on the recipient's topic
`notify.<id>` in the core's event log) inside your transaction if you are in one, and published to
every process once it commits: every open tab of the recipient shows it and its unread count at once.
A tab that was offline is replayed what it missed when it reconnects (up to `HISTORY_LIMIT` events;
its count and newest items come fresh with every reconnect whatever it missed). On the in-memory layer
a call from another process (a shell, a worker) reaches daphne through the database within about
`WATCH_INTERVAL`; on channels-redis at once. See docs/notifications.md.
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async

from realtime.publishing import apublish, publish_on_commit

from .delivery import store_notifications, store_read, topic_for, unread_counts
from .models import Notification
from .validation import clean, recipient_ids

__all__ = ["amark_read", "anotify", "aunread_count", "mark_read", "notify", "topic_for", "unread_count"]


def notify(
    user_or_users: Any,
    title: str,
    body: str = "",
    url: str = "",
    level: str = "info",
    data: dict[str, Any] | None = None,
) -> list[Notification]:
    """Notify a user (or each of several: users, ids, a queryset), stored and sent live on commit.

    `title` and `body` are plain text, shown exactly as written (never as HTML); `url` an http(s)
    address or a path on this site (`/orders/7/`); `level` one of info, success, warning, error;
    `data` a small JSON object your own page code may use. Returns the stored notifications, one per
    recipient. Raises `ValueError`/`TypeError` naming what to fix, before anything is stored.
    """
    fields = clean(title, body, url, level, data)
    rows, events = store_notifications(recipient_ids(user_or_users), fields)
    for event in events:
        # Inside an outer transaction this waits for its commit; outside, it runs now.
        publish_on_commit(event)
    return rows


async def anotify(
    user_or_users: Any,
    title: str,
    body: str = "",
    url: str = "",
    level: str = "info",
    data: dict[str, Any] | None = None,
) -> list[Notification]:
    """`notify()` for async code (consumers, async views); `user_or_users` must not be a lazy queryset."""
    fields = clean(title, body, url, level, data)
    ids = recipient_ids(user_or_users)
    rows, events = await database_sync_to_async(store_notifications)(ids, fields)
    for event in events:
        await apublish(event)
    return rows


def unread_count(user: Any) -> int:
    """How many of the user's notifications are unread (0 for an anonymous user)."""
    if not getattr(user, "is_authenticated", False):
        return 0
    return unread_counts([user.pk])[user.pk]


async def aunread_count(user: Any) -> int:
    return await database_sync_to_async(unread_count)(user)


def mark_read(user: Any, ids: list[int] | None = None) -> int:
    """Mark the user's notifications `ids` read (None: all of them), on every open tab of theirs.

    Ids that are not the user's, or already read, are skipped. Returns how many were newly marked.
    """
    marked, _unread, event = store_read(user.pk, None if ids is None else [int(i) for i in ids])
    if event is not None:
        publish_on_commit(event)
    return len(marked)


async def amark_read(user: Any, ids: list[int] | None = None) -> int:
    marked, _unread, event = await database_sync_to_async(store_read)(user.pk, ids)
    if event is not None:
        await apublish(event)
    return len(marked)
