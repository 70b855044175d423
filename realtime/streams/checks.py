"""System checks of the live-stream feature."""

from __future__ import annotations

from typing import Any

from django.core import checks


@checks.register(checks.Tags.compatibility)
def check_comment_length(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    from .conf import realtime_settings
    from .models import Comment

    column = Comment._meta.get_field("text").max_length
    if column is not None and int(realtime_settings.MAX_COMMENT_LENGTH) > column:
        return [
            checks.Error(
                f"REALTIME['MAX_COMMENT_LENGTH'] is {realtime_settings.MAX_COMMENT_LENGTH}, but comments are "
                f"stored in a column of {column} characters.",
                hint=f"Set REALTIME['MAX_COMMENT_LENGTH'] to {column} or less.",
                id="realtime.E004",
            )
        ]
    return []
