"""The announcement change page's parts outside the ModelAdmin: the banner preview, and saving only
what the form changed.

Why not `obj.save()`: the admin read the row when the POST arrived and would write all of it back,
`state` and `round` included. A scheduler that put the announcement live (or a colleague who ended it)
in between would be undone: state back to scheduled, round back, the same round sent twice. So a save
writes only the fields the form changed, and only if the row is still in the state the form was built
for (a conditional UPDATE); otherwise nothing is written and the editor is told why.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext

from .models import Announcement
from .signals import announcements_changed, send_on_commit

#: Request attribute set when a save was refused (the admin's response then says why).
REFUSED = "_realtime_announcement_save_refused"


def save_changes(obj: Announcement, changed: list[str]) -> bool:
    """Write `obj`'s changed fields if its row is still in the state `obj` was read in; False (and
    nothing written) if the state moved meanwhile."""
    columns = {field.name for field in Announcement._meta.concrete_fields}
    values = {name: getattr(obj, name) for name in changed if name in columns}
    with transaction.atomic():
        rows = Announcement.objects.select_for_update().filter(pk=obj.pk, state=obj.state)
        if not values:
            return rows.exists()
        written = bool(rows.update(**values))
        if written:
            send_on_commit(announcements_changed, [obj.pk])
        return written


def refusal(obj: Announcement, now: Announcement | None) -> str:
    if now is None:
        return gettext("“%(title)s” was deleted while you were editing it; nothing was saved.") % {
            "title": obj
        }
    return gettext(
        "“%(title)s” became %(state)s while you were editing it, so your changes were not saved "
        "(they were made for a %(was)s announcement). Here it is as it is now: edit it again if needed."
    ) % {"title": obj, "state": now.get_state_display(), "was": obj.get_state_display()}


def preview(obj: Announcement | None) -> dict[str, Any]:
    """The banner as the site would show it (admin.js keeps it in step with the form)."""
    if obj is None:
        return {
            "id": 0,
            "round": 0,
            "title": gettext("Your announcement"),
            "body": "",
            "link": "",
            "level": "info",
            "dismissible": True,
            "topic": "",
            "sent_at": "",
        }
    return {
        "id": obj.pk,
        "round": obj.round,
        "title": obj.title,
        "body": obj.body,
        "link": obj.link,
        "level": obj.level,
        "dismissible": obj.is_dismissible,
        "topic": "",
        "sent_at": "",
    }
