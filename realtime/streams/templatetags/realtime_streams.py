"""`{% load realtime_streams %}{% realtime_stream stream %}`: the player with its comment overlay.

The page must also contain `{% realtime_client %}` (from `{% load realtime %}`), once, in <head>.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings
from django.utils.http import urlencode

from realtime.templatetags.realtime import csp_nonce, setting

register = template.Library()

# People pick colours by name, not hex; unknown (project-added) colours fall back to their hex.
_COLOR_NAMES = {
    "#ffffff": "White",
    "#ff5555": "Red",
    "#ffd700": "Gold",
    "#55ff55": "Green",
    "#55aaff": "Blue",
    "#ff77ff": "Pink",
}
_MODE_NAMES = {"scroll": "Scroll across", "top": "Pinned top", "bottom": "Pinned bottom"}
_REACTION_EMOJI = {"heart": "❤️", "laugh": "😂", "wow": "😮", "clap": "👏", "fire": "🔥"}


@register.inclusion_tag("realtime/streams/stream.html", takes_context=True)
def realtime_stream(context: template.Context, stream: Any) -> dict[str, Any]:
    """The player with its comment overlay, viewer count, reactions, comment list and form.

    Renders `realtime/streams/stream.html` (override it in your project's templates). `stream` is a
    `realtime.streams.models.Stream`; the page must also contain `{% realtime_client %}`.
    """
    request = context.get("request")
    user = getattr(request, "user", None) or context.get("user")
    authenticated = bool(getattr(user, "is_authenticated", False))
    login_url = settings.LOGIN_URL
    if request is not None:
        login_url = f"{login_url}?{urlencode({'next': request.get_full_path()})}"
    created_at = getattr(stream, "created_at", None)
    return {
        "stream": stream,
        "topic": getattr(stream, "topic", f"stream.{stream.pk}"),
        "user_id": user.pk if authenticated else "",
        "username": user.get_username() if authenticated else "",
        "authenticated": authenticated,
        "login_url": login_url,
        "started_at": created_at.isoformat() if created_at else "",
        "video_url": getattr(stream, "video_url", ""),
        "is_live": getattr(stream, "status", "live") == "live",
        "max_length": setting("MAX_COMMENT_LENGTH"),
        "colors": [{"value": c, "name": _COLOR_NAMES.get(c.lower(), c)} for c in setting("COMMENT_COLORS")],
        "modes": [{"value": m, "name": _MODE_NAMES.get(m, m)} for m in setting("COMMENT_MODES")],
        "reactions": [{"kind": k, "emoji": _REACTION_EMOJI.get(k, k)} for k in setting("REACTIONS")],
        "nonce": csp_nonce(context),
    }
