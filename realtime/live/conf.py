"""The live-data feature's keys in `REALTIME = {...}`, declared with the core's settings object.

Importing this module declares the keys (nothing is read until a value is used).
"""

from __future__ import annotations

from ..conf import realtime_settings

DEFAULTS = {
    # Seconds at least between two frames of one live topic: a view re-rendered (leading and trailing
    # edge: the first change after a quiet spell goes at once, the last is never lost) and a model
    # topic's frames (each carries the newest value per row). What bounds the frames a hot row costs.
    "LIVE_INTERVAL": 0.15,
}

realtime_settings.declare(DEFAULTS)
