"""Topic kinds decide who may subscribe and who may publish, the way Phoenix channels authorise in
`join` and DRF permissions answer `has_permission`.

A project adds a kind by subclassing `Topic` and naming it in `REALTIME["TOPICS"]`:

    class TeamTopic(Topic):
        kind = "team"

        @classmethod
        async def load(cls, name, key):
            cls.int_key(key, "team")  # refuses `team.x` and `team.01` (which would be a second room)
            return cls(name, key)

        async def can_subscribe(self, user):
            return user.is_authenticated and await user.teams.filter(pk=self.key).aexists()

A kind whose access is derived from something else says so with `follows()` (a stream's chat window
follows `stream.<id>`; an admin panel follows `ACCOUNT`), and every kick or re-check of that subject
reaches its subscribers too (`realtime.kick`, `realtime.reauthorize`).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, ClassVar, Protocol

from channels.db import database_sync_to_async
from django.utils.translation import gettext as _

from ..eventlog import History, StoredEvent, read_history
from ..exceptions import Denied, ProtocolError

#: The subject "the user's own account": staff and superuser status, permissions, group memberships.
#: `realtime.signals` re-checks, for the user concerned, every topic that follows it when one of these
#: is taken away (a topic whose access needs `is_staff` or a permission declares it in `follows()`).
ACCOUNT = "account"


class Client(Protocol):
    """What a topic may look at on the connection asking: the user, the ASGI scope, the process's hub."""

    user: Any
    scope: dict[str, Any]
    hub: Any


class Topic:
    #: The part before the dot in topic names (`stream` in `stream.42`).
    kind: ClassVar[str] = ""
    #: Events are stored with per-topic ids and replayed on resume. False: live only, no ids.
    persistent: ClassVar[bool] = True
    #: Presence (docs/presence.md): a `realtime.presence.PresencePolicy` subclass opts the kind in to
    #: rosters of who is subscribed; None (the default): no roster is kept or sent.
    presence: ClassVar[type[Any] | None] = None

    # Every subscription holds its own topic object, so a kind's instance attributes are per socket:
    # slots here and in the shipped kinds keep each under 100 B. A subclass without `__slots__` gets a
    # `__dict__` as usual.
    __slots__ = ("name", "key", "__weakref__")

    def __init__(self, name: str, key: str) -> None:
        self.name = name
        self.key = key

    @classmethod
    async def load(cls, name: str, key: str) -> Topic:
        """Build the topic for `name`; raise `ProtocolError("not_found", ...)` if it names nothing."""
        return cls(name, key)

    async def reload(self) -> Topic:
        """A fresh copy, bypassing any cache `load` uses: the hub re-checks subscribers with it when
        `realtime.reauthorize(topic)` says who may subscribe has changed."""
        return await type(self).load(self.name, self.key)

    def follows(self) -> tuple[str, ...]:
        """The subjects this topic's access is derived from, besides its own name: other topic names
        (`"stream.42"`) or `ACCOUNT`.

        When a subject is revoked or narrowed (`realtime.kick(subject, user_id)`,
        `realtime.reauthorize(subject)`), every process applies it to the subscriptions of every topic
        that follows the subject as well: a kick ends them with the same code, a re-check asks each of
        them again (`reload()`, then `authorize_subscribe`). So a ban from `stream.42` also ends
        `announcements.stream-42`, without the moderation code knowing that topic exists. Keep it
        cheap and free of I/O, and fixed for the topic's lifetime: each process asks it once, when the
        topic's room opens, and indexes the room under its subjects (`realtime.hub.followers`).
        """
        return ()

    async def can_subscribe(self, user: Any) -> bool:
        """Override: may `user` (possibly anonymous) receive this topic's events? Default: no."""
        return False

    async def authorize_subscribe(self, client: Client) -> None:
        """Raise `Denied` unless the client may subscribe; the error code tells the client why."""
        if not await self.can_subscribe(client.user):
            raise self._denial(client.user)

    async def state(self, client: Client) -> dict[str, Any]:
        """Snapshot sent in the `subscribed` reply (e.g. a stream's settings)."""
        return {}

    async def publish(self, client: Client, event: str, data: dict[str, Any]) -> dict[str, Any]:
        """Handle a client `publish`; return the `ack` fields. Default: clients may not publish."""
        raise ProtocolError(
            "publish_not_allowed", _("Clients cannot publish on %(kind)s topics.") % {"kind": self.kind}
        )

    def pipelined(self, event: str) -> bool:
        """May publishes of `event` from one connection be in flight together (`realtime.pipeline`)?

        Default: no, each waits for the one before it to be answered. Say yes only when `publish`
        fixes the event's place in order before its first await (e.g. by queueing it synchronously, as
        the streams' group commit does), so the connection's order is what every viewer sees.
        """
        return False

    def compact_key(self, event: StoredEvent) -> Hashable | None:
        """Last value wins: override to key events that each carry the whole newest state of one thing
        (a row: its primary key). Then only the newest event per key goes out in each frame, and a
        (re)subscriber's replay is compacted the same way, so a thing changed 1,000 times reaches a
        page as its latest value, never a backlog (`realtime.hub.lastvalue`). None: always sent.

        Kinds that do not override it (the default) are never compacted and pay nothing for it."""
        return None

    def min_window(self) -> float:
        """Override: seconds at least between two frames of this kind's rooms (its coalescing window's
        floor: the first event after a quiet spell still leaves at once). Read at every flush; the
        default adds nothing to `COALESCE_WINDOW`'s adaptive window."""
        return 0.0

    async def history(self, since: int | None, limit: int) -> History:
        return await database_sync_to_async(read_history)(self.name, since, limit)

    @staticmethod
    def _denial(user: Any) -> Denied:
        if not getattr(user, "is_authenticated", False):
            return Denied("auth_required", _("Log in to use this topic."))
        return Denied("forbidden", _("You may not subscribe to this topic."))

    @classmethod
    def int_key(cls, key: str, what: str) -> int:
        """The row id a key names, or `not_found`. Every kind with database ids calls this, so it is the
        one place that makes each object's topic name unique: `stream.01` would pass any lookup as
        stream 1 yet be a room of its own (its own viewers, never delivered to, missed by a ban's kick).
        """
        if not (key.isascii() and key.isdigit()) or len(key) > 18:
            raise ProtocolError(
                "not_found",
                _("No %(what)s %(key)s: the key must be a number.") % {"what": what, "key": repr(key)},
            )
        if key.startswith("0"):
            number = int(key)
            if number == 0:
                raise ProtocolError(
                    "not_found", _("No %(what)s %(key)s: ids start at 1.") % {"what": what, "key": repr(key)}
                )
            raise ProtocolError(
                "not_found",
                _("No %(what)s %(key)s: ids are written without leading zeros. Use '%(name)s'.")
                % {"what": what, "key": repr(key), "name": f"{cls.kind or what}.{number}"},
            )
        return int(key)
