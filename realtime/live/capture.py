"""Model changes become stored events on the model's topic, after commit, with declared fields only.

`post_save`/`post_delete` of a registered model take a snapshot of the declared fields (JSON-safe: a
foreign key is its id, a date its ISO text) when the change is made, and once the transaction commits
store it through the core's event log and publish it (`realtime.broadcast`): so it reaches every
process, from a view, a shell, a worker or cron, and a client that was away is replayed it. Nothing is
sent for a transaction that rolls back. A field that was not declared is never read here.

`changed()` is for what fires no signals (`bulk_update`, `QuerySet.update`, raw SQL): after commit it
reads the declared fields of the rows named and sends an update (or a delete for rows that are gone).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.db.models.signals import post_delete, post_save

from ..api import broadcast
from . import registry
from .registry import LiveModel

EVENT = "change"


def json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def snapshot(entry: LiveModel, instance: models.Model) -> dict[str, Any]:
    opts = entry.model._meta
    return {name: json_safe(opts.get_field(name).value_from_object(instance)) for name in entry.fields}  # type: ignore[union-attr]  # registry checked they are concrete fields


def change_data(op: str, pk: Any, fields: dict[str, Any]) -> dict[str, Any]:
    return {"op": op, "pk": json_safe(pk), "fields": fields}


def _send_on_commit(entry: LiveModel, data: dict[str, Any], using: str | None) -> None:
    topic = entry.topic
    transaction.on_commit(lambda: broadcast(topic, EVENT, data), using=using)


def _saved(
    sender: type[models.Model],
    instance: models.Model,
    created: bool,
    raw: bool = False,
    using: str | None = None,
    **kwargs: Any,
) -> None:
    entry = registry.model_entry(sender)
    if entry is None or raw:  # loaddata: fixtures are not news
        return
    _send_on_commit(
        entry, change_data("create" if created else "update", instance.pk, snapshot(entry, instance)), using
    )


def _deleted(
    sender: type[models.Model], instance: models.Model, using: str | None = None, **kwargs: Any
) -> None:
    entry = registry.model_entry(sender)
    if entry is not None:
        _send_on_commit(entry, change_data("delete", instance.pk, {}), using)


def connect(model: type[models.Model]) -> None:
    uid = f"realtime.live.{model._meta.label_lower}"
    post_save.connect(_saved, sender=model, dispatch_uid=uid)
    post_delete.connect(_deleted, sender=model, dispatch_uid=uid)


def changed(target: type[models.Model] | models.Model, pks: Iterable[Any] | None = None) -> None:
    """Send the current state of rows changed without signals, after the transaction commits."""
    if isinstance(target, models.Model):
        model, keys = type(target), [target.pk]
    elif isinstance(target, type) and issubclass(target, models.Model):
        if pks is None:
            raise TypeError("live.changed(Model, pks=[...]): say which rows changed.")
        model, keys = target, list(pks)
    else:
        raise TypeError("live.changed() takes a model instance, or a model class and pks=[...].")
    entry = registry.model_entry(model)
    if entry is None:
        raise LookupError(f"live.changed(): {model._meta.label} is not registered (live.register).")
    if keys:
        transaction.on_commit(lambda: send_current(entry, keys))


def send_current(entry: LiveModel, keys: list[Any]) -> None:
    """One event per row: its declared fields as the database has them now, or a delete."""
    rows = {
        row.pk: row for row in entry.model._default_manager.filter(pk__in=keys).only(*entry.fields or ["pk"])
    }
    for key in dict.fromkeys(keys):
        row = rows.get(entry.model._meta.pk.to_python(key))
        if row is None:
            broadcast(entry.topic, EVENT, change_data("delete", key, {}))
        else:
            broadcast(entry.topic, EVENT, change_data("update", row.pk, snapshot(entry, row)))
