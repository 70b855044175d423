"""What a project declared live: models whose changes are captured, and the views rendered from them.

Registrations are made once, at start-up (a project's `<app>/live.py`, found like `admin.py`, or
`AppConfig.ready`), and read by every process the same way, so a topic name means the same thing in
each. Declaring is all a project writes: capture, topics, rendering and access are built from it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db import models

from . import languages

CanView = Callable[[Any], bool]
Audience = Callable[[Any], str]

VIEW_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")  # no "_": it separates a view topic's parts
AUDIENCE = re.compile(r"^[a-z0-9]{1,20}$")
MODEL_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,58}$")
PK = re.compile(r"^[A-Za-z0-9-]{1,40}$")  # what a fragment's object key may be in a topic name


def default_can_view(model: type[models.Model]) -> CanView:
    """The model's own `view_<model>` permission (Django's default permissions)."""
    opts = model._meta
    perm = f"{opts.app_label}.view_{opts.model_name}"

    def can_view(user: Any) -> bool:
        return bool(getattr(user, "is_authenticated", False) and user.has_perm(perm))

    can_view.__doc__ = f"Holds the {perm} permission."
    return can_view


def everyone(user: Any) -> str:
    return "all"


@dataclass(frozen=True)
class LiveModel:
    """A model whose changes are stored and published on `live.<name>` (declared fields only)."""

    model: type[models.Model]
    name: str
    fields: tuple[str, ...]
    can_view: CanView

    @property
    def topic(self) -> str:
        return f"live.{self.name}"


@dataclass(frozen=True)
class View:
    """Something rendered on the server from live models, once per change per audience per process."""

    form: ClassVar[str] = ""
    name: str
    can_view: CanView
    audience: Audience
    models: tuple[type[models.Model], ...]  # whose changes re-render it

    def topic(self, audience: str, key: str | None = None, language: str | None = None) -> str:
        """The room of `audience` (and `key`, for a fragment) rendered in `language` (None: the default)."""
        part = languages.audience_part(audience, language)
        return f"livev.{self.name}_{part}" + (f"_{key}" if key is not None else "")


@dataclass(frozen=True)
class Fragment(View):
    """One object's template fragment: context {object, audience}."""

    form: ClassVar[str] = "fragment"
    template: str = ""
    model: type[models.Model] = models.Model
    #: The objects an audience may see (None: all of the model's); others render as deleted.
    queryset: Callable[[str], models.QuerySet] | None = None


@dataclass(frozen=True)
class Rows(View):
    """A queryset's rows, one template per row (one root element each), at most `cap` of them."""

    form: ClassVar[str] = "rows"
    template: str = ""
    model: type[models.Model] = models.Model
    queryset: Callable[[str], models.QuerySet] = field(default=lambda audience: models.QuerySet())
    cap: int = 50


@dataclass(frozen=True)
class Value(View):
    """A JSON object computed from the database (a chart's series, a counter)."""

    form: ClassVar[str] = "value"
    compute: Callable[[str], dict[str, Any]] = field(default=lambda audience: {})
    every: float | None = None


_models: dict[type[models.Model], LiveModel] = {}
_model_names: dict[str, LiveModel] = {}
_views: dict[str, View] = {}


def model_entry(model: type[models.Model]) -> LiveModel | None:
    return _models.get(model)


def model_named(name: str) -> LiveModel | None:
    return _model_names.get(name)


def view_named(name: str) -> View | None:
    return _views.get(name)


def views() -> list[View]:
    return list(_views.values())


def add_model(
    model: type[models.Model], fields: Iterable[str], can_view: CanView | None, name: str | None
) -> LiveModel:
    if not (isinstance(model, type) and issubclass(model, models.Model)):
        raise TypeError(f"live.register(): {model!r} is not a Django model class.")
    opts = model._meta
    name = name or f"{opts.app_label}-{opts.model_name}".replace("_", "-")
    if not MODEL_NAME.match(name):
        raise ImproperlyConfigured(f"live.register(): name {name!r} must be 1-59 of a-z, 0-9, '-' and '_'.")
    declared = tuple(fields)
    for field_name in declared:
        try:
            model_field = opts.get_field(field_name)
        except FieldDoesNotExist:
            raise ImproperlyConfigured(
                f"live.register({opts.label}): no field {field_name!r}; declare concrete fields only."
            ) from None
        if not getattr(model_field, "concrete", False) or model_field.many_to_many:
            raise ImproperlyConfigured(
                f"live.register({opts.label}): {field_name!r} is not a concrete field (many-to-many and "
                "reverse relations are not captured; send what you need in a field of your own)."
            )
    entry = LiveModel(model, name, declared, can_view or default_can_view(model))
    other = _model_names.get(name)
    if other is not None and other.model is not model:
        raise ImproperlyConfigured(f"live.register(): {name!r} already names {other.model._meta.label}.")
    _models[model] = _model_names[name] = entry
    return entry


def ensure_model(model: type[models.Model]) -> LiveModel:
    """A view's model is captured even if not registered: with no fields (only what changed: its pk)."""
    return _models.get(model) or add_model(model, (), None, None)


def add_view(view: View) -> View:
    if not VIEW_NAME.match(view.name):
        raise ImproperlyConfigured(
            f"live: view name {view.name!r} must be 1-40 of a-z, 0-9 and '-' (it becomes a topic name)."
        )
    other = _views.get(view.name)
    if other is not None and type(other) is not type(view):
        raise ImproperlyConfigured(f"live: {view.name!r} is already a {other.form} view.")
    _views[view.name] = view
    return view


def clear() -> None:
    """Forget every registration (tests)."""
    _models.clear()
    _model_names.clear()
    _views.clear()
