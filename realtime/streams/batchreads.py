"""The reads every stored comment batch makes, kept cheap: they run once per comment in a steady room.

Compiling a query is what the ORM spends most of a statement's time on (measured on this project's
bench machine: ~300-500 us to compile and run a one-row SELECT, ~20 us for the same SQL sent through a
cursor). Two of a batch's reads almost always find nothing: a poster under a restriction and a retried
`client_id` are rare. So one plain statement asks whether there is anything to read, and the ORM reads
the rows only when there is. The stream row itself is read through `raw()`, which skips the compiler
but keeps the field converters (dates, booleans) a model instance needs.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from django.db import connections, router
from django.db.models import Field, Model

from .models import Comment, Stream, StreamRestriction


@dataclass(frozen=True, slots=True)
class Findings:
    """Whether a batch has rows worth reading: restrictions on its posters, comments with its ids."""

    restricted: bool
    retried: bool


def stream_row(stream_id: int) -> Stream:
    """The stream, read fresh (its rules may have changed a moment ago); `Stream.DoesNotExist` if gone."""
    db = router.db_for_read(Stream)
    quote = connections[db].ops.quote_name
    table, pk = quote(Stream._meta.db_table), quote(str(Stream._meta.pk.column))
    rows = list(Stream.objects.db_manager(db).raw(f"SELECT * FROM {table} WHERE {pk} = %s", [stream_id]))
    if not rows:
        raise Stream.DoesNotExist(f"No stream {stream_id}.")
    return rows[0]


def findings(stream_id: int, authors: Collection[int], client_ids: Collection[str]) -> Findings:
    """In one statement: does any of `authors` have a restriction on the stream, and has any of them
    already stored a comment there with one of `client_ids`? The second test uses the whole
    (stream, author, client_id) unique index, so it costs the same on a stream of a million comments."""
    db = router.db_for_write(Comment)
    quote = connections[db].ops.quote_name

    def column(model: type[Model], name: str) -> str:
        field = model._meta.get_field(name)
        assert isinstance(field, Field)  # a concrete column, not a reverse relation
        return quote(str(field.column))

    def among(values: Collection) -> str:
        return ", ".join(["%s"] * len(values))

    restriction, comment = quote(StreamRestriction._meta.db_table), quote(Comment._meta.db_table)
    sql = (
        f"SELECT EXISTS(SELECT 1 FROM {restriction} WHERE {column(StreamRestriction, 'stream')} = %s"
        f" AND {column(StreamRestriction, 'user')} IN ({among(authors)})),"
        f" EXISTS(SELECT 1 FROM {comment} WHERE {column(Comment, 'stream')} = %s"
        f" AND {column(Comment, 'author')} IN ({among(authors)})"
        f" AND {column(Comment, 'client_id')} IN ({among(client_ids)}))"
    )
    with connections[db].cursor() as cursor:
        cursor.execute(sql, [stream_id, *authors, stream_id, *authors, *client_ids])
        restricted, retried = cursor.fetchone()
    return Findings(restricted=bool(restricted), retried=bool(retried))
