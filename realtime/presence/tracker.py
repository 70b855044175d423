"""The hub's presence service: this process's part of every roster, and the frames its viewers get.

One per hub (`hub.service(Tracker)`). A subscription to a topic whose kind has a `presence` policy is
tracked once it is answered (`track`, from `realtime.requests.subscribe`); it leaves when the hub drops
it for any reason (unsubscribe, disconnect, kick, a failed re-check), seen through the hub's room
observers, so a user who loses access leaves the roster at once.

Viewers who may see the roster get `presence_state` (the roster as of the last diff sent) and then
`presence_diff`s. Diffs are computed per topic at most once per `PRESENCE_WINDOW`, from the last roster
sent to the current one: a storm of joins costs each viewer at most one frame per window, and the
counts in every frame are exact at that moment. What was sent is a `Snapshot`: its state is encoded
once for every joiner of the window, and it lists at most `PRESENCE_LIMIT` users (counts exact).

Subscribers who may not see the roster get nothing of it, unless the policy discloses some statuses
(`public_statuses`, e.g. `typing` on a stream): those "onlookers" get the same frames restricted to the
metas in such a status, with only names (`roster.public_view`) and no counts. Both encodings are made
once per diff, whatever the number of viewers.

This process's part goes to the other processes as diffs (`Exchange.send`), once per window.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import time
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext as _

from .. import signals
from ..conf import realtime_settings
from ..exceptions import ProtocolError
from .exchange import Exchange
from .policy import PresencePolicy, clean_entry
from .roster import Entries, Part, Record, merge
from .snapshot import Snapshot

if TYPE_CHECKING:
    from ..hub import Connection, Hub, Room

# A connection's status updates: a burst of STATUS_BURST, then one per 1 / STATUS_RATE seconds.
STATUS_BURST = 4
STATUS_RATE = 2.0
MAX_STATUS_LENGTH = 20


# The entry of a socket that is counted, not listed (an anonymous viewer): one shared dict, never
# changed (a roster copies entries before adding to them).
UNLISTED: dict[str, Any] = {}


class Tracker:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.window = float(realtime_settings.PRESENCE_WINDOW)
        self.local: dict[str, dict[str, Record]] = {}
        self.members: dict[str, dict[Connection, str]] = {}  # topic -> connection -> its conn id
        # One policy per topic, not per socket: a policy is made from the topic alone, and in a room
        # of 10,000 a policy object and a (topic, socket) key each were ~0.2 KB of every idle socket.
        self.policies: dict[str, PresencePolicy] = {}
        self.watchers: dict[str, set[Connection]] = {}
        self.onlookers: dict[str, set[Connection]] = {}  # may not see the roster, get public statuses
        self.sent: dict[str, Snapshot] = {}
        self.kinds: dict[str, type] = {}
        self.pending: set[str] = set()  # topics whose diff is scheduled
        self.changed_here: set[str] = set()  # topics whose local part changed since it was sent
        self.last_flush: dict[str, float] = {}
        self.ids: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
        self.buckets: weakref.WeakKeyDictionary[Any, tuple[float, float]] = weakref.WeakKeyDictionary()
        self.started = time.monotonic()
        self.exchange = Exchange(self, float(realtime_settings.PRESENCE_LEASE))
        self.tabs: dict[tuple[str, str], int] = {}  # (topic, key) -> that user's sockets here
        self.sizes: dict[str, int] = {}  # each room's size when last seen
        self.stale: set[str] = set()  # topics whose room shrank: someone here left
        hub.room_observers.append(self._room_changed)
        hub.closed_observers.append(self._room_closed)
        hub.spawn(self.exchange.run())

    # -- joining and leaving ----------------------------------------------------------------------
    async def track(self, conn: Connection, topic: Any) -> None:
        """`conn` is subscribed to `topic` (answered): list it, and send it the roster if it may see it."""
        policy_class = getattr(topic, "presence", None)
        if policy_class is None or self.hub.subscriptions(conn).get(topic.name) is None:
            return
        shared = self.policies.get(topic.name)
        reuse = shared is not None and type(shared) is policy_class
        policy: PresencePolicy = shared if shared is not None and reuse else policy_class(topic)
        can_see = await policy.can_see(conn)
        sub = self.hub.subscriptions(conn).get(topic.name)
        if sub is None or sub.topic is not topic:  # gone (or re-subscribed) while we asked
            return
        name = topic.name
        user = conn.user
        listed = policy.listed(user)
        key = str(user.pk) if listed else None
        record: Record = (key, clean_entry(policy.entry(user)) if listed else UNLISTED, None)
        cid = getattr(conn, "presence_id", None) or self.ids.get(conn)
        if cid is None:
            cid = secrets.token_hex(6)
            try:
                conn.presence_id = cid  # type: ignore[attr-defined]  # on the socket itself: a weak-keyed entry was ~0.12 KB each
            except AttributeError:  # a connection class without that slot
                self.ids[conn] = cid
        members = self.members.setdefault(name, {})
        replaced = self.local.get(name, {}).get(cid)  # this socket subscribing again
        if replaced is not None and replaced[0] is not None:
            self.tabs[(name, replaced[0])] -= 1
        first_here = key is not None and not self.tabs.get((name, key))
        if key is not None:
            self.tabs[(name, key)] = self.tabs.get((name, key), 0) + 1
        members[conn] = cid
        self.local.setdefault(name, {})[cid] = record
        self.policies[name] = policy
        self.kinds[name] = type(topic)
        if name not in self.sent:
            self.sent[name] = self._snapshot(name, self.exchange.parts(name), None)
        if can_see:
            self.watchers.setdefault(name, set()).add(conn)
            conn.writer.write(self.sent[name].state())
        elif policy.public_statuses:
            self._add_onlooker(name, conn)
        self.exchange.touch(name, cid)
        self._changed(name, here=True)
        if first_here:
            signals.presence_joined.send(sender=type(topic), topic=name, user_id=key)

    async def recheck(self, conn: Connection, topic: Any) -> None:
        """The subscription passed a re-check (`realtime.reauthorize`): may it still see the roster?"""
        name = topic.name
        if conn not in self.members.get(name, ()):
            return
        policy = self.policies[name] = topic.presence(topic)
        allowed = await policy.can_see(conn)
        watchers = self.watchers.setdefault(name, set())
        if not allowed:
            watchers.discard(conn)  # from now on not a frame, not a count
            if policy.public_statuses and conn not in self.onlookers.get(name, ()):
                self._add_onlooker(name, conn)  # replaces the roster it held
        elif (
            conn not in watchers
            and conn in self.members.get(name, ())
            and self.hub.subscriptions(conn).get(name)
        ):
            watchers.add(conn)
            self.onlookers.get(name, set()).discard(conn)
            sent = self.sent.get(name) or Snapshot(name, {}, 0, 0)
            conn.writer.write(sent.state())

    def _add_onlooker(self, name: str, conn: Connection) -> None:
        self.onlookers.setdefault(name, set()).add(conn)
        conn.writer.write((self.sent.get(name) or Snapshot(name, {}, 0, 0, {})).public_state())

    def _snapshot(self, name: str, parts: Sequence[Part], before: Snapshot | None) -> Snapshot:
        limit = realtime_settings.PRESENCE_LIMIT
        policy = getattr(self.kinds.get(name), "presence", None) or PresencePolicy
        statuses = policy.public_statuses
        return Snapshot.take(name, parts, before, None if limit is None else int(limit), statuses)

    def _room_changed(self, room: Room) -> None:
        # Told of every join and leave of every room: only a room that shrank can hold a leaver, and it
        # is found once per window (`_reconcile`), not by a scan of a 10,000-viewer room per leave.
        name = room.topic
        size, self.sizes[name] = self.sizes.get(name, 0), len(room)
        if name in self.members and len(room) < size:
            self.stale.add(name)
            self._changed(name, here=True)

    def _room_closed(self, name: str) -> None:
        self.sizes.pop(name, None)
        if name in self.members:
            self.stale.add(name)
            self._changed(name, here=True)

    def _reconcile(self, name: str) -> None:
        """Take out of the roster the connections the hub no longer has in the topic's room (before any
        frame is written or any roster read: a leaver gets nothing more)."""
        if name not in self.stale:
            return
        self.stale.discard(name)
        room = self.hub.rooms.get(name)
        subs = room.subs if room is not None else {}
        for conn in [c for c in self.members.get(name, {}) if c not in subs]:
            self._leave(name, conn)

    def _leave(self, name: str, conn: Connection) -> None:
        cid = self.members[name].pop(conn)
        key = self.local[name].pop(cid)[0]
        self.exchange.touch(name, cid)
        self.watchers.get(name, set()).discard(conn)
        self.onlookers.get(name, set()).discard(conn)
        if not self.members[name]:
            del self.members[name]
            del self.local[name]
            self.policies.pop(name, None)
            self.watchers.pop(name, None)
            self.onlookers.pop(name, None)
        self._changed(name, here=True)
        if key is not None:
            self.tabs[(name, key)] -= 1
            if not self.tabs[(name, key)]:
                del self.tabs[(name, key)]
                signals.presence_left.send(sender=self.kinds.get(name), topic=name, user_id=key)

    # -- status -----------------------------------------------------------------------------------
    def set_status(self, conn: Connection, topic: Any, status: str | None) -> None:
        name = topic.name
        policy = self.policies.get(name) if conn in self.members.get(name, ()) else None
        if policy is None:
            raise ProtocolError(
                "bad_status", _("Topic %(topic)s has no presence.") % {"topic": repr(name[:80])}
            )
        if status is not None and status not in policy.STATUSES:
            raise ProtocolError(
                "bad_status",
                _("Status %(status)s is not allowed here; use one of %(allowed)s or null.")
                % {"status": repr(status[:MAX_STATUS_LENGTH]), "allowed": sorted(policy.STATUSES)},
            )
        self._take_token(conn)
        cid = self.members[name][conn]
        key, entry, _old = self.local[name][cid]
        self.local[name][cid] = (key, entry, status)
        self.exchange.touch(name, cid)
        self._changed(name, here=True)

    def _take_token(self, conn: Connection) -> None:
        now = time.monotonic()
        tokens, at = self.buckets.get(conn, (float(STATUS_BURST), now))
        tokens = min(float(STATUS_BURST), tokens + (now - at) * STATUS_RATE)
        if tokens < 1.0:
            wait = math.ceil((1.0 - tokens) / STATUS_RATE * 100) / 100  # rounded up: trying then works
            raise ProtocolError(
                "rate_limited",
                _("Too many status updates; try again in %(seconds)s s.") % {"seconds": wait},
                retry_after=wait,
            )
        self.buckets[conn] = (tokens - 1.0, now)

    # -- the roster and its diffs -----------------------------------------------------------------
    def roster(self, name: str) -> tuple[Entries, int]:
        """The merged roster now: this process's part and every live remote part."""
        self._reconcile(name)
        return merge([self.local.get(name, {}), *self.exchange.parts(name)])

    def remote_changed(self, names: set[str]) -> None:
        for name in names:
            if name in self.sent:
                self._changed(name, here=False)

    def _changed(self, name: str, *, here: bool) -> None:
        if here:
            self.changed_here.add(name)
        if name in self.pending:
            return
        self.pending.add(name)
        loop = asyncio.get_running_loop()
        delay = self.last_flush.get(name, -1e9) + self.window - loop.time()
        loop.call_later(max(delay, 0.0), self._flush, name)

    def _flush(self, name: str) -> None:
        self._reconcile(name)  # while still pending: its leaves need no second flush
        self.pending.discard(name)
        if self.hub.stopped:
            return
        self.last_flush[name] = asyncio.get_running_loop().time()
        if name in self.changed_here:
            self.changed_here.discard(name)
            self.exchange.send({name})
        parts = [self.local.get(name, {}), *self.exchange.parts(name)]
        if name not in self.members and name not in self.hub.rooms:
            self.sent.pop(name, None)  # nobody here is watching: keep no snapshot
            self.last_flush.pop(name, None)
            self.kinds.pop(name, None)
            return
        old = self.sent.get(name) or Snapshot(name, {}, 0, 0, {})
        new = self._snapshot(name, parts, old)
        frame, public = new.diff_from(old)
        # Nothing a viewer holds changed (say, the status of a user past the cap): the old snapshot is
        # as good, and its state may already be encoded.
        self.sent[name] = old if frame is None and public is None else new
        if frame is not None:
            for conn in self.watchers.get(name, ()):
                conn.writer.write(frame)
        if public is not None:
            for conn in self.onlookers.get(name, ()):
                conn.writer.write(public)
