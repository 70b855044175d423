"""Streams looked up in the last second, per process.

In a connect storm thousands of viewers subscribe to one stream; this turns their identical query into
one (bench/: it was 30% of a connect). Posting and moderation always read the row fresh; a subscriber's
snapshot may be a second old, and any `stream.updated` it missed is in the replay.
"""

from __future__ import annotations

import asyncio
import time
from functools import partial

from .models import Stream

STREAM_CACHE_SECONDS = 1.0
MAX_CACHED = 1000
_streams: dict[int, tuple[float, Stream]] = {}
# Reads on their way (not `fresh`): subscribers arriving meanwhile wait for the same read instead of
# each starting one (a storm's viewers all missed the cache until the first read came back).
_reading: dict[int, asyncio.Task[Stream | None]] = {}


async def load_stream(pk: int, *, fresh: bool = False) -> Stream | None:
    now = time.monotonic()
    cached = _streams.get(pk)
    if not fresh and cached is not None and now - cached[0] < STREAM_CACHE_SECONDS:
        return cached[1]
    if fresh:
        return await _read(pk, now)
    loop = asyncio.get_running_loop()
    reading = _reading.get(pk)
    if reading is None or reading.get_loop() is not loop:
        reading = _reading[pk] = loop.create_task(_read(pk, now))
        reading.add_done_callback(partial(_read_done, pk))
    # Shielded: a subscriber that goes away does not cancel the read the others wait for.
    return await asyncio.shield(reading)


def _read_done(pk: int, done: asyncio.Task[Stream | None]) -> None:
    if _reading.get(pk) is done:
        del _reading[pk]
    if not done.cancelled():
        done.exception()  # retrieved: its waiters have it, or all went away (not worth a log line)


async def _read(pk: int, now: float) -> Stream | None:
    stream = await Stream.objects.filter(pk=pk).afirst()
    if stream is not None:
        if len(_streams) >= MAX_CACHED:
            _streams.clear()
        _streams[pk] = (now, stream)
    else:
        _streams.pop(pk, None)
    return stream


def forget_stream(pk: int) -> None:
    """Drop a cached stream after it changed (this process; others expire it within a second)."""
    _streams.pop(pk, None)
    _reading.pop(pk, None)  # a read begun before the change must not answer later subscribers


def forget_all() -> None:
    _streams.clear()
    _reading.clear()
