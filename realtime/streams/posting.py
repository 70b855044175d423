"""Group commit for comments: concurrent posts on one stream are stored in one transaction.

At low rates a post is stored at once, alone. While a store is running, posts arriving for the same
stream wait and go together into the next one, so storing keeps up with hundreds of posts a second in
one process (one transaction, a handful of queries, one channel-layer message per batch) instead of
paying ten ORM statements and a layer round trip per comment. The acknowledgement still only goes out
once the comment is committed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async

from .storage import Outcome, store_comments

if TYPE_CHECKING:
    from ..hub import Hub

logger = logging.getLogger("realtime.posting")

MAX_BATCH = 200  # posts per transaction: bounds how long one store holds the stream's lock


class CommentBatcher:
    """One per hub (process): queues per stream, at most one store in flight per stream."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.waiting: dict[int, list[tuple[Any, dict[str, Any], asyncio.Future]]] = {}
        self.storing: set[int] = set()

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
        published = await self.hub.publish_many(f"stream.{stream_id}", events) if events else True
        for (*_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():  # the poster disconnected meanwhile; its comment is stored all the same
                continue
            if outcome.error is not None:
                future.set_exception(outcome.error)
            else:
                assert outcome.ack is not None
                future.set_result({**outcome.ack, "published": published})
