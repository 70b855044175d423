"""What a topic's viewers were last sent: the roster they hold (capped), and its frames encoded once.

A `Snapshot` is taken per topic once per `PRESENCE_WINDOW` (`Tracker._flush`). Its `presence_state` is
encoded at most once, when the first subscriber of the window asks for it, and the same bytes go to
every subscriber who joins in that window: a join storm into a room of 10,000 costs one encoding per
window, not one per join (which was O(N^2) in the room's size: 18 ms and 1 MB a join at 10,000).

The roster a frame lists is capped at `PRESENCE_LIMIT` users (`roster.shown`: the first who came, kept
while they stay); `count` and `anonymous` are the whole roster's, exact. `count` is each roster
frame's last key (the benchmark's client reads it from the tail).
"""

from __future__ import annotations

from collections.abc import Sequence

from .. import protocol
from ..transport import Frame
from .roster import Entries, Part, diff, listed, merge, public_view, shown


class Snapshot:
    __slots__ = ("_public_state", "_state", "anonymous", "count", "entries", "public", "topic")

    def __init__(
        self, topic: str, entries: Entries, anonymous: int, count: int, public: Entries | None = None
    ) -> None:
        self.topic = topic
        self.entries = entries  # the listed users (at most PRESENCE_LIMIT)
        self.anonymous = anonymous
        self.count = count  # every listed user, shown or not
        self.public = public  # what onlookers hold (`PresencePolicy.public_statuses`), None: no such
        self._state: Frame | None = None
        self._public_state: Frame | None = None

    @classmethod
    def take(
        cls,
        topic: str,
        parts: Sequence[Part],
        before: Snapshot | None,
        limit: int | None,
        statuses: frozenset[str],
    ) -> Snapshot:
        """The snapshot of the roster merged from `parts` (every process's), after `before`."""
        held = before.entries if before is not None else {}
        if limit is not None and not statuses:  # the common case: no full merge of a big room
            entries, count, anonymous = listed(parts, held, limit)
            return cls(topic, entries, anonymous, count)
        everyone, anonymous = merge(parts)
        public = None
        if statuses:
            onlookers_held = (before.public or {}) if before is not None else {}
            public = shown(onlookers_held, public_view(everyone, statuses), limit)
        return cls(topic, shown(held, everyone, limit), anonymous, len(everyone), public)

    def state(self) -> Frame:
        """The `presence_state` a subscriber who may see the roster gets (encoded once)."""
        if self._state is None:
            self._state = Frame(
                protocol.reply(
                    "presence_state",
                    topic=self.topic,
                    entries=self.entries,
                    anonymous=self.anonymous,
                    count=self.count,
                )
            )
        return self._state

    def public_state(self) -> Frame:
        """The `presence_state` of an onlooker: the public statuses only, no counts (encoded once)."""
        if self._public_state is None:
            self._public_state = Frame(
                protocol.reply("presence_state", topic=self.topic, entries=self.public or {})
            )
        return self._public_state

    def diff_from(self, old: Snapshot) -> tuple[Frame | None, Frame | None]:
        """(the roster's `presence_diff`, the onlookers'), None where nothing changed for them."""
        joins, leaves = diff(old.entries, self.entries)
        frame = None
        if joins or leaves or (old.anonymous, old.count) != (self.anonymous, self.count):
            frame = Frame(
                protocol.reply(
                    "presence_diff",
                    topic=self.topic,
                    joins=joins,
                    leaves=leaves,
                    anonymous=self.anonymous,
                    count=self.count,
                )
            )
        public = None
        if self.public is not None:
            joins, leaves = diff(old.public or {}, self.public)
            if joins or leaves:  # a join without a public status is not even a frame to them
                public = Frame(protocol.reply("presence_diff", topic=self.topic, joins=joins, leaves=leaves))
        return frame, public
