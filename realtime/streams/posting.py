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

One connection's comments are stored in the order it sent them, failures included. A pipelined
connection has many comments in flight; if one cannot be stored for a server-side reason (the
database failed: `unavailable`, or a bug: `internal_error`, both retried by clients with the same
`client_id`), the ones it sent after it on that stream must not be stored ahead of its retry. So the
batcher holds that connection on that stream: its comments still queued behind the failed one are
refused with `unavailable`, and so is every later one, until the connection sends the failed comment
again (same `client_id`); then it is stored first and the hold is lifted. Clients that retry in order
(docs/protocol.md) never notice beyond the retries. The hold ends with the connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from channels.db import database_sync_to_async
from django.utils.translation import gettext_lazy as _

from ..eventlog import StoredEvent
from ..exceptions import Unavailable
from ..ops import logs
from .storage import Outcome, store_comments

if TYPE_CHECKING:
    from ..hub import Hub

logger = logging.getLogger("realtime.posting")

MAX_BATCH = 200  # posts per transaction: bounds how long one store holds the stream's lock
# Events of one stream waiting for a slow layer beyond this are dropped, oldest first, from the live
# publish only: they are stored, and every hub fetches what it missed from the database (the gap is
# seen at the next event, or by the periodic sync).
MAX_UNPUBLISHED = 10 * MAX_BATCH

OUT_OF_ORDER = _(
    "An earlier comment you sent on this stream could not be stored yet. Send it again (same "
    "client_id) first, then this one: your comments are stored in the order you sent them."
)

StoreFunction = Callable[[int, list[tuple[Any, dict[str, Any]]]], list[Outcome]]


@dataclass(slots=True)
class Post:
    """One comment waiting to be stored, with who sent it and where its answer goes."""

    user: Any
    data: dict[str, Any]
    origin: Any  # the connection (anything weakly referenceable), or None: no order to keep
    answer: asyncio.Future[dict[str, Any]]

    def settle(self, *, ack: dict[str, Any] | None = None, error: BaseException | None = None) -> None:
        if self.answer.done():  # the poster disconnected meanwhile; its comment is stored all the same
            return
        if error is not None:
            self.answer.set_exception(error)
        else:
            self.answer.set_result(ack or {})


class CommentBatcher:
    """One per hub (process): queues per stream, at most one store and one publish in flight per stream."""

    def __init__(self, hub: Hub, store: StoreFunction | None = None) -> None:
        self.hub = hub
        self.store = store  # None: storage.store_comments (tests put a flaky one here)
        self.waiting: dict[int, list[Post]] = {}
        self.storing: set[int] = set()
        # Stored events not yet handed to the layer, per stream whose publisher is running.
        self.unpublished: dict[int, list[StoredEvent]] = {}
        # connection -> stream -> the client_id it must send again before anything else on that stream.
        self.held: WeakKeyDictionary[Any, dict[int, str]] = WeakKeyDictionary()

    async def post(
        self, stream_id: int, user: Any, data: dict[str, Any], origin: Any = None
    ) -> dict[str, Any]:
        """Store one comment (batched with concurrent ones); return the ack fields or raise the refusal.

        `origin` is the connection that sent it: its comments are stored in the order they were
        posted, a failed one first (see the module's docstring). Queued before the first await, so
        calls made in order are stored in order."""
        if origin is not None and not self._admits(stream_id, origin, data):
            raise Unavailable(OUT_OF_ORDER)
        loop = asyncio.get_running_loop()
        post = Post(user, data, origin, loop.create_future())
        self.waiting.setdefault(stream_id, []).append(post)
        if stream_id not in self.storing:
            self.storing.add(stream_id)
            loop.create_task(self._drain(stream_id))
        return await post.answer

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

    async def _store(self, stream_id: int, batch: list[Post]) -> None:
        store = self.store or store_comments
        try:
            outcomes = await database_sync_to_async(store)(stream_id, [(p.user, p.data) for p in batch])
        except Exception as exc:  # nothing stored; each consumer answers unavailable or internal_error
            outcomes = [Outcome(failure=exc) for _ in batch]
        events = [outcome.event for outcome in outcomes if outcome.event is not None]
        if events:
            self._publish(stream_id, events)
        published = self._layer_up()
        for post, outcome in zip(batch, outcomes, strict=True):
            if outcome.failure is not None:
                self._hold(stream_id, post)
                post.settle(error=outcome.failure)
            elif outcome.error is not None:
                post.settle(error=outcome.error)
            else:
                assert outcome.ack is not None
                post.settle(ack={**outcome.ack, "published": published})
        self._refuse_held(stream_id)

    # -- one connection's order ---------------------------------------------------------------------
    def _admits(self, stream_id: int, origin: Any, data: dict[str, Any]) -> bool:
        """May this post be queued? Yes unless its connection is held on this stream by an earlier
        failed post; the retry of that post is admitted and lifts the hold."""
        held = self.held.get(origin)
        if held is None or stream_id not in held:
            return True
        if data.get("client_id") != held[stream_id]:
            return False
        del held[stream_id]
        if not held:
            del self.held[origin]
        return True

    def _hold(self, stream_id: int, post: Post) -> None:
        """The post failed and will be retried: hold its connection on this stream until it is."""
        client_id = post.data.get("client_id")
        if post.origin is None or not isinstance(client_id, str):
            return  # without a client_id its retry is refused as bad_message: no order to keep
        self.held.setdefault(post.origin, {}).setdefault(stream_id, client_id)  # the first one counts

    def _refuse_held(self, stream_id: int) -> None:
        """Refuse the queued posts of connections just held on this stream (they came after the
        failed one)."""
        queue = self.waiting.get(stream_id)
        if not queue or not self.held:
            return
        admitted = []
        for post in queue:
            if post.origin is None or self._admits(stream_id, post.origin, post.data):
                admitted.append(post)
            else:
                post.settle(error=Unavailable(OUT_OF_ORDER))
        self.waiting[stream_id] = admitted

    def _layer_up(self) -> bool:
        """The ack's `published`: true while the hub believes the layer answers (the publish is on its
        way, sent after the ack); false while it is known to be down (viewers get the comment from the
        database once it is back). See docs/protocol.md."""
        return not self.hub.link.down

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
                    logger.exception(
                        "Publishing %d event(s) on %s failed",
                        len(chunk),
                        topic,
                        extra=logs.context(topic=topic),
                    )
        finally:
            self.unpublished.pop(stream_id, None)
