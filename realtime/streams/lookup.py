"""Streams looked up in the last second, per process.

In a connect storm thousands of viewers subscribe to one stream; this turns their identical query into
one (bench/: it was 30% of a connect). Posting and moderation always read the row fresh; a subscriber's
snapshot may be a second old, and any `stream.updated` it missed is in the replay.
"""

from __future__ import annotations

import time

from .models import Stream

STREAM_CACHE_SECONDS = 1.0
MAX_CACHED = 1000
_streams: dict[int, tuple[float, Stream]] = {}


async def load_stream(pk: int, *, fresh: bool = False) -> Stream | None:
    now = time.monotonic()
    cached = _streams.get(pk)
    if not fresh and cached is not None and now - cached[0] < STREAM_CACHE_SECONDS:
        return cached[1]
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


def forget_all() -> None:
    _streams.clear()
