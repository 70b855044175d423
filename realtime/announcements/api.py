"""The Python API: announce from signals, views, task queues and shells.

    from realtime.announcements import announce, end
    notice = announce("Maintenance at 22:00", level="warning", audience="staff", ends_in=timedelta(minutes=30))
    end(notice)

`announce()` validates like the admin form, stores the announcement and sends it now, or schedules it
when it starts later (the scheduler sends it then). Inside your transaction nothing is published until
it commits. The state changes (`send_now`, `schedule`, `end`, `cancel`, `resend`, `send_test`) are the
ones the admin uses; pass `by=user` to record them in the admin's history.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .audience import validate_choices
from .lifecycle import AnnouncementError, cancel, end, resend, schedule, send_now, send_test
from .models import Announcement, Audience

__all__ = ["AnnouncementError", "announce", "cancel", "end", "resend", "schedule", "send_now", "send_test"]


def announce(
    title: str,
    body: str = "",
    *,
    level: str = "info",
    audience: str = Audience.EVERYONE,
    groups: Iterable[Group | int | str] = (),
    users: Iterable[Any] = (),
    stream: Any = None,
    link: str = "",
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    starts_in: timedelta | None = None,
    ends_in: timedelta | None = None,
    dismissible: bool | None = None,
    created_by: Any = None,
    draft: bool = False,
) -> Announcement:
    """Create an announcement and send it now, or schedule it if it starts in the future.

    `audience`: "everyone", "signed_in", "staff", "groups" (with `groups`: Group objects, ids or names),
    "users" (with `users`: user objects, ids or usernames) or "stream" (with `stream`: a Stream or its
    id; needs realtime.streams). `ends_in` counts from the start. `dismissible=None`: yes, except for
    critical announcements. `draft=True` stores it without sending. Raises `ValidationError` (naming
    the field) for bad input.
    """
    now = timezone.now()
    if starts_in is not None:
        starts_at = now + starts_in
    if ends_in is not None:
        ends_at = (starts_at or now) + ends_in
    announcement = Announcement(
        title=title,
        body=body,
        link=link,
        level=level,
        audience=audience,
        stream_id=getattr(stream, "pk", stream),
        starts_at=starts_at,
        ends_at=ends_at,
        dismissible=dismissible,
        created_by=created_by,
    )
    group_rows, user_rows = _groups(groups), _users(users)
    announcement.full_clean()
    validate_choices(audience, group_rows, user_rows)
    with transaction.atomic():
        announcement.save()
        announcement.groups.set(group_rows)
        announcement.users.set(user_rows)
        if draft:
            return announcement
        if starts_at is not None and starts_at > now:
            return schedule(announcement, by=created_by)
        return send_now(announcement, by=created_by)


def _groups(values: Iterable[Group | int | str]) -> list[Group]:
    found = []
    for value in values:
        lookup = (
            {"pk": value} if isinstance(value, int) else {"name": value} if isinstance(value, str) else None
        )
        group = (
            value if isinstance(value, Group) else Group.objects.filter(**lookup).first() if lookup else None
        )
        if group is None:
            raise ValidationError({"groups": _("No group %(group)s.") % {"group": repr(value)}})
        found.append(group)
    return found


def _users(values: Iterable[Any]) -> list[Any]:
    User = get_user_model()
    found = []
    for value in values:
        if isinstance(value, User):
            found.append(value)
            continue
        lookup = {"pk": value} if isinstance(value, int) else {User.USERNAME_FIELD: value}
        user = User._default_manager.filter(**lookup).first()
        if user is None:
            raise ValidationError({"users": _("No user %(user)s.") % {"user": repr(value)}})
        found.append(user)
    return found
