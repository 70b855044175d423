"""The live-stream feature's keys in `REALTIME = {...}`, declared with the core's settings object.

Importing this module declares the keys (nothing is read until a value is used).
"""

from __future__ import annotations

from ..conf import realtime_settings

DEFAULTS = {
    # Seconds between cross-process presence reports (viewer counts) and between count updates sent to
    # viewers of one topic.
    "PRESENCE_INTERVAL": 1.0,
    # Seconds reactions are summed before one `reactions` event goes out per topic.
    "REACTION_INTERVAL": 0.5,
    # Reactions one user may send per second on one stream; the rest are refused with rate_limited.
    "REACTION_RATE": 10,
    # Comment posting: at most RATE_LIMIT_COUNT posts per RATE_LIMIT_PERIOD seconds per user and stream
    # (None = no limit), text length, blocked terms (case-insensitive, whole words), styling allow-lists.
    "RATE_LIMIT_COUNT": 5,
    "RATE_LIMIT_PERIOD": 10.0,
    "MAX_COMMENT_LENGTH": 200,
    "BLOCKED_TERMS": [],
    "COMMENT_COLORS": ["#ffffff", "#ff5555", "#ffd700", "#55ff55", "#55aaff", "#ff77ff"],
    "COMMENT_MODES": ["scroll", "top", "bottom"],
    "REACTIONS": ["heart", "laugh", "wow", "clap", "fire"],
}

realtime_settings.declare(DEFAULTS)
