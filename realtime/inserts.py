"""`insert(objs)`: what `bulk_create(objs)` does for the rows stored per comment, without recompiling.

Why: a steady room stores a comment and its event for every message, and the ORM compiles each
INSERT afresh (~250 us per statement on the bench machine, most of a stored comment's CPU once the
reads were trimmed: realtime.streams.batchreads). The statement for n rows of a model is the same
every time, so it is built once and kept; each call only prepares the values, with the fields' own
`pre_save` and `get_db_prep_save` (so defaults, `auto_now_add`, JSON and dates are what the ORM would
send). Like `bulk_create`: no `save()`, no signals. Where the database cannot return the new
primary keys from a multi-row INSERT, it is `bulk_create` itself.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, TypeVar

from django.db import connections, router
from django.db.models import Model

M = TypeVar("M", bound=Model)


def insert(objs: Sequence[M]) -> list[M]:
    """Insert `objs` (all of one model, primary keys unset) in one statement; set and return them."""
    if not objs:
        return []
    model = type(objs[0])
    db = router.db_for_write(model)
    connection = connections[db]
    fields, sql = _statement(model, len(objs), db)
    if (
        not sql
        or not connection.features.can_return_rows_from_bulk_insert
        or connection.ops.bulk_batch_size(fields, objs) < len(objs)  # the ORM splits such batches
    ):
        return model._default_manager.db_manager(db).bulk_create(objs)
    params: list[Any] = []
    for obj in objs:
        params.extend(field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        pks = [row[0] for row in cursor.fetchall()]
    for obj, pk in zip(objs, pks, strict=True):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = db
    return list(objs)


@functools.lru_cache(maxsize=64)
def _statement(model: type[Model], rows: int, db: str) -> tuple[list[Any], str]:
    """The fields written and `INSERT ... VALUES (...), ... RETURNING pk` for `rows` rows; no SQL
    (`bulk_create` then) for a model whose primary key the database does not make."""
    opts = model._meta
    quote = connections[db].ops.quote_name
    if not opts.pk.db_returning or opts.parents:
        return [], ""
    fields = [f for f in opts.local_concrete_fields if f is not opts.pk]
    columns = ", ".join(quote(str(f.column)) for f in fields)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    values = ", ".join([row] * rows)
    sql = f"INSERT INTO {quote(str(opts.db_table))} ({columns}) VALUES {values} RETURNING {quote(str(opts.pk.column))}"
    return fields, sql
