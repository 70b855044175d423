"""Per-topic presence rules: who is listed, who may see the roster, what an entry carries.

A topic kind opts in with `presence = PresencePolicy` (or a subclass) on its `Topic` class; the
tracker makes one policy per subscribed topic object (`policy = topic.presence(topic)`).
"""

from __future__ import annotations

from typing import Any, ClassVar

#: Fields an entry may carry: a policy's `entry` can narrow them, never add to them (no email, ever).
ENTRY_FIELDS = ("name", "avatar")
MAX_FIELD_LENGTH = 200


class PresencePolicy:
    #: Statuses a client may set with a `presence` request (anything else is refused `bad_status`).
    STATUSES: ClassVar[frozenset[str]] = frozenset({"typing", "away", "active"})
    #: Statuses disclosed to subscribers who may NOT see the roster: they get, for the metas holding
    #: one of these, only the user's name and that status (`roster.public_view`); nothing else, not
    #: even a count. Default: none (they get no presence frame at all). Streams: {"typing"}.
    public_statuses: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, topic: Any) -> None:
        self.topic = topic

    def listed(self, user: Any) -> bool:
        """Is `user` listed by name? Default: signed-in users; anonymous viewers are only counted."""
        return bool(getattr(user, "is_authenticated", False))

    async def can_see(self, client: Any) -> bool:
        """May this subscriber see the roster (entries and counts)? Default: anyone who may subscribe."""
        return True

    def entry(self, user: Any) -> dict[str, Any]:
        """What the roster shows of a listed user: only `name` and `avatar` (others are dropped)."""
        name = ""
        if hasattr(user, "get_full_name"):
            name = user.get_full_name() or ""
        if not name and hasattr(user, "get_username"):
            name = user.get_username()
        return {"name": name, "avatar": None}


def clean_entry(raw: Any) -> dict[str, Any]:
    """Keep only the allowed fields, as short strings (or None): what a policy returns is not trusted."""
    raw = raw if isinstance(raw, dict) else {}
    entry: dict[str, Any] = {}
    for name in ENTRY_FIELDS:
        value = raw.get(name)
        entry[name] = str(value)[:MAX_FIELD_LENGTH] if value is not None else None
    return entry
