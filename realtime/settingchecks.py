"""System checks of the `REALTIME` settings dict: a mistyped key, a value that would stop delivery.

Apart from `realtime.checks` (the installation and the mounting) so each module keeps one job.
"""

from __future__ import annotations

import difflib
from typing import Any

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.compatibility)
def check_settings_keys(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """A key in REALTIME that nothing declares is a typo: its value would be silently ignored."""
    from .conf import realtime_settings

    configured = getattr(settings, "REALTIME", None) or {}
    if not isinstance(configured, dict):
        return [
            checks.Error(
                "settings.REALTIME must be a dict.",
                hint="REALTIME = {'HISTORY_LIMIT': 50}",
                id="realtime.E007",
            )
        ]
    known = realtime_settings.defaults
    errors: list[checks.CheckMessage] = []
    for key in sorted(set(configured) - set(known)):
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"Did you mean {close[0]!r}?" if close else "Valid keys: " + ", ".join(sorted(known)) + "."
        errors.append(
            checks.Error(
                f"REALTIME[{key!r}] is not a realtime setting; it is ignored.", hint=hint, id="realtime.E007"
            )
        )
    return errors


@checks.register(checks.Tags.compatibility)
def check_layer_timeout(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """LAYER_TIMEOUT bounds every channel-layer call (realtime.layerlink). Zero or less would time out
    every call at once, so the layer would always count as down and nothing would be delivered live."""
    from .conf import realtime_settings

    value = realtime_settings.LAYER_TIMEOUT
    if value is None:
        return []
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        return [
            checks.Error(
                f"REALTIME['LAYER_TIMEOUT'] is {value!r}; it must be a number of seconds above 0 (or None).",
                hint="Use a few seconds (the default is 2.0): long enough for a busy Redis to answer, short "
                "enough that a frozen one is noticed. None waits forever, which a frozen Redis would stall.",
                id="realtime.E011",
            )
        ]
    return []
