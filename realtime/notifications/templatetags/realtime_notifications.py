"""`{% load realtime_notifications %}{% notifications_badge %}`: the unread count for a page header,
with a panel of the newest notifications, kept live.

Rendered on the server (the count and the list show before any script runs), then notifications.js
follows the user's topic `notify.<id>` through the page's one realtime.js connection, from the topic's
id read before the count (nothing sent in between is lost). Needs `{% realtime_client %}` in <head>.
Anonymous visitors get nothing.
"""

from __future__ import annotations

import json
from typing import Any

from django import template
from django.urls import NoReverseMatch, reverse

from realtime.templatetags.realtime import csp_nonce

from ..delivery import topic_for
from ..texts import client_texts, unread_sentence
from ..topic import NotifyTopic, panel

register = template.Library()


def list_url() -> str:
    try:
        return reverse("realtime_notifications:list")
    except NoReverseMatch:  # the project did not include realtime.notifications.urls
        return ""


def page_config(user: Any, seq: int, unread: int, size: int) -> str:
    """notifications.js's configuration (a data-config attribute): where to start, and its words."""
    config = {"topic": topic_for(user), "since": seq, "unread": unread, "size": size, "texts": client_texts()}
    return json.dumps(config, ensure_ascii=False)


@register.inclusion_tag("realtime/notifications/badge.html", takes_context=True)
def notifications_badge(context: template.Context, *, limit: int | None = None) -> dict[str, Any]:
    """The badge and its panel of the newest `limit` notifications (default: the topic's panel size)."""
    request = context.get("request")
    user = getattr(request, "user", None) or context.get("user")
    if user is None or not getattr(user, "is_authenticated", False):
        return {"show": False}
    size = int(limit or NotifyTopic.panel_size)
    seq, unread, items = panel(user.pk, topic_for(user), size)
    return {
        "show": True,
        "unread": unread,
        "sentence": unread_sentence(unread),
        "items": items,
        "config": page_config(user, seq, unread, size),
        "list_url": list_url(),
        "nonce": csp_nonce(context),
        "dom_id": _next_id(context),
    }


def _next_id(context: template.Context) -> str:
    seq = int(context.render_context.get("realtime_notifications_seq") or 0) + 1
    context.render_context["realtime_notifications_seq"] = seq
    return f"rt-notify-{seq}"
