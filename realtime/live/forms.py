"""Rendering a view's three forms, synchronously (the renderer runs these in a thread; the template
tags call them at page load): fragment HTML, rows (keys in order and each row's HTML), a JSON value.

Templates render with Django's autoescaping, as any template does: a field holding `<script>` reaches
the page as text. The context is `{object, audience}` (a row: the same), never a request or a user:
what is rendered is shared by everyone in the audience.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.template.loader import render_to_string

from .registry import Fragment, Rows, Value

_FIRST_TAG = re.compile(r"^(\s*<[A-Za-z][A-Za-z0-9-]*)")


def fragment_state(view: Fragment, pk: str, audience: str) -> dict[str, Any]:
    """{"html", "deleted"}: the object's fragment, or "" and deleted when it is gone."""
    objects = view.queryset(audience) if view.queryset is not None else view.model._default_manager.all()
    obj = objects.filter(pk=pk).first()
    if obj is None:
        return {"html": "", "deleted": True}
    return {"html": render_to_string(view.template, {"object": obj, "audience": audience}), "deleted": False}


def keyed(html: str, key: str) -> str:
    """The row's HTML with `data-live-key` on its root element (the client matches rows by it)."""
    return _FIRST_TAG.sub(lambda m: f'{m.group(1)} data-live-key="{key}"', html, count=1)


def rows_order(view: Rows, audience: str) -> list[str]:
    """The keys of the rows the queryset holds now, in its order, at most `cap`."""
    pks = view.queryset(audience).values_list("pk", flat=True)[: max(int(view.cap), 0)]
    return [str(pk) for pk in pks]


def rows_html(view: Rows, audience: str, keys: Iterable[str]) -> dict[str, str]:
    """Each of `keys`' row rendered (rows the queryset no longer holds are left out)."""
    wanted = list(keys)
    if not wanted:
        return {}
    objects = {str(obj.pk): obj for obj in view.queryset(audience).filter(pk__in=wanted)}
    return {
        key: keyed(render_to_string(view.template, {"object": objects[key], "audience": audience}), key)
        for key in wanted
        if key in objects
    }


def rows_state(view: Rows, audience: str) -> dict[str, Any]:
    order = rows_order(view, audience)
    html = rows_html(view, audience, order)
    order = [key for key in order if key in html]
    return {"order": order, "html": html}


def value_state(view: Value, audience: str) -> dict[str, Any]:
    value = view.compute(audience)
    if not isinstance(value, dict):
        raise TypeError(
            f"live.value({view.name!r}): compute() must return a dict, not {type(value).__name__}."
        )
    return {"value": json.loads(json.dumps(value, cls=DjangoJSONEncoder))}
