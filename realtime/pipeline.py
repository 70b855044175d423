"""One connection's accepted requests: carried out in arrival order, with publishes pipelined.

Why: a busy producer (a bot, an ingest bridge, a dashboard feed) sends many publishes on one socket.
Carried out strictly one after another, each waits for the previous one's store and acknowledgement,
so one connection cannot post faster than one store a round trip. Here the publishes a topic lets
overlap (`Topic.pipelined`, e.g. stream comments, which the group commit stores in arrival order) are
all in flight together, up to `MAX_PUBLISHES_IN_FLIGHT` per connection, each answered by its own
`ack` or `error`.

Order: requests start in arrival order. Every other request (subscribe, unsubscribe, a publish its
topic does not let overlap) is a barrier: it starts once everything before it is answered, and
nothing after it starts before it is answered, so a publish sent after a subscribe sees the
subscription. Overlapping publishes start as tasks in arrival order, and asyncio runs the first step
of tasks in the order they were made: a topic that fixes a publish's place before its first await
(`CommentBatcher.post` queues it synchronously) keeps the connection's order for every viewer.

A publish refused `too_many_in_flight` is sent again by the client, in order, once answers arrive.
Were the next publish accepted as soon as one slot frees, it would be stored ahead of that retry; so
after such a refusal every publish is refused until all the connection's publishes are answered
(`overflowed`). Clients that respect `max_in_flight` from `hello` never meet either.

Pings never enter the pipeline: the consumer answers them at once.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

from django.utils.translation import gettext as _

from .conf import realtime_settings
from .exceptions import ProtocolError
from .protocol import Request
from .topics.base import Topic


class Pipeline:
    """Made when a connection sends a request that needs an await; dropped once all are answered."""

    __slots__ = (
        "handle",
        "topic_of",
        "limit",
        "on_idle",
        "queue",
        "flight",
        "worker",
        "barrier",
        "publishes",
        "overflowed",
    )

    def __init__(
        self,
        handle: Callable[[Request], Awaitable[None]],
        topic_of: Callable[[str], Topic | None],
        on_idle: Callable[[], None] | None = None,
        *,
        limit: int | None = None,
    ) -> None:
        self.handle = handle  # carries out one request and answers it (never raises)
        self.topic_of = topic_of  # the connection's subscribed topic of that name, if any
        self.limit = max(int(realtime_settings.MAX_PUBLISHES_IN_FLIGHT if limit is None else limit), 1)
        # Told when everything accepted is answered: an idle connection need not keep its pipeline.
        self.on_idle = on_idle
        self.queue: deque[Request] = deque()  # waiting behind a barrier
        self.flight: set[asyncio.Task] = set()  # overlapping publishes running now
        self.worker: asyncio.Task | None = None  # exists while anything is queued or a barrier runs
        self.barrier = False  # the worker is carrying out a barrier request
        self.publishes = 0  # publishes accepted and not yet answered
        self.overflowed = False  # a publish was refused too_many_in_flight: refuse until all answered

    def overlaps(self, request: Request) -> bool:
        """May this request run alongside the ones before it? Only a publish its topic allows."""
        if request.type != "publish":
            return False
        topic = self.topic_of(request.topic or "")
        return topic is not None and topic.pipelined(request.event or "")

    def waiting(self) -> int:
        """Requests accepted and not yet answered (what the request budget caps)."""
        return len(self.queue) + len(self.flight) + self.barrier

    def idle(self) -> bool:
        return self.worker is None and not self.flight

    def refusal(self, request: Request) -> ProtocolError | None:
        """Why this request may not join the pipeline now, if it may not."""
        if request.type != "publish":
            return None
        if self.publishes == 0:
            self.overflowed = False
        if self.overflowed or self.publishes >= self.limit:
            self.overflowed = True  # a later publish accepted now would be stored ahead of this one's retry
            return ProtocolError(
                "too_many_in_flight",
                _(
                    "%(count)s publishes on this connection are still waiting for their answers; send this "
                    "one again, in order, once they are answered."
                )
                % {"count": self.publishes},
                retry_after=0.5,
            )
        return None

    def submit(self, request: Request) -> None:
        """Accept a request: start it now if nothing it must wait for is queued, else queue it."""
        if request.type == "publish":
            self.publishes += 1
        if self.worker is None and self.overlaps(request):
            self._start(request)
            return
        self.queue.append(request)
        if self.worker is None:
            self.worker = asyncio.get_running_loop().create_task(self._run())

    def cancel(self) -> None:
        """The connection is gone: nothing more starts; what runs is cancelled (and unwinds)."""
        self.queue.clear()
        if self.worker is not None:
            self.worker.cancel()
        for task in list(self.flight):
            task.cancel()

    def clear(self) -> None:
        """The connection is closing: requests not yet started stay unanswered (the close answers
        them); those running finish."""
        self.queue.clear()

    def _start(self, request: Request) -> None:
        task = asyncio.get_running_loop().create_task(self._carry_out(request))
        self.flight.add(task)
        task.add_done_callback(self._landed)

    def _landed(self, task: asyncio.Task) -> None:
        self.flight.discard(task)
        if self.on_idle is not None and self.idle():
            self.on_idle()

    async def _carry_out(self, request: Request) -> None:
        try:
            await self.handle(request)
        finally:
            if request.type == "publish":
                self.publishes -= 1

    async def _run(self) -> None:
        try:
            while self.queue:
                request = self.queue.popleft()
                if self.overlaps(request):
                    self._start(request)
                    continue
                self.barrier = True
                try:
                    while self.flight:  # a barrier: everything before it is answered first
                        await asyncio.wait(list(self.flight))
                    await self._carry_out(request)
                finally:
                    self.barrier = False
        finally:
            self.worker = None
            if self.on_idle is not None and self.idle() and not self.queue:
                self.on_idle()
