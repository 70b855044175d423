"""Presence across processes: each hub owns its local part and tells the others about it.

No process is the source of truth (as in Phoenix's tracker): every hub broadcasts its own part of each
topic's roster over the control group (`hub.send_to_hubs`), whole, when it changes (coalesced) and
every `PRESENCE_LEASE / 3` seconds as a heartbeat. A part is kept for `PRESENCE_LEASE` seconds after it
was last heard, so a process killed with SIGKILL is gone everywhere within one lease.

A layer outage (Redis restart, network blip) silences everyone at once: while this process's link to
the layer is down, leases do not run out (nobody could be heard, so nobody is presumed gone), and when
it comes back this hub sends its whole part asking for everyone's (`ask`): the rosters reconcile
without a flood of false leaves and joins. A part from a process not heard before is answered the same
way, so a new process learns the roster within one round trip.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from .roster import Part, Record

if TYPE_CHECKING:
    from .tracker import Tracker

logger = logging.getLogger("realtime.presence")

MESSAGE_TYPE = "realtime.presence.part"


class RemotePart:
    __slots__ = ("expires", "topics")

    def __init__(self, expires: float) -> None:
        self.expires = expires
        self.topics: dict[str, dict[str, Record]] = {}


class Exchange:
    def __init__(self, tracker: Tracker, lease: float) -> None:
        self.tracker = tracker
        self.hub = tracker.hub
        self.lease = lease
        self.remote: dict[str, RemotePart] = {}
        self.answer_pending = False
        self.farewell = True  # say goodbye when the hub stops (a test playing SIGKILL turns it off)
        self.hub.on_message(MESSAGE_TYPE, self.receive)
        self._stop_listening = self.hub.link.listen(self._layer_state)

    def parts(self, topic: str) -> list[Part]:
        return [part.topics[topic] for part in self.remote.values() if topic in part.topics]

    def topics(self) -> set[str]:
        return {topic for part in self.remote.values() for topic in part.topics}

    # -- sending ----------------------------------------------------------------------------------
    def send(self, topics: set[str] | None, *, ask: bool = False) -> None:
        """Send this hub's part of `topics` (None: all of it, replacing what others hold of it)."""
        local = self.tracker.local
        names = set(local) if topics is None else topics
        body = {name: {cid: list(rec) for cid, rec in local.get(name, {}).items()} for name in names}
        message = {
            "type": MESSAGE_TYPE,
            "origin": self.hub.channel,
            "lease": self.lease,
            "full": topics is None,
            "ask": ask,
            "topics": body,
        }
        self.hub.spawn(self.hub.send_to_hubs(message))

    async def goodbye(self) -> None:
        """The hub is stopping (a deploy, a restart): its part goes everywhere now, not after a lease."""
        message = {
            "type": MESSAGE_TYPE,
            "origin": self.hub.channel,
            "lease": self.lease,
            "full": True,
            "topics": {},
        }
        await self.hub.send_to_hubs(message)

    def answer_soon(self) -> None:
        """Send the whole part once, shortly (many asks in a burst get one answer)."""
        if not self.answer_pending:
            self.answer_pending = True
            asyncio.get_running_loop().call_later(0.05, self._answer)

    def _answer(self) -> None:
        self.answer_pending = False
        if not self.hub.stopped:
            self.send(None)

    def _layer_state(self, up: bool) -> None:
        if up and not self.hub.stopped:
            self.send(None, ask=True)  # the recovery's full state exchange

    # -- receiving --------------------------------------------------------------------------------
    def receive(self, message: dict[str, Any]) -> None:
        origin = message.get("origin")
        topics = message.get("topics")
        if not isinstance(origin, str) or origin == self.hub.channel or not isinstance(topics, dict):
            return
        now = asyncio.get_running_loop().time()
        lease = float(message.get("lease") or self.lease)
        part = self.remote.get(origin)
        unknown = part is None
        if part is None:
            part = self.remote[origin] = RemotePart(now + lease)
        part.expires = now + lease
        touched = set(topics)
        if message.get("full"):
            touched |= set(part.topics)
            part.topics = {}
        for name, records in topics.items():
            parsed = _records(records)
            if parsed:
                part.topics[name] = parsed
            else:
                part.topics.pop(name, None)
        if unknown or message.get("ask"):
            self.answer_soon()
        self.tracker.remote_changed(touched)

    # -- leases -----------------------------------------------------------------------------------
    async def run(self) -> None:
        beat = self.lease / 3
        step = min(1.0, beat)
        since_beat = beat  # announce at once: others answer with their parts
        while True:
            if since_beat >= beat:
                since_beat = 0.0
                self.send(None)
            try:
                await asyncio.sleep(step)
            except asyncio.CancelledError:
                if self.hub.stopped and self.farewell:
                    await self.goodbye()
                raise
            since_beat += step
            try:
                self.expire()
            except Exception:  # never let one bad part stop the heartbeat
                logger.exception("Presence lease check failed")

    def expire(self) -> None:
        now = asyncio.get_running_loop().time()
        if self.hub.link.down:
            # Nobody can be heard while the layer is down: do not presume anyone gone.
            for part in self.remote.values():
                part.expires = max(part.expires, now + self.lease)
            return
        touched: set[str] = set()
        for origin, part in list(self.remote.items()):
            if part.expires <= now:
                touched |= set(part.topics)
                del self.remote[origin]
        if touched:
            self.tracker.remote_changed(touched)


def _records(raw: Any) -> dict[str, Record]:
    records: dict[str, Record] = {}
    if not isinstance(raw, dict):
        return records
    for cid, rec in raw.items():
        if isinstance(rec, list | tuple) and len(rec) == 3 and isinstance(rec[1], dict):
            key, entry, status = rec
            records[str(cid)] = (key if isinstance(key, str) else None, entry, status)
    return records
