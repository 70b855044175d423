"""`stream_mod.<id>`: what a stream's moderators see together, live: current restrictions (who set
them, when, until when, why) and hidden comments.

Its events are live only (`persistent = False`): the `subscribed` state is the whole list, and every
(re)subscribe gets it afresh, so a moderator who was offline misses nothing. Events:
`restriction.set`, `restriction.lifted` and `comment.state` (`realtime.streams.restrictions`,
`realtime.streams.moderation`). Only the stream's moderators may subscribe, judged from the database
on every subscribe (a socket's user object caches permissions), and re-checked when they lose the
rights (`follows()`).
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from django.utils.translation import gettext as _

from ..exceptions import Denied, ProtocolError
from ..topics import ACCOUNT, Client, Topic
from .lookup import load_stream
from .models import Stream
from .policy import is_moderator_now
from .restrictions import current_restrictions, hidden_comments


class StreamModeratorsTopic(Topic):
    kind = "stream_mod"
    persistent = False

    def __init__(self, name: str, key: str, stream: Stream) -> None:
        super().__init__(name, key)
        self.stream = stream

    @classmethod
    async def load(cls, name: str, key: str) -> Topic:
        stream = await load_stream(cls.int_key(key, "stream"), fresh=True)
        if stream is None:
            raise ProtocolError("not_found", _("No stream with id %(key)s.") % {"key": key})
        return cls(name, key, stream)

    def follows(self) -> tuple[str, ...]:
        # Staff rights, permissions and (realtime.streams.signals) the stream's moderators list: a
        # re-check of the user's account asks authorize_subscribe again, and kicks with its code.
        return (ACCOUNT,)

    async def authorize_subscribe(self, client: Client) -> None:
        if not getattr(client.user, "is_authenticated", False):
            raise Denied("auth_required", _("Log in to moderate this stream."))
        if not await database_sync_to_async(is_moderator_now)(self.stream, client.user):
            raise Denied("forbidden", _("Only this stream's moderators can see its moderation."))

    async def state(self, client: Client) -> dict[str, Any]:
        return await database_sync_to_async(self._snapshot)()

    def _snapshot(self) -> dict[str, Any]:
        return {"restrictions": current_restrictions(self.stream), "hidden": hidden_comments(self.stream)}
