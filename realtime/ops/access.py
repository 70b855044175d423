"""Who may see the realtime status: one rule for the admin page, its topic and the command's docs."""

from __future__ import annotations

from typing import Any

#: Staff with this permission see the status page (superusers have every permission). Given in the
#: admin like any other: Users or Groups, "realtime | Realtime status | Can view the realtime status".
STATUS_PERMISSION = "realtime.view_status"


def may_view_status(user: Any) -> bool:
    """Active staff with `STATUS_PERMISSION` (read by Django from the database, so call it fresh)."""
    return bool(
        getattr(user, "is_authenticated", False)
        and user.is_active
        and user.is_staff
        and user.has_perm(STATUS_PERMISSION)
    )
