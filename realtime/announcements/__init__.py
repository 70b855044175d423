"""Announcements: banners staff send from the Django admin, the shell or Python code.

    from realtime.announcements import announce
    announce("Maintenance at 22:00", body="Expect a minute of downtime.", level="warning",
             audience="staff", ends_in=timedelta(minutes=30))

The functions (`announce`, `send_now`, `schedule`, `end`, `cancel`, `resend`, `send_test`) are imported
lazily so that importing the package (as Django does while loading apps) touches no models. See
docs/announcements.md.
"""

from __future__ import annotations

from typing import Any

__all__ = ["AnnouncementError", "announce", "cancel", "end", "resend", "schedule", "send_now", "send_test"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'realtime.announcements' has no attribute {name!r}")
