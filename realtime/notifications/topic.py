"""`notify.<user id>`: one user's notifications, on every tab and device they have open.

Only that user may subscribe. Events (stored on the core's event log, replayed on resume):
`notification` (a new one: its fields and the unread count after it) and `read` (`ids`, or `upto`:
every id up to it; and the unread count after it). A subscription's `subscribed` state holds the
count and the newest notifications as they are now, with `seq`, the topic's last id when they were
read: a page takes the count of an event only if its id is above `seq`, so neither a replay nor a
live event racing the subscribe can set the badge back.

Clients publish one event: `read`, `{"ids": [3, 4]}` or `{"all": true}`. Over the socket the page is
already authenticated and origin-checked, the answer (`ack` with `marked` and `unread`, or an error
with a stable code) comes back on it, and every other tab hears of it through the topic, so there is no
CSRF token to carry and no second channel to keep in step. The list page's form posts to a view for
browsers without JavaScript (`views.read`, CSRF-protected).
"""

from __future__ import annotations

from typing import Any, ClassVar

from channels.db import database_sync_to_async
from django.utils.translation import gettext as _

from realtime.eventlog import History, last_id
from realtime.exceptions import Denied, ProtocolError
from realtime.publishing import apublish
from realtime.topics import Client, Topic

from .delivery import KIND, READ, store_read, unread_counts
from .models import Notification
from .validation import read_request


def panel(user_id: int, topic: str, size: int) -> tuple[int, int, list[Notification]]:
    """The topic's last id, then the unread count and the newest `size` notifications as they are
    now. The id first: anything stored after it reaches the page as an event."""
    seq = last_id(topic)
    latest = list(Notification.objects.filter(recipient_id=user_id).order_by("-id")[:size])
    return seq, unread_counts([user_id])[user_id], latest


def snapshot(user_id: int, topic: str, size: int) -> dict[str, Any]:
    """The `subscribed` state: {"seq", "unread", "latest": [notification, ...]}."""
    seq, unread, latest = panel(user_id, topic, size)
    return {"seq": seq, "unread": unread, "latest": [row.as_event() for row in latest]}


class NotifyTopic(Topic):
    kind = KIND
    #: Notifications a page's panel shows (the `subscribed` state carries this many).
    panel_size: ClassVar[int] = 8

    def __init__(self, name: str, key: str, number: int) -> None:
        super().__init__(name, key)
        self.number = number

    @classmethod
    async def load(cls, name: str, key: str) -> Topic:
        return cls(name, key, cls.int_key(key, "user"))

    async def can_subscribe(self, user: Any) -> bool:
        return bool(getattr(user, "is_authenticated", False) and user.pk == self.number)

    async def authorize_subscribe(self, client: Client) -> None:
        if not getattr(client.user, "is_authenticated", False):
            raise Denied("auth_required", _("Log in to receive your notifications."))
        if client.user.pk != self.number:
            raise Denied("forbidden", _("These are another user's notifications."))

    async def state(self, client: Client) -> dict[str, Any]:
        return await database_sync_to_async(snapshot)(self.number, self.name, self.panel_size)

    async def history(self, since: int | None, limit: int) -> History:
        if since is None:
            # A fresh page gets the newest notifications and the count in the state, not old events.
            return History([], await database_sync_to_async(last_id)(self.name), truncated=False)
        return await super().history(since, limit)

    async def publish(self, client: Client, event: str, data: dict[str, Any]) -> dict[str, Any]:
        if event != READ:
            raise ProtocolError("publish_not_allowed", _("Notification topics accept one event: 'read'."))
        await self.authorize_subscribe(client)
        try:
            ids = read_request(data)
        except ValueError:
            raise ProtocolError(
                "bad_read",
                _('Send {"ids": [<up to 100 notification ids>]} or {"all": true}.'),
            ) from None
        marked, unread, stored = await database_sync_to_async(store_read)(self.number, ids)
        if stored is not None:
            await apublish(stored)
        return {"marked": len(marked), "unread": unread}
