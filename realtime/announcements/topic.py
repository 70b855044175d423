"""The announcements' topic kinds, on the core's public Topic API.

`announcements.<who>` carries banners to the people it names (see `audience.py`): `all`, `users`,
`user-<id>`, `stream-<id>`. A fresh subscription is sent the announcements live for this user now in
its `subscribed` state (`{"live": [...]}`), not a replay of old ones; a resuming one (`since`) is also
replayed what it missed, so an end or a dismissal that happened while it was away reaches it. Clients
publish one event here: `receipt`.

`announcement_stats.<id>` is the admin's live panel for one announcement: only staff with the
`send_announcement` permission may subscribe; it stores nothing and carries `stats` events.

Access that follows something else is declared (`Topic.follows`), so the core's kicks and re-checks
reach it: `announcements.stream-<id>` follows `stream.<id>` (a ban, members-only), the panel follows
`ACCOUNT` (staff status and permissions taken away).
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.utils.translation import gettext as _

from ..eventlog import History, last_id
from ..exceptions import Denied, ProtocolError
from ..topics import ACCOUNT, Client, Topic, load_topic
from .audience import ALL_TOPIC, SIGNED_IN_TOPIC, STREAM_PREFIX, USER_PREFIX, live_on
from .census import Census
from .models import SEND_PERMISSION, Announcement, streams_installed
from .panel import StatsPanel
from .receipts import ReceiptBatcher, parse_report
from .scheduler import Scheduler
from .stats import census_topic


def _number(text: str, example: str) -> int:
    """A row id written the one canonical way (no sign, no leading zero), so each id is one topic."""
    if not (text.isascii() and text.isdigit()) or len(text) > 18 or text.startswith("0"):
        raise ProtocolError(
            "not_found",
            _("Not a topic; write ids as plain numbers, e.g. %(example)s.") % {"example": repr(example)},
        )
    return int(text)


class AnnouncementTopic(Topic):
    kind = "announcements"

    def __init__(self, name: str, key: str, number: int | None = None, stream: Topic | None = None) -> None:
        super().__init__(name, key)
        self.number = number
        self.stream = stream  # for `stream-<id>`: the stream topic whose viewers these are

    @classmethod
    async def load(cls, name: str, key: str) -> Topic:
        if name in (ALL_TOPIC, SIGNED_IN_TOPIC):
            return cls(name, key)
        if key.startswith(USER_PREFIX):
            return cls(name, key, _number(key[len(USER_PREFIX) :], "announcements.user-7"))
        if key.startswith(STREAM_PREFIX) and streams_installed():
            number = _number(key[len(STREAM_PREFIX) :], "announcements.stream-3")
            return cls(name, key, number, await load_topic(f"stream.{number}"))
        raise ProtocolError(
            "not_found",
            _(
                "Announcement topics are announcements.all, announcements.users, "
                "announcements.user-<your id> and announcements.stream-<id>."
            ),
        )

    async def reload(self) -> Topic:
        if self.stream is None:
            return await super().reload()
        # The stream as it is now (members-only since a moment?), not as another process cached it.
        return type(self)(self.name, self.key, self.number, await self.stream.reload())

    def follows(self) -> tuple[str, ...]:
        # A stream's announcements are for whoever may watch it: a ban or a switch to members-only on
        # `stream.<id>` (a kick or a re-check of it) ends these subscriptions too, on every process.
        return (self.stream.name,) if self.stream is not None else ()

    async def authorize_subscribe(self, client: Client) -> None:
        user = client.user
        signed_in = bool(getattr(user, "is_authenticated", False))
        if self.name == ALL_TOPIC:
            return
        if self.stream is not None:
            # A stream's viewers are whoever its own topic lets watch: ask it, with its rules.
            await self.stream.authorize_subscribe(client)
            return
        if not signed_in:
            raise Denied("auth_required", _("Log in to receive these announcements."))
        if self.key.startswith(USER_PREFIX) and user.pk != self.number:
            raise Denied("forbidden", _("This is another user's announcements topic."))

    async def state(self, client: Client) -> dict[str, Any]:
        if self.stream is not None:
            # Asked once the connection is in the room, where a ban's kick finds it: a ban committed
            # between the check in authorize_subscribe and joining found nothing to kick.
            await self.stream.authorize_subscribe(client)
        client.hub.service(Scheduler)
        client.hub.service(Census)
        return {"live": await database_sync_to_async(live_on)(self.name, client.user)}

    async def history(self, since: int | None, limit: int) -> History:
        if since is None:
            # What is live now comes in the state; old announcements (ended ones with them) are no news.
            return History([], await database_sync_to_async(last_id)(self.name), truncated=False)
        return await super().history(since, limit)

    async def publish(self, client: Client, event: str, data: dict[str, Any]) -> dict[str, Any]:
        if event != "receipt":
            raise ProtocolError("publish_not_allowed", _("Announcement topics accept one event: 'receipt'."))
        if not getattr(client.user, "is_authenticated", False):
            raise Denied("auth_required", _("Receipts are counted for signed-in users only."))
        report = parse_report(client.user, self.name, data)
        return {"recorded": await client.hub.service(ReceiptBatcher).record(report)}


def _may_read_receipts(user_id: int) -> bool:
    # Read fresh: a socket's user object keeps the permissions it had when it connected.
    user = get_user_model()._default_manager.filter(pk=user_id, is_active=True, is_staff=True).first()
    return bool(user is not None and user.has_perm(SEND_PERMISSION))


def _census_topic_of(pk: int) -> str | None | bool:
    announcement = Announcement.objects.filter(pk=pk).first()
    return False if announcement is None else census_topic(announcement)


class StatsTopic(Topic):
    kind = "announcement_stats"
    persistent = False

    def __init__(self, name: str, key: str, number: int) -> None:
        super().__init__(name, key)
        self.number = number
        self.where: str | None = None  # the census topic of the announcement's audience

    @classmethod
    async def load(cls, name: str, key: str) -> Topic:
        return cls(name, key, _number(key, "announcement_stats.12"))

    def follows(self) -> tuple[str, ...]:
        # Staff status and the send permission: losing either (realtime.signals) closes the panel.
        return (ACCOUNT,)

    async def can_subscribe(self, user: Any) -> bool:
        if not getattr(user, "is_authenticated", False):
            return False
        return await database_sync_to_async(_may_read_receipts)(user.pk)

    async def authorize_subscribe(self, client: Client) -> None:
        await super().authorize_subscribe(client)  # the permission first: no existence oracle
        where = await database_sync_to_async(_census_topic_of)(self.number)
        if where is False:
            raise ProtocolError("not_found", _("No announcement with id %(id)s.") % {"id": self.number})
        self.where = where or None

    async def state(self, client: Client) -> dict[str, Any]:
        panel = client.hub.service(StatsPanel)
        if self.where:
            try:
                await panel.census.ask([self.where])
            except Exception:  # the layer is down: the figures come without the census, and it asks again
                pass
        data = await panel.figures(self.number, self.where)
        panel.track(self.name, self.number)
        panel.remember(self.name, data)
        return data
