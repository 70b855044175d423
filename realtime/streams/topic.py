"""`stream.<id>`: a live stream's comments, reactions, viewer count and moderation.

Built on the core's public Topic API, the way a project builds its own kind: `load` finds the stream,
`authorize_subscribe` decides who may watch, `state` is the snapshot a subscriber starts from, and
`publish` routes what viewers send to the comment, reaction and moderation code.
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from django.utils.translation import gettext as _

from ..exceptions import Denied, ProtocolError
from ..presence import PresencePolicy
from ..topics import Client, Topic
from . import moderation
from .lookup import load_stream
from .models import Stream, StreamRestriction
from .policy import Participation, viewer_standing
from .posting import CommentBatcher
from .presence import Presence
from .reactions import Reactions, validate_kind
from .rules import active_restriction


class StreamPresence(PresencePolicy):
    """Signed-in viewers are listed; the roster (and its counts) is for the stream's moderators and
    staff only (everyone keeps the `viewers` count); the only status is `typing` (the chat's indicator),
    which every subscriber sees by name (`public_statuses`: names and statuses only, never the roster)."""

    STATUSES = frozenset({"typing"})
    # The chat's typing indicator is for everyone in the chat: viewers get who is typing (names only).
    public_statuses = frozenset({"typing"})

    async def can_see(self, client: Client) -> bool:
        # Asked after `state()` and again on each re-check (`realtime.reauthorize`), on a reloaded topic.
        user = client.user
        if not getattr(user, "is_authenticated", False):
            return False
        return bool(user.is_staff or await database_sync_to_async(self.topic.stream.is_moderator)(user))


class StreamTopic(Topic):
    kind = "stream"
    presence = StreamPresence
    __slots__ = ("stream", "moderator", "standing")

    def __init__(self, name: str, key: str, stream: Stream) -> None:
        super().__init__(name, key)
        self.stream = stream
        self.moderator = False
        self.standing: dict[str, Any] | None = None

    @classmethod
    async def load(cls, name: str, key: str) -> Topic:
        return await cls._load(name, key, fresh=False)

    async def reload(self) -> Topic:
        return await self._load(self.name, self.key, fresh=True)

    @classmethod
    async def _load(cls, name: str, key: str, *, fresh: bool) -> Topic:
        stream = await load_stream(cls.int_key(key, "stream"), fresh=fresh)
        if stream is None:
            raise ProtocolError("not_found", _("No stream with id %(key)s.") % {"key": key})
        return cls(name, key, stream)

    async def authorize_subscribe(self, client: Client) -> None:
        user = client.user
        if not getattr(user, "is_authenticated", False):
            if not self.stream.allow_anonymous:
                raise Denied("auth_required", _("Log in to watch this stream."))
            return
        await database_sync_to_async(self._check_access)(user)

    def _check_access(self, user: Any) -> None:
        ban = active_restriction(self.stream, user, StreamRestriction.Kind.BAN)
        if ban is not None and not self.stream.is_moderator(user):  # moderators are never banned here
            raise Denied("banned", _("You are banned from this stream."))

    def _check_and_describe(self, user: Any) -> None:
        # _check_access's decision, from the one query that also gives the viewer's standing: a muted
        # or timed-out viewer's page closes its comment box from it (docs/streams.md).
        self.moderator = self.stream.is_moderator(user)
        self.standing = None if self.moderator else viewer_standing(self.stream, user)
        if self.standing is not None and self.standing["kind"] == StreamRestriction.Kind.BAN:
            raise Denied("banned", _("You are banned from this stream."))

    async def state(self, client: Client) -> dict[str, Any]:
        # The hub asks for the state once the connection is in the room, where a ban's kick finds it.
        # A ban committed after the check in authorize_subscribe but before joining would find nothing
        # to kick, so check again: anything later is kicked, anything earlier is refused here.
        if getattr(client.user, "is_authenticated", False):
            await database_sync_to_async(self._check_and_describe)(client.user)
        viewers = client.hub.service(Presence).track(self.name)
        state = {**moderation.stream_state(self.stream), "moderator": self.moderator, "viewers": viewers}
        return {**state, "standing": self.standing}

    def pipelined(self, event: str) -> bool:
        # `CommentBatcher.post` queues a comment before its first await: the batch keeps arrival order.
        return event == "comment"

    async def publish(self, client: Client, event: str, data: dict[str, Any]) -> dict[str, Any]:
        # Every branch judges the user and the stream as they are now (`realtime.streams.policy`), not
        # as they were when this subscription began: this object may be hours old.
        user = client.user
        if not getattr(user, "is_authenticated", False):
            raise Denied("auth_required", _("Log in to take part."))
        if event == "comment":  # judged with the stream's lock held, in the storing transaction
            return await client.hub.service(CommentBatcher).post(self.stream.pk, user, data, origin=client)
        if event == "reaction":
            kind = validate_kind(data.get("kind"))
            await client.hub.service(Participation).admit_reaction(self.stream.pk, user)
            client.hub.service(Reactions).add(self.name, kind)
            return {}
        if event == "moderate":  # re-reads the moderator from the database
            return {"data": await database_sync_to_async(moderation.moderate)(self.stream.pk, user, data)}
        raise ProtocolError(
            "publish_not_allowed", _("Stream topics accept 'comment', 'reaction' and 'moderate'.")
        )
