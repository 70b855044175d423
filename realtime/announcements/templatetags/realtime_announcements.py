"""`{% load realtime_announcements %}{% realtime_announcements %}`: the announcement banners, for the
base template (every page).

Renders the announcements live for this visitor now, on the server (they show before any script runs,
and the server's clock decides what is live), then `announcements.js` keeps them current through the
page's one realtime.js connection: new ones appear, ended or cancelled ones go, a dismissal on another
device closes them here. The page must also contain `{% realtime_client %}` (from `{% load realtime %}`).
Each topic is subscribed from the id it had when the page was rendered, so nothing sent in between is
lost and nothing shown is sent twice.
"""

from __future__ import annotations

import json
from typing import Any

from django import template

from realtime.eventlog import last_ids
from realtime.templatetags.realtime import csp_nonce

from ..audience import live_on, topics_for

register = template.Library()


def stacked(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Critical first, then the newest (the order announcements.js keeps)."""
    newest_first = sorted(items, key=lambda a: (a["sent_at"], a["id"]), reverse=True)
    return sorted(newest_first, key=lambda a: a["level"] != "critical")  # stable: keeps newest first


@register.inclusion_tag("realtime/announcements/stack.html", takes_context=True)
def realtime_announcements(context: template.Context) -> dict[str, Any]:
    """The live announcements for the visitor, and the script that keeps them live."""
    request = context.get("request")
    user = getattr(request, "user", None) or context.get("user")
    topics = topics_for(user)
    # Ids first, then what is live: anything stored after this read is replayed from these ids.
    since = last_ids(topics)
    items: dict[int, dict[str, Any]] = {}
    for topic in topics:
        for data in live_on(topic, user):
            items.setdefault(data["id"], {**data, "topic": topic})
    signed_in = bool(getattr(user, "is_authenticated", False))
    config = {
        "topics": {topic: since.get(topic, 0) for topic in topics},
        "user": getattr(user, "pk", None) if signed_in else None,
    }
    return {"items": stacked(list(items.values())), "config": json.dumps(config), "nonce": csp_nonce(context)}
