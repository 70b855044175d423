"""Last value wins: a topic kind whose events each carry the whole newest state of something (a row, a
counter) sends only the newest event per thing in each frame, never a backlog.

A kind opts in with `Topic.compact_key` (`realtime.live`'s model topics key by primary key). Its room
then drops, when it builds a frame, every event that a later event of the same key in the same frame
supersedes, and the hub does the same to the replay a (re)subscriber is sent. Ids stay as they were:
the sequencer has already put every event in order (so no gap is seen where events were dropped), and
clients only remember the highest id they were sent, which the kept event carries. Other kinds pay
nothing: the room checks one attribute per frame.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING

from ..eventlog import StoredEvent

if TYPE_CHECKING:
    from .sequencer import Delivery

KeyOf = Callable[[StoredEvent], Hashable | None]


def newest_only(events: list[StoredEvent], key_of: KeyOf) -> list[StoredEvent]:
    """`events` without those a later one of the same key supersedes (key None: always kept), in order."""
    keys = [key_of(event) for event in events]
    last = {key: index for index, key in enumerate(keys) if key is not None}
    return [event for index, event in enumerate(events) if keys[index] is None or last[keys[index]] == index]


def compact(items: list[Delivery], key_of: KeyOf) -> list[Delivery]:
    """`newest_only` for a room's outgoing deliveries (those without an event are always kept)."""
    if len(items) < 2:
        return items
    keys = [key_of(item.event) if item.event is not None else None for item in items]
    last = {key: index for index, key in enumerate(keys) if key is not None}
    if len(last) == len(items):
        return items
    return [item for index, item in enumerate(items) if keys[index] is None or last[keys[index]] == index]
