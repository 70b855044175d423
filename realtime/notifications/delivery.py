"""Storing notifications and reads, each with its event on the recipient's topic, in one transaction.

Every change to a user's notifications is an event on `notify.<user id>` carrying the user's unread
count after it. Counts are read after the topic's write lock is taken (`lock_topics`, the order every
multi-topic writer shares), so two writers for one user queue up and each event's count is the count
at its place in the topic's order: a page that keeps the count of the newest event it has seen is
never behind, and never shows a count older than the list beside it.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from realtime.eventlog import StoredEvent, lock_topics, store_on_topics
from realtime.models import TopicSequence

from .models import Notification
from .signals import notification_sent, notifications_read

KIND = "notify"
#: Event names on `notify.<id>`.
NOTIFICATION = "notification"
READ = "read"


def topic_for(user: Any) -> str:
    """The topic of one user's notifications: `notify.<pk>` (only that user may subscribe)."""
    pk = user if isinstance(user, int) else user.pk
    return f"{KIND}.{pk}"


def lock_users(topics: list[str]) -> None:
    """Take the topics' write locks before counting. A user's first notification has no counter row
    to lock yet, and two first notifications at once would each count without seeing the other: the
    rows are created first (a no-op when they exist; waits for a racing creator's commit), in the
    one order every multi-topic writer shares."""
    names = sorted(set(topics))
    TopicSequence.objects.bulk_create(
        [TopicSequence(topic=t, last_id=0) for t in names], ignore_conflicts=True
    )
    lock_topics(names)


def unread_counts(user_ids: list[int]) -> dict[int, int]:
    rows = (
        Notification.objects.filter(recipient_id__in=user_ids, read_at__isnull=True)
        .values("recipient_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts = {user_id: 0 for user_id in user_ids}
    counts.update({row["recipient_id"]: row["n"] for row in rows})
    return counts


def store_notifications(
    user_ids: list[int], fields: dict[str, Any]
) -> tuple[list[Notification], list[StoredEvent]]:
    """Store one notification per user and its event; publish the events after commit."""
    with transaction.atomic():
        lock_users([topic_for(pk) for pk in user_ids])
        now = timezone.now()
        rows = Notification.objects.bulk_create(
            [Notification(recipient_id=pk, created=now, **fields) for pk in user_ids]
        )
        counts = unread_counts(user_ids)
        events = store_on_topics(
            [
                (
                    topic_for(row.recipient_id),
                    NOTIFICATION,
                    {**row.as_event(), "unread": counts[row.recipient_id]},
                )
                for row in rows
            ]
        )
        notification_sent.send(sender=Notification, notifications=rows)
    return rows, events


def store_read(user_id: int, ids: list[int] | None) -> tuple[list[int], int, StoredEvent | None]:
    """Mark the user's notifications `ids` (None: all) read. Returns the ids newly marked, the unread
    count after, and the event (None when nothing changed: a repeat is answered, not broadcast).
    Ids of other users' notifications, or of none, are ignored like ids already read."""
    topic = topic_for(user_id)
    with transaction.atomic():
        lock_users([topic])
        unread = Notification.objects.filter(recipient_id=user_id, read_at__isnull=True)
        if ids is not None:
            unread = unread.filter(pk__in=ids)
        marked = sorted(unread.values_list("pk", flat=True))
        if not marked:
            return [], unread_counts([user_id])[user_id], None
        Notification.objects.filter(pk__in=marked).update(read_at=timezone.now())
        left = unread_counts([user_id])[user_id]
        # "Everything up to" instead of thousands of ids, when a page asked for all.
        data: dict[str, Any] = {"unread": left}
        if ids is None:
            data["upto"] = marked[-1]
        else:
            data["ids"] = marked
        (event,) = store_on_topics([(topic, READ, data)], marker=True)
        notifications_read.send(sender=Notification, user_id=user_id, ids=marked, unread=left)
    return marked, left, event
