"""Declaring live data: `register`, `fragment`, `rows`, `value`, and `changed` for what fires no signals.

Call them in a module named `live.py` in any installed app (found at start-up as `admin.py` is) or in
`AppConfig.ready()`. See docs/live.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.db import models

from . import capture, registry
from .registry import Audience, CanView, Fragment, LiveModel, Rows, Value, everyone

__all__ = ["changed", "fragment", "register", "rows", "value"]


def register(
    model: type[models.Model],
    *,
    fields: Iterable[str],
    can_view: CanView | None = None,
    name: str | None = None,
) -> LiveModel:
    """Capture `model`'s creates, updates and deletes: after commit, each is stored and published on
    `live.<name>` (default name `<app_label>-<model_name>`) with the declared `fields` only.

    `can_view(user) -> bool` decides who may subscribe to that topic (default: the model's
    `view_<model>` permission); it is asked again when the user's permissions or groups change.
    """
    entry = registry.add_model(model, fields, can_view, name)
    capture.connect(model)
    return entry


def _view_access(can_view: CanView | None, shown: Iterable[type[models.Model]]) -> CanView:
    if can_view is not None:
        return can_view
    checks = [registry.default_can_view(model) for model in shown]
    if not checks:  # a value that names no model: nothing says who may see it, so staff only
        return lambda user: bool(getattr(user, "is_authenticated", False) and user.is_staff)
    return lambda user: all(check(user) for check in checks)


def fragment(
    name: str,
    *,
    model: type[models.Model],
    template: str,
    audience: Audience | None = None,
    can_view: CanView | None = None,
    queryset: Callable[[str], models.QuerySet] | None = None,
) -> Fragment:
    """One object's fragment, `template` rendered with {object, audience}: `{% live_fragment name obj %}`.

    Re-rendered once per change of the object per audience, in each process that has viewers of it.
    `audience(user) -> str` ([a-z0-9], default "all") names who sees the same HTML; `can_view(user)`
    who may see it at all (default: the model's view permission). `queryset(audience)`, optional, limits
    which objects an audience may see (per-user objects: an audience per user, `f"u{user.pk}"`, and
    `lambda audience: Order.objects.filter(customer_id=audience[1:])`); any other renders as deleted.
    """
    _captured(model)
    view = Fragment(
        name, _view_access(can_view, [model]), audience or everyone, (model,), template, model, queryset
    )
    return registry.add_view(view)  # type: ignore[return-value]


def rows(
    name: str,
    *,
    model: type[models.Model],
    template: str,
    queryset: Callable[[str], models.QuerySet],
    cap: int = 50,
    audience: Audience | None = None,
    can_view: CanView | None = None,
) -> Rows:
    """A list: `queryset(audience)`'s first `cap` objects, each `template` (one root element) rendered
    with {object, audience}: `{% live_rows name %}`. A change of `model` re-evaluates the queryset (keys
    only) and renders only rows that are new or changed; rows that leave it are removed, moves follow."""
    _captured(model)
    view = Rows(
        name,
        _view_access(can_view, [model]),
        audience or everyone,
        (model,),
        template,
        model,
        queryset,
        int(cap),
    )
    return registry.add_view(view)  # type: ignore[return-value]


def value(
    name: str,
    *,
    compute: Callable[[str], dict[str, Any]],
    depends_on: Iterable[type[models.Model]] = (),
    every: float | None = None,
    audience: Audience | None = None,
    can_view: CanView | None = None,
) -> Value:
    """A JSON object `compute(audience)` for scripts (a chart, a counter): `{% live_value name %}`.

    Recomputed when a model in `depends_on` changes and, with `every` (seconds), periodically while
    someone watches it (for figures no model change announces). Sent only when it differs.
    """
    shown = tuple(depends_on)
    for model in shown:
        _captured(model)
    view = Value(name, _view_access(can_view, shown), audience or everyone, shown, compute, every)
    return registry.add_view(view)  # type: ignore[return-value]


def changed(target: type[models.Model] | models.Model, pks: Iterable[Any] | None = None) -> None:
    """Say rows changed without signals (`bulk_update`, `QuerySet.update()`, raw SQL): `changed(obj)`
    or `changed(Model, pks=[...])`. After commit, their declared fields as they are now are sent."""
    capture.changed(target, pks)


def _captured(model: type[models.Model]) -> None:
    if registry.model_entry(model) is None:
        registry.ensure_model(model)
    capture.connect(model)
