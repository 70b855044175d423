"""`stream.<id>`: a live stream's comments, reactions, viewer count and moderation."""

from __future__ import annotations

import time
from typing import Any

from channels.db import database_sync_to_async

from .. import comments, moderation
from ..exceptions import Denied, ProtocolError
from ..models import Stream, StreamRestriction
from ..posting import CommentBatcher
from ..reactions import Reactions, ReactionThrottle
from .base import Client, Topic

# Streams looked up in the last second, per process. In a connect storm thousands of viewers subscribe
# to one stream; this turns their identical query into one (bench/: it was 30% of a connect). Posting
# and moderation always read the row fresh; a subscriber's snapshot may be a second old, and any
# `stream.updated` it missed is in the replay.
STREAM_CACHE_SECONDS = 1.0
_streams: dict[int, tuple[float, Stream]] = {}


async def _load_stream(pk: int) -> Stream | None:
    now = time.monotonic()
    cached = _streams.get(pk)
    if cached is not None and now - cached[0] < STREAM_CACHE_SECONDS:
        return cached[1]
    stream = await Stream.objects.filter(pk=pk).afirst()
    if stream is not None:
        if len(_streams) > 1000:
            _streams.clear()
        _streams[pk] = (now, stream)
    else:
        _streams.pop(pk, None)
    return stream


def forget_stream(pk: int) -> None:
    """Drop a cached stream after it changed (this process; others expire it within a second)."""
    _streams.pop(pk, None)


class StreamTopic(Topic):
    kind = "stream"
    track_viewers = True

    def __init__(self, name: str, key: str, stream: Stream) -> None:
        super().__init__(name, key)
        self.stream = stream
        self.moderator = False
        self.throttle: ReactionThrottle | None = None  # made on the first reaction: most viewers never react

    @classmethod
    async def load(cls, name: str, key: str) -> Topic:
        stream = await _load_stream(cls.int_key(key, "stream"))
        if stream is None:
            raise ProtocolError("not_found", f"No stream with id {key}.")
        return cls(name, key, stream)

    async def authorize_subscribe(self, client: Client) -> None:
        user = client.user
        if not getattr(user, "is_authenticated", False):
            if not self.stream.allow_anonymous:
                raise Denied("auth_required", "Log in to watch this stream.")
            return
        await database_sync_to_async(self._check_access)(user)

    def _check_access(self, user: Any) -> None:
        ban = comments.active_restriction(self.stream, user, StreamRestriction.Kind.BAN)
        if ban is not None:
            raise Denied("banned", "You are banned from this stream.")
        self.moderator = self.stream.is_moderator(user)

    async def state(self, client: Client) -> dict[str, Any]:
        # The hub asks for the state once the connection is in the room, where a ban's kick finds it.
        # A ban committed after the check in authorize_subscribe but before joining would find nothing
        # to kick, so check again: anything later is kicked, anything earlier is refused here.
        if getattr(client.user, "is_authenticated", False):
            await database_sync_to_async(self._check_access)(client.user)
        return {**moderation.stream_state(self.stream), "moderator": self.moderator}

    async def publish(self, client: Client, event: str, data: dict[str, Any]) -> dict[str, Any]:
        user = client.user
        if not getattr(user, "is_authenticated", False):
            raise Denied("auth_required", "Log in to take part.")
        if event == "comment":
            return await client.hub.service(CommentBatcher).post(self.stream.pk, user, data)
        if event == "reaction":
            if self.throttle is None:
                self.throttle = ReactionThrottle()
            self.throttle.check(time.monotonic())
            client.hub.service(Reactions).add(self.name, data.get("kind"))
            return {}
        if event == "moderate":
            return {"data": await database_sync_to_async(moderation.moderate)(self.stream.pk, user, data)}
        raise ProtocolError("publish_not_allowed", "Stream topics accept 'comment', 'reaction' and 'moderate'.")
