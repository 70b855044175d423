"""`{% load realtime_streams %}{% realtime_stream stream %}`: the player with its comment overlay.

The page must also contain `{% realtime_client %}` (from `{% load realtime %}`), once, in <head>.
Everything it shows is translated into the request's language (Django's LocaleMiddleware), the
scripts' words included: they come from `realtime.streams.texts`, rendered here as JSON.
"""

from __future__ import annotations

import json
from typing import Any

from django import template
from django.conf import settings
from django.urls import NoReverseMatch, reverse
from django.utils.http import urlencode
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from realtime.templatetags.realtime import csp_nonce, setting

from ..restrictions import page_standing
from ..texts import client_texts

register = template.Library()

# People pick colours by name, not hex; unknown (project-added) colours fall back to their hex.
_COLOR_NAMES = {
    "#ffffff": _("White"),
    "#ff5555": _("Red"),
    "#ffd700": _("Gold"),
    "#55ff55": _("Green"),
    "#55aaff": _("Blue"),
    "#ff77ff": _("Pink"),
}
_MODE_NAMES = {"scroll": _("Scroll across"), "top": _("Pinned top"), "bottom": _("Pinned bottom")}
_REACTIONS = {
    "heart": ("❤️", _("Love")),
    "laugh": ("😂", _("Laugh")),
    "wow": ("😮", _("Wow")),
    "clap": ("👏", _("Applause")),
    "fire": ("🔥", _("Fire")),
}
# json_script's escaping: the JSON cannot end the <script> element or open a comment in it.
_JSON_ESCAPES = {ord(">"): "\\u003E", ord("<"): "\\u003C", ord("&"): "\\u0026"}


def json_for_script(value: Any) -> SafeString:
    """`value` as JSON safe to put inside <script type="application/json">."""
    return SafeString(json.dumps(value, ensure_ascii=False, sort_keys=True).translate(_JSON_ESCAPES))


def texts_json() -> SafeString:
    """`client_texts()` as JSON safe to put inside <script type="application/json">."""
    return json_for_script(client_texts())


def replay_url(stream: Any) -> str:
    """The replay read for this stream, or "" when the project did not include realtime.streams.urls."""
    try:
        return reverse("realtime_streams:replay", args=[stream.pk])
    except NoReverseMatch:
        return ""


@register.inclusion_tag("realtime/streams/stream.html", takes_context=True)
def realtime_stream(context: template.Context, stream: Any) -> dict[str, Any]:
    """The player with its comment overlay and settings, viewer count, reactions, comment list and form.

    Renders `realtime/streams/stream.html` (override it in your project's templates). `stream` is a
    `realtime.streams.models.Stream`; the page must also contain `{% realtime_client %}`.
    """
    request = context.get("request")
    user: Any = getattr(request, "user", None) or context.get("user")
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
        "replay_url": replay_url(stream),
        "is_live": getattr(stream, "status", "live") == "live",
        "max_length": setting("MAX_COMMENT_LENGTH"),
        "colors": [{"value": c, "name": _COLOR_NAMES.get(c.lower(), c)} for c in setting("COMMENT_COLORS")],
        "modes": [{"value": m, "name": _MODE_NAMES.get(m, m)} for m in setting("COMMENT_MODES")],
        "reactions": [
            {"kind": k, "emoji": _REACTIONS.get(k, (k, k))[0], "name": _REACTIONS.get(k, (k, k))[1]}
            for k in setting("REACTIONS")
        ],
        "texts": texts_json(),
        # A restricted viewer's page opens in its one consistent state, before the socket says so.
        "standing": json_for_script(page_standing(stream, user) if authenticated else None),
        "nonce": csp_nonce(context),
    }
