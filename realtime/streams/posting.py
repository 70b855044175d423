"""Group commit for comments: concurrent posts on one stream are stored in one transaction.

At low rates a post is stored at once, alone. While a store is running, posts arriving for the same
stream wait and go together into the next one, so storing keeps up with hundreds of posts a second in
one process (one transaction, a handful of queries, one channel-layer message per batch) instead of
paying ten ORM statements and a layer round trip per comment.

Storing never waits for the channel layer. A batch is acknowledged as soon as it is committed, and its
publish is handed to the stream's publisher, which sends one stream's events in id order, one layer
call at a time, while the next batch is already being stored. A Redis that stops answering therefore
delays live delivery (the hubs' database sync delivers what the layer lost), never the acks or the
storing of later comments.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async

from ..eventlog import StoredEvent
from .storage import Outcome, store_comments

if TYPE_CHECKING:
    from ..hub import Hub

logger = logging.getLogger("realtime.posting")

MAX_BATCH = 200  # posts per transaction: bounds how long one store holds the stream's lock
# Events of one stream waiting for a slow layer beyond this are dropped, oldest first, from the live
# publish only: they are stored, and every hub fetches what it missed from the database (the gap is
# seen at the next event, or by the periodic sync).
MAX_UNPUBLISHED = 10 * MAX_BATCH


class CommentBatcher:
    """One per hub (process): queues per stream, at most one store and one publish in flight per stream."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.waiting: dict[int, list[tuple[Any, dict[str, Any], asyncio.Future]]] = {}
        self.storing: set[int] = set()
        # Stored events not yet handed to the layer, per stream whose publisher is running.
        self.unpublished: dict[int, list[StoredEvent]] = {}

    async def post(self, stream_id: int, user: Any, data: dict[str, Any]) -> dict[str, Any]:
        """Store one comment (batched with concurrent ones); return the ack fields or raise the refusal."""
        future = asyncio.get_running_loop().create_future()
        self.waiting.setdefault(stream_id, []).append((user, data, future))
        if stream_id not in self.storing:
            self.storing.add(stream_id)
            asyncio.get_running_loop().create_task(self._drain(stream_id))
        return await future

    async def _drain(self, stream_id: int) -> None:
        try:
            while self.waiting.get(stream_id):
                queue = self.waiting[stream_id]
                batch, self.waiting[stream_id] = queue[:MAX_BATCH], queue[MAX_BATCH:]
                await self._store(stream_id, batch)
        finally:
            self.storing.discard(stream_id)
            if not self.waiting.get(stream_id):
                self.waiting.pop(stream_id, None)

    async def _store(self, stream_id: int, batch: list[tuple[Any, dict[str, Any], asyncio.Future]]) -> None:
        try:
            outcomes: list[Outcome] = await database_sync_to_async(store_comments)(
                stream_id, [(user, data) for user, data, _ in batch]
            )
        except Exception as exc:  # each waiting consumer reports internal_error and logs it
            for *_, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        events = [outcome.event for outcome in outcomes if outcome.event is not None]
        if events:
            self._publish(stream_id, events)
        published = self._layer_up()
        for (*_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():  # the poster disconnected meanwhile; its comment is stored all the same
                continue
            if outcome.error is not None:
                future.set_exception(outcome.error)
            else:
                assert outcome.ack is not None
                future.set_result({**outcome.ack, "published": published})

    def _layer_up(self) -> bool:
        """The ack's `published`: true while the hub believes the layer answers (the publish is on its
        way, sent after the ack); false while it is known to be down (viewers get the comment from the
        database once it is back). See docs/protocol.md."""
        return self.hub.health.up.is_set()

    # -- publishing, behind the acks ----------------------------------------------------------------
    def _publish(self, stream_id: int, events: list[StoredEvent]) -> None:
        """Queue committed events for the stream's publisher (started if it is not running)."""
        pending = self.unpublished.get(stream_id)
        if pending is None:
            self.unpublished[stream_id] = list(events)
            self.hub.spawn(self._publisher(stream_id))
            return
        pending.extend(events)  # batches are committed in id order, so the queue stays in id order
        if len(pending) > MAX_UNPUBLISHED:
            del pending[: len(pending) - MAX_UNPUBLISHED]

    async def _publisher(self, stream_id: int) -> None:
        """Send the stream's committed events in id order, one layer call at a time, whatever has
        gathered meanwhile going together in the next call."""
        topic = f"stream.{stream_id}"
        try:
            while pending := self.unpublished[stream_id]:
                chunk, self.unpublished[stream_id] = pending[:MAX_BATCH], pending[MAX_BATCH:]
                try:
                    await self.hub.publish_many(topic, chunk)  # False: the outage is the hub's to log
                except Exception:  # a bug in the layer link must not stop this stream's publishes
                    logger.exception("Publishing %d event(s) on %s failed", len(chunk), topic)
        finally:
            self.unpublished.pop(stream_id, None)
