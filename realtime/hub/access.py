"""Access revoked while sockets stay open, found in the database rather than told.

`disconnect_user()` (logout, deactivation, password change: `realtime.signals`) reaches sockets through
the channel layer's control group, so a message sent while the layer was down, or while this process
was out of its groups, is lost. Each hub therefore also looks for itself, on its upkeep and once after
every layer outage: one query for the users behind all its authenticated connections (gone, inactive,
or with a password hash other than the one they connected with) and one for their sessions (a logged
out session no longer exists), however many connections it serves. Those connections are closed with
4003, as `disconnect_user()` would have closed them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model

logger = logging.getLogger("realtime.hub")

CHUNK = 500  # ids per IN (...) query: well under every backend's parameter limit


@dataclass(frozen=True)
class Credentials:
    """What a connection authenticated with."""

    user_id: int
    password: str | None  # the user's password hash when the connection was authenticated
    session_key: str | None  # the session it belongs to (None: a session-less ticket)


def credentials_of(conn: Any) -> Credentials | None:
    if conn.user_id is None:
        return None
    return Credentials(conn.user_id, getattr(conn.user, "password", None), conn.session_key)


def revoked(creds: Iterable[Credentials]) -> set[Credentials]:
    """The credentials that no longer hold. Two queries whatever their number; call from sync code."""
    creds = set(creds)
    if not creds:
        return set()
    model = get_user_model()
    names = {field.name for field in model._meta.concrete_fields}
    fields = [name for name in ("is_active", "password") if name in names]
    users: dict[Any, dict[str, Any]] = {}
    for ids in _chunks(sorted({c.user_id for c in creds})):
        for pk, *values in model._default_manager.filter(pk__in=ids).values_list("pk", *fields):
            users[pk] = dict(zip(fields, values, strict=True))
    alive = _live_sessions({c.session_key for c in creds if c.session_key})
    bad = set()
    for cred in creds:
        row = users.get(cred.user_id)
        if (
            row is None
            or row.get("is_active", True) is False
            or ("password" in row and cred.password is not None and row["password"] != cred.password)
            or (cred.session_key and alive is not None and cred.session_key not in alive)
        ):
            bad.add(cred)
    return bad


def _live_sessions(keys: set[str]) -> set[str] | None:
    """The keys among `keys` whose session still exists; None when the engine cannot tell."""
    if not keys:
        return set()
    engine = import_module(settings.SESSION_ENGINE)
    store = engine.SessionStore
    if hasattr(store, "get_model_class"):  # db and cached_db: logout deletes the row
        model = store.get_model_class()
        return {
            key
            for chunk in _chunks(sorted(keys))
            for key in model.objects.filter(session_key__in=chunk).values_list("session_key", flat=True)
        }
    if settings.SESSION_ENGINE.endswith("signed_cookies"):
        return None  # the session lives in the browser's cookie: nothing server-side to revoke
    return {key for key in keys if store().exists(key)}  # cache, file: one cheap lookup each


def _chunks(items: list[Any]) -> Iterable[list[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]
