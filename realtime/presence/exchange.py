"""Presence across processes: each hub owns its local part and tells the others about it.

No process is the source of truth (as in Phoenix's tracker): every hub tells the others over the control
group (`hub.send_to_hubs`) how its own part of each topic's roster changes, as a diff once per
`PRESENCE_WINDOW` while it changes (the connections added or changed, and those gone), and every
`PRESENCE_LEASE / 3` seconds a heartbeat. A part is kept for `PRESENCE_LEASE` seconds after it was last
heard, so a process killed with SIGKILL is gone everywhere within one lease.

Every message a hub sends carries its sequence number (`seq`: one more per diff or whole part, the same
on a heartbeat), and they leave one at a time, in order. A receiver applies a diff only on top of the
message before it: a gap (a message lost, a receiver that expired the sender meanwhile, one that never
had its part) is seen at the next diff or heartbeat, and the receiver asks that process for its whole
part (`want`), which replaces what it held. So the whole part crosses the layer only when asked for: a
new process, a gap, a layer outage. At 10,000 members that is 517 KB, once; a diff carries only the
window's changes (a heartbeat, some 100 bytes).

A layer outage (Redis restart, network blip) silences everyone at once: while this process's link to
the layer is down, leases do not run out (nobody could be heard, so nobody is presumed gone), and when
it comes back this hub sends its whole part asking for everyone's (`ask`): the rosters reconcile
without a flood of false leaves and joins.
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
ASK_AGAIN = 1.0  # seconds before the same process's whole part is asked for again


class RemotePart:
    __slots__ = ("asked", "expires", "seq", "topics")

    def __init__(self, expires: float) -> None:
        self.expires = expires
        self.seq: int | None = None  # the last message applied; None: its whole part not had yet
        self.asked = -1e9  # loop time its whole part was last asked for
        self.topics: dict[str, dict[str, Record]] = {}


class Exchange:
    def __init__(self, tracker: Tracker, lease: float) -> None:
        self.tracker = tracker
        self.hub = tracker.hub
        self.lease = lease
        self.remote: dict[str, RemotePart] = {}
        self.seq = 0
        self.touched: dict[str, set[str]] = {}  # topic -> connection ids changed since the last diff
        self.outbox: list[dict[str, Any]] = []
        self.sending = False
        self.answer_pending = False
        self.wanted: set[str] = set()  # processes whose whole part we ask for in the next message
        self.farewell = True  # say goodbye when the hub stops (a test playing SIGKILL turns it off)
        self.hub.on_message(MESSAGE_TYPE, self.receive)
        self._stop_listening = self.hub.link.listen(self._layer_state)

    def parts(self, topic: str) -> list[Part]:
        return [part.topics[topic] for part in self.remote.values() if topic in part.topics]

    def topics(self) -> set[str]:
        return {topic for part in self.remote.values() for topic in part.topics}

    # -- sending ----------------------------------------------------------------------------------
    def touch(self, topic: str, cid: str) -> None:
        """This process's record `cid` of `topic` was added, changed or removed: in the next diff."""
        self.touched.setdefault(topic, set()).add(cid)

    def send(self, topics: set[str]) -> None:
        """Send what changed in this hub's part of `topics` since the last diff."""
        local = self.tracker.local
        body: dict[str, Any] = {}
        for name in topics:
            cids = self.touched.pop(name, None)
            if not cids:
                continue
            records = local.get(name, {})
            changed = {cid: list(records[cid]) for cid in cids if cid in records}
            body[name] = {"set": changed, "gone": [cid for cid in cids if cid not in records]}
        if body:
            self.seq += 1
            self._post({"seq": self.seq, "diff": body})

    def send_whole(self, *, ask: bool = False) -> None:
        """Send this hub's whole part, replacing what others hold of it (`ask`: everyone answers)."""
        local = self.tracker.local
        body = {name: {cid: list(rec) for cid, rec in records.items()} for name, records in local.items()}
        self.touched.clear()  # the whole part holds every change
        self.seq += 1
        self._post({"seq": self.seq, "full": True, "ask": ask, "topics": body})

    def _post(self, message: dict[str, Any]) -> None:
        message.update(type=MESSAGE_TYPE, origin=self.hub.channel, lease=self.lease)
        if self.wanted:
            message["want"] = sorted(self.wanted)
            self.wanted.clear()
        self.outbox.append(message)
        if not self.sending:
            self.sending = True
            self.hub.spawn(self._drain())

    async def _drain(self) -> None:
        # One at a time, in order: two sends racing through Redis could arrive swapped (a false gap).
        try:
            while self.outbox:
                await self.hub.send_to_hubs(self.outbox.pop(0))  # lost if the layer is down: a gap
        finally:
            self.sending = False

    async def goodbye(self) -> None:
        """The hub is stopping (a deploy, a restart): its part goes everywhere now, not after a lease."""
        self.seq += 1
        message = {"type": MESSAGE_TYPE, "origin": self.hub.channel, "lease": self.lease}
        await self.hub.send_to_hubs({**message, "seq": self.seq, "full": True, "topics": {}})

    def answer_soon(self) -> None:
        """Send the whole part once, shortly (many asks in a burst get one answer)."""
        if not self.answer_pending:
            self.answer_pending = True
            asyncio.get_running_loop().call_later(0.05, self._answer)

    def _answer(self) -> None:
        self.answer_pending = False
        if not self.hub.stopped:
            self.send_whole()

    def _want(self, origin: str, part: RemotePart, now: float) -> None:
        if now - part.asked >= ASK_AGAIN:
            part.asked = now
            self.wanted.add(origin)
            self._post({"seq": self.seq})  # a heartbeat carrying the request

    def _layer_state(self, up: bool) -> None:
        if up and not self.hub.stopped:
            self.send_whole(ask=True)  # the recovery's full state exchange

    # -- receiving --------------------------------------------------------------------------------
    def receive(self, message: dict[str, Any]) -> None:
        origin = message.get("origin")
        seq = message.get("seq")
        if not isinstance(origin, str) or origin == self.hub.channel or not isinstance(seq, int):
            return
        now = asyncio.get_running_loop().time()
        lease = float(message.get("lease") or self.lease)
        part = self.remote.get(origin)
        if part is None:
            part = self.remote[origin] = RemotePart(now + lease)
            if not message.get("full"):
                self.answer_soon()  # it may have expired us too: our part, with the request for its
        part.expires = now + lease
        want = message.get("want")
        if message.get("ask") or (isinstance(want, list) and self.hub.channel in want):
            self.answer_soon()
        touched: set[str] = set()
        if message.get("full") and isinstance(message.get("topics"), dict):
            touched = set(part.topics) | set(message["topics"])
            part.topics = {}
            _apply(part, message["topics"], {})
            part.seq = seq
        elif isinstance(message.get("diff"), dict) and part.seq is not None and seq == part.seq + 1:
            touched = set(message["diff"])
            for name, change in message["diff"].items():
                if isinstance(change, dict):
                    _apply(part, {name: change.get("set")}, {name: change.get("gone")})
            part.seq = seq
        elif part.seq is None or seq > part.seq:
            self._want(origin, part, now)  # a gap: keep what we hold until its whole part comes
        if touched:
            self.tracker.remote_changed(touched)

    # -- leases -----------------------------------------------------------------------------------
    async def run(self) -> None:
        beat = self.lease / 3
        step = min(1.0, beat)
        since_beat = 0.0
        self.send_whole(ask=True)  # announce at once: others answer with their parts
        while True:
            if since_beat >= beat:
                since_beat = 0.0
                self._post({"seq": self.seq})
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


def _apply(part: RemotePart, sets: dict[str, Any], gones: dict[str, Any]) -> None:
    for name in sets.keys() | gones.keys():
        records = part.topics.get(name, {})
        records.update(_records(sets.get(name)))
        gone = gones.get(name)
        for cid in gone if isinstance(gone, list) else ():
            records.pop(str(cid), None)
        if records:
            part.topics[name] = records
        else:
            part.topics.pop(name, None)


def _records(raw: Any) -> dict[str, Record]:
    records: dict[str, Record] = {}
    if not isinstance(raw, dict):
        return records
    for cid, rec in raw.items():
        if isinstance(rec, list | tuple) and len(rec) == 3 and isinstance(rec[1], dict):
            key, entry, status = rec
            records[str(cid)] = (key if isinstance(key, str) else None, entry, status)
    return records
