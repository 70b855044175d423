"""The status page's keys in `REALTIME = {...}`, declared with the core's settings object.

Importing this module declares the keys (nothing is read until a value is used).
"""

from __future__ import annotations

from ..conf import realtime_settings

DEFAULTS = {
    # Seconds between the snapshots each process publishes while someone has the admin's "Realtime
    # status" page open (nothing is published while nobody looks).
    "STATUS_INTERVAL": 2.0,
    # Hot topics listed per process: the N with the most stored events over the last minute.
    "STATUS_TOP_TOPICS": 5,
}

realtime_settings.declare(DEFAULTS)
