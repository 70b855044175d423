"""Template tags: `{% load realtime %}`, then `{% realtime_client %}` once per page (in <head>), and
`{% realtime_presence "page.home" %}` wherever "who is here" should show (docs/presence.md).

Feature apps ship their own libraries (`{% load realtime_streams %}` for `{% realtime_stream %}`).

Like django-htmx, the client's configuration rides in `data-*` attributes of its own `<script>` tag, and
a CSP nonce is added when the request has one (`csp_nonce` in the context, as Django's CSP context
processor provides, or `request.csp_nonce` from django-csp). Settings are read when a tag renders, never
at import time.
"""

from __future__ import annotations

import json
from typing import Any

from django import template
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext, pgettext

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


def _forms(one: str, other: str) -> dict[str, str]:
    # The page picks the form with Intl.PluralRules: "one" is English's singular, every other
    # category reads as `other` (both the same in Chinese). Two msgids rather than ngettext: the
    # count is only known in the page.
    return {"one": one, "other": other}


def presence_texts() -> dict[str, Any]:
    """The words of presence-roster.js, in the active language (%(count)s is filled in the page)."""
    return {
        "here": _forms(gettext("%(count)s person here"), gettext("%(count)s people here")),
        "guests": _forms(gettext("%(count)s guest"), gettext("%(count)s guests")),
        "and_guests": _forms(gettext("and %(count)s guest"), gettext("and %(count)s guests")),
        "more": _forms(gettext("and %(count)s more"), gettext("and %(count)s more")),
        "status_typing": pgettext("presence status", "typing"),
        "status_away": pgettext("presence status", "away"),
    }


@register.simple_tag(takes_context=True)
def realtime_presence(
    context: template.Context, topic: str, *, limit: int = 24, title: str | None = None
) -> SafeString:
    """ "Who is here" on `topic` (e.g. "page.home"): avatars and names of the signed-in users there,
    with a count that includes anonymous guests. Needs `{% realtime_client %}` in the page's <head>.
    The server decides who may see the roster; a page whose user may not shows the heading only."""
    seq = int(context.render_context.get("realtime_presence_seq") or 0) + 1
    context.render_context["realtime_presence_seq"] = seq
    html = render_to_string(
        "realtime/presence.html",
        {
            "topic": topic,
            "max": int(limit),
            "title": title if title is not None else gettext("Who is here"),
            "texts": json.dumps(presence_texts(), ensure_ascii=False),
            "dom_id": f"rt-presence-{seq}",
            "css_url": static("realtime/presence.css"),
            "script_url": static("realtime/presence-roster.js"),
            "nonce": csp_nonce(context),
        },
    )
    return SafeString(html)
