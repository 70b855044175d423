"""The announcements feature's keys in `REALTIME = {...}`, declared with the core's settings object.

Importing this module declares the keys (nothing is read until a value is used).
"""

from __future__ import annotations

from ..conf import realtime_settings

DEFAULTS = {
    # Run the scheduler inside every daphne process (a hub service). False: only `manage.py
    # realtime_scheduler` starts and ends scheduled announcements.
    "ANNOUNCEMENT_SCHEDULER": True,
    # Seconds between the in-process scheduler's looks at the database for changes no wake message
    # told it of (a command run from another process on the in-memory layer).
    "ANNOUNCEMENT_POLL_INTERVAL": 5.0,
    # Seconds receipts are gathered before they are stored in one transaction per process.
    "ANNOUNCEMENT_RECEIPT_INTERVAL": 0.25,
    # Seconds between updates of the admin's live panel (receipt counts, connected users).
    "ANNOUNCEMENT_STATS_INTERVAL": 1.0,
}

realtime_settings.declare(DEFAULTS)
