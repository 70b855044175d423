"""What `notify()` accepts, checked before anything is stored; the errors say how to fix the call."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from realtime.protocol import dumps

from .links import safe_url
from .models import LEVELS, MAX_BODY, MAX_TITLE, MAX_URL

MAX_DATA_BYTES = 4096
#: Ids a client may name in one `read` request.
MAX_READ_IDS = 100


def clean(title: Any, body: Any, url: Any, level: Any, data: Any) -> dict[str, Any]:
    if not isinstance(title, str) or not title.strip():
        raise ValueError("notify(): title must be a non-empty string.")
    if len(title) > MAX_TITLE:
        raise ValueError(f"notify(): title is {len(title)} characters; at most {MAX_TITLE}.")
    if not isinstance(body, str) or len(body) > MAX_BODY:
        raise ValueError(f"notify(): body must be a string of at most {MAX_BODY} characters.")
    if not isinstance(url, str) or len(url) > MAX_URL or not safe_url(url):
        raise ValueError(
            "notify(): url must be an http(s) address or a path on this site starting with '/' "
            f"(at most {MAX_URL} characters), e.g. '/orders/7/'."
        )
    if level not in LEVELS:
        raise ValueError(f"notify(): level must be one of {', '.join(LEVELS)}.")
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise TypeError("notify(): data must be a dict (the page receives it as a JSON object).")
    try:
        size = len(dumps(data).encode())
    except (TypeError, ValueError) as exc:
        raise TypeError(f"notify(): data must be JSON-serialisable ({exc}).") from None
    if size > MAX_DATA_BYTES:
        raise ValueError(f"notify(): data is {size} bytes as JSON; at most {MAX_DATA_BYTES}.")
    return {"title": title.strip(), "body": body, "url": url, "level": level, "data": data}


def recipient_ids(user_or_users: Any) -> list[int]:
    """The pks of a user, a user id, or an iterable (a queryset) of either; each once, in order."""
    if isinstance(user_or_users, str | bytes) or not isinstance(user_or_users, Iterable):
        user_or_users = [user_or_users]
    ids: dict[int, None] = {}
    for item in user_or_users:
        pk = item if isinstance(item, int) and not isinstance(item, bool) else getattr(item, "pk", None)
        if not isinstance(pk, int) or isinstance(pk, bool) or pk < 1:
            raise TypeError(f"notify(): {item!r} is neither a saved user nor a user id.")
        ids[pk] = None
    return list(ids)


def read_ids(value: Any) -> list[int]:
    """A client's `ids`, sorted and each once; `ValueError` with the reason when malformed."""
    if not isinstance(value, list) or not value or len(value) > MAX_READ_IDS:
        raise ValueError(f"'ids' must be a list of 1 to {MAX_READ_IDS} notification ids.")
    if not all(isinstance(i, int) and not isinstance(i, bool) and 0 < i < 2**62 for i in value):
        raise ValueError("'ids' must hold notification ids (whole numbers above 0).")
    return sorted(set(value))


def read_request(data: dict[str, Any]) -> list[int] | None:
    """A `read` publish's ids: `{"ids": [...]}`, or None for `{"all": true}`; `ValueError` otherwise
    (both at once is refused rather than guessed at)."""
    if "all" in data:
        if data["all"] is not True or "ids" in data:
            raise ValueError("'all' must be true, without 'ids'.")
        return None
    return read_ids(data.get("ids"))
