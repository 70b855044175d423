"""Presence: who is subscribed to a topic, on every process (docs/presence.md).

A topic kind opts in with `presence = PresencePolicy` (or a subclass). From Python:

    realtime.presence.list("page.home")   # {"42": {"name": "Ada", "avatar": None, "metas": [...]}}
    realtime.presence.count("page.home")  # {"count": 1, "anonymous": 3}

(`alist` / `acount` in async code). They answer from this process's hub, which hears every other
process's part; a process that has no hub yet (a shell) starts one and waits a moment for the others.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from asgiref.sync import async_to_sync

from .policy import PresencePolicy
from .roster import Entries

__all__ = ["PresencePolicy", "acount", "alist", "count", "list"]

# Seconds a newly started hub waits for the other processes to answer its first announcement.
SETTLE = 0.5


async def _tracker() -> Any:
    from ..hub import get_hub
    from .tracker import Tracker

    tracker = (await get_hub()).service(Tracker)
    wait = tracker.started + SETTLE - time.monotonic()
    if wait > 0:
        await asyncio.sleep(wait)
    return tracker


async def alist(topic: str) -> Entries:
    """The roster of `topic`: listed users by key, each with their entry and one meta per connection."""
    entries, _anonymous = (await _tracker()).roster(topic)
    return entries


async def acount(topic: str) -> dict[str, int]:
    """How many listed users, and how many anonymous connections, are on `topic`."""
    entries, anonymous = (await _tracker()).roster(topic)
    return {"count": len(entries), "anonymous": anonymous}


def list(topic: str) -> Entries:  # noqa: A001  # the contract's name: realtime.presence.list
    return async_to_sync(alist)(topic)


def count(topic: str) -> dict[str, int]:
    return async_to_sync(acount)(topic)
