"""System checks of the announcements feature."""

from __future__ import annotations

from typing import Any

from django.core import checks


@checks.register(checks.Tags.compatibility)
def check_intervals(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    from .conf import realtime_settings

    errors: list[checks.CheckMessage] = []
    for name in (
        "ANNOUNCEMENT_POLL_INTERVAL",
        "ANNOUNCEMENT_RECEIPT_INTERVAL",
        "ANNOUNCEMENT_STATS_INTERVAL",
    ):
        value = getattr(realtime_settings, name)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            errors.append(
                checks.Error(
                    f"REALTIME[{name!r}] must be a number of seconds above 0 (it is {value!r}).",
                    hint=f"Remove it to use the default ({realtime_settings.defaults[name]}).",
                    id="realtime.E020",
                )
            )
    return errors
