"""`{% load realtime_live %}`: live views rendered at page load, kept up to date by live.js.

    {% live_fragment "order-card" order %}           <div data-live-topic=.. data-live-form="fragment">..</div>
    {% live_rows "open-orders" tag="tbody" %}       <tbody ..>rows, each root with data-live-key</tbody>
    {% live_value "order-stats" %}                  <script type="application/json" ..>{..}</script>
    {% live_value "order-stats" field="open" %}     <span .. data-live-field="open">3</span>
    {% live_scripts %}                              realtime.js (as {% realtime_client %}) and live.js

The HTML is what a subscriber of the view's topic is sent, for the viewer's audience. A viewer who may
not see the view gets nothing (an empty string), never an error page. Settings are read when a tag
renders, never at import time.
"""

from __future__ import annotations

import json
from typing import Any

from django import template
from django.core.serializers.json import DjangoJSONEncoder
from django.templatetags.static import static
from django.utils.html import format_html, json_script
from django.utils.safestring import SafeString, mark_safe

from realtime.templatetags.realtime import csp_nonce, realtime_client

from .. import forms, languages, registry
from ..registry import AUDIENCE, PK, Fragment, Rows, Value, View

register = template.Library()


def _viewer(context: template.Context) -> Any:
    request = context.get("request")
    return getattr(request, "user", None) or context.get("user")


def _seen(context: template.Context, name: str, form: type[View]) -> tuple[View, str] | None:
    """The view and the viewer's audience, or None when the viewer may not see it."""
    view = registry.view_named(name)
    if not isinstance(view, form):
        raise template.TemplateSyntaxError(f"No live {form.form} view named {name!r} is registered.")
    user = _viewer(context)
    if user is None or not view.can_view(user):
        return None
    audience = view.audience(user)
    if not isinstance(audience, str) or not AUDIENCE.match(audience):
        raise ValueError(
            f"live view {name!r}: audience() returned {audience!r}; it must be 1-20 of a-z, 0-9."
        )
    return view, audience


def _open(tag: str, topic: str, form: str, extra: str = "") -> SafeString:
    return format_html('<{} data-live-topic="{}" data-live-form="{}"{}>', tag, topic, form, mark_safe(extra))


@register.simple_tag(takes_context=True)
def live_fragment(context: template.Context, name: str, obj: Any, *, tag: str = "div") -> SafeString:
    """The object's fragment, in an element that live.js keeps up to date."""
    seen = _seen(context, name, Fragment)
    if seen is None or obj is None:
        return SafeString("")
    view, audience = seen
    key = str(obj.pk)
    if not PK.match(key):
        raise template.TemplateSyntaxError(f"live_fragment: the key {key!r} cannot be part of a topic name.")
    state = forms.fragment_state(view, key, audience)  # type: ignore[arg-type]
    html = SafeString(state["html"])
    return format_html(
        "{}{}</{}>", _open(tag, view.topic(audience, key, languages.current()), "fragment"), html, tag
    )


@register.simple_tag(takes_context=True)
def live_rows(context: template.Context, name: str, *, tag: str = "div") -> SafeString:
    """The view's rows (each root element with its data-live-key), in an element live.js keeps current."""
    seen = _seen(context, name, Rows)
    if seen is None:
        return SafeString("")
    view, audience = seen
    state = forms.rows_state(view, audience)  # type: ignore[arg-type]
    body = SafeString("".join(state["html"][key] for key in state["order"]))
    return format_html(
        "{}{}</{}>", _open(tag, view.topic(audience, language=languages.current()), "rows"), body, tag
    )


@register.simple_tag(takes_context=True)
def live_value(
    context: template.Context, name: str, *, field: str | None = None, tag: str = "span"
) -> SafeString:
    """The value as JSON for scripts, or with `field` one of its entries as text."""
    seen = _seen(context, name, Value)
    if seen is None:
        return SafeString("")
    view, audience = seen
    value = forms.value_state(view, audience)["value"]  # type: ignore[arg-type]
    topic = view.topic(audience, language=languages.current())
    if field is None:
        script = json_script(value, encoder=DjangoJSONEncoder)  # <, >, & escaped inside the script
        attrs = format_html(' data-live-topic="{}" data-live-form="value"', topic)
        return SafeString(script.replace("<script", "<script" + attrs, 1))
    shown = value.get(field, "")
    text = shown if isinstance(shown, str) else json.dumps(shown, cls=DjangoJSONEncoder)
    extra = format_html(' data-live-field="{}"', field)
    return format_html("{}{}</{}>", _open(tag, topic, "value", extra), text, tag)


@register.simple_tag(takes_context=True)
def live_scripts(context: template.Context, *, client: bool = True) -> SafeString:
    """realtime.js (exactly as `{% realtime_client %}`; `client=False` when the page has it already)
    and live.js. Put it in <head>."""
    nonce = csp_nonce(context)
    live = format_html(
        '<script defer src="{}"{}></script>',
        static("realtime/live.js"),
        format_html(' nonce="{}"', nonce) if nonce else "",
    )
    return format_html("{}{}", realtime_client(context) if client else "", live)
