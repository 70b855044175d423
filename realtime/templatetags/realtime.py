"""Template tags: `{% load realtime %}`, then `{% realtime_client %}` once per page (in <head>).

Feature apps ship their own libraries (`{% load realtime_streams %}` for `{% realtime_stream %}`).

Like django-htmx, the client's configuration rides in `data-*` attributes of its own `<script>` tag, and
a CSP nonce is added when the request has one (`csp_nonce` in the context, as Django's CSP context
processor provides, or `request.csp_nonce` from django-csp). Settings are read when a tag renders, never
at import time.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.templatetags.static import static
from django.utils.html import format_html
from django.utils.safestring import SafeString

from realtime.language import badge_labels

register = template.Library()


def setting(name: str) -> Any:
    from realtime.conf import realtime_settings

    return getattr(realtime_settings, name)


def csp_nonce(context: template.Context) -> str | None:
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
        ("data-url", setting("WEBSOCKET_PATH")),
        ("data-heartbeat", setting("HEARTBEAT")),
    ]
    if ticket_url:
        attrs.append(("data-ticket-url", ticket_url))
    # The connection badge's words, in the page's language: realtime.js's English is only a fallback.
    attrs += [(f"data-label-{state}", label) for state, label in badge_labels().items()]
    nonce = csp_nonce(context)
    if nonce:
        attrs.append(("nonce", nonce))
    return format_html("<script defer{}></script>", _attrs(attrs))


def _attrs(pairs: list[tuple[str, Any]]) -> SafeString:
    parts = [format_html(' {}="{}"', name, value) for name, value in pairs]
    return SafeString("".join(parts))
