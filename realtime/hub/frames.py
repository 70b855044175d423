"""Encoding events once and packing them into frames, for every socket of a room at once."""

from __future__ import annotations

from .. import protocol
from ..eventlog import StoredEvent
from ..transport import Frame

MAX_BATCH_CHARS = 64 * 1024  # keep coalesced frames small enough for any client's frame limit


def encode(event: StoredEvent) -> str:
    """The `event` envelope of a stored or ephemeral event: once per event per process."""
    return protocol.event_envelope(event.topic, event.name, event.data, id=event.id, at=event.at)


def frames_for(texts: list[str]) -> list[Frame]:
    """Pack encoded events into as few frames as possible, each batch at most MAX_BATCH_CHARS."""
    frames: list[Frame] = []
    chunk: list[str] = []
    size = 0
    for text in texts:
        if chunk and size + len(text) > MAX_BATCH_CHARS:
            frames.append(_frame(chunk))
            chunk, size = [], 0
        chunk.append(text)
        size += len(text)
    if chunk:
        frames.append(_frame(chunk))
    return frames


def _frame(texts: list[str]) -> Frame:
    return Frame(texts[0] if len(texts) == 1 else protocol.batch_envelope(texts))
