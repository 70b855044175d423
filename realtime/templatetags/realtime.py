"""Template tags: `{% load realtime %}`, then `{% realtime_client %}` once per page (in <head>) and
`{% realtime_stream stream %}` where the player should go.

Like django-htmx, the client's configuration rides in `data-*` attributes of its own `<script>` tag, and
a CSP nonce is added when the request has one (`csp_nonce` in the context, as Django's CSP context
processor provides, or `request.csp_nonce` from django-csp). Settings are read when a tag renders, never
at import time.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings
from django.templatetags.static import static
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import SafeString

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


def _setting(name: str) -> Any:
    from realtime.conf import realtime_settings

    return getattr(realtime_settings, name)


def _nonce(context: template.Context) -> str | None:
    nonce = context.get("csp_nonce")
    if not nonce:
        request = context.get("request")
        nonce = getattr(request, "csp_nonce", None)
    return str(nonce) if nonce else None


@register.simple_tag(takes_context=True)
def realtime_client(context: template.Context, *, ticket_url: str | None = None) -> SafeString:
    """The `<script>` for realtime.js; put it in <head>. `ticket_url` switches the client from the
    session cookie to short-lived tickets (for pages whose socket lives on another origin)."""
    attrs: list[tuple[str, Any]] = [
        ("src", static("realtime/realtime.js")),
        ("data-url", _setting("WEBSOCKET_PATH")),
        ("data-heartbeat", _setting("HEARTBEAT")),
    ]
    if ticket_url:
        attrs.append(("data-ticket-url", ticket_url))
    nonce = _nonce(context)
    if nonce:
        attrs.append(("nonce", nonce))
    return format_html("<script defer{}></script>", _attrs(attrs))


def _attrs(pairs: list[tuple[str, Any]]) -> SafeString:
    parts = [format_html(' {}="{}"', name, value) for name, value in pairs]
    return SafeString("".join(parts))


@register.inclusion_tag("realtime/stream.html", takes_context=True)
def realtime_stream(context: template.Context, stream: Any) -> dict[str, Any]:
    """The player with its comment overlay, viewer count, reactions, comment list and form.

    Renders `realtime/stream.html` (override it in your project's templates). `stream` is a
    `realtime.models.Stream`; the page must also contain `{% realtime_client %}`.
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
        "max_length": _setting("MAX_COMMENT_LENGTH"),
        "colors": [{"value": c, "name": _COLOR_NAMES.get(c.lower(), c)} for c in _setting("COMMENT_COLORS")],
        "modes": [{"value": m, "name": _MODE_NAMES.get(m, m)} for m in _setting("COMMENT_MODES")],
        "reactions": [{"kind": k, "emoji": _REACTION_EMOJI.get(k, k)} for k in _setting("REACTIONS")],
        "nonce": _nonce(context),
    }
