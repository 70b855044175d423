"""Which local rooms follow a subject: the index a kick or a re-check of `stream.42` looks up, so that
it touches `announcements.stream-42` and no other room of the process.

Each room's `Topic.follows()` is asked once, when the room opens (its first subscriber), and the
room's name is filed under every subject it names; it leaves the index when the room closes. Without
it every kick asked every subscription of the process (a ban in a room of 10,000 viewers walked all
of them). A room whose `follows()` raised is kept apart and asked again at each kick or re-check, as
before the index: the error is logged each time and a later answer is not lost.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .hub import Hub
    from .room import Room

logger = logging.getLogger("realtime.hub")


class Followers:
    """A hub's service (`hub.service(Followers)`): subject -> names of the local rooms following it."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._by_subject: dict[str, set[str]] = {}
        self._subjects: dict[str, tuple[str, ...]] = {}  # room name -> the subjects it is filed under
        self.unsure: set[str] = set()  # rooms whose follows() raised: asked again at every look-up
        hub.room_observers.append(self._changed)
        hub.closed_observers.append(self._closed)
        for room in list(hub.rooms.values()):  # made after rooms opened: file those once now
            self._changed(room)

    def of(self, subject: str) -> set[str]:
        """Names of the local rooms whose access `subject` may decide: the subject's own room, those
        that follow it, and those whose follows() could not say (the caller asks them itself)."""
        return {subject} | self._by_subject.get(subject, set()) | self.unsure

    def _changed(self, room: Room) -> None:
        name = room.topic
        if name in self._subjects or name in self.unsure:
            return
        # Every subscriber of a room holds a topic of the same name and kind: one answers for all.
        sub = next(iter(room.subs.values()), None)
        if sub is None:
            return
        try:
            subjects = tuple(sub.topic.follows())
        except Exception:  # logged where it is asked again (realtime.hub.control.depends_on)
            self.unsure.add(name)
            return
        self._subjects[name] = subjects
        for subject in subjects:
            self._by_subject.setdefault(subject, set()).add(name)

    def _closed(self, name: str) -> None:
        self.unsure.discard(name)
        for subject in self._subjects.pop(name, ()):
            names = self._by_subject.get(subject)
            if names is not None:
                names.discard(name)
                if not names:
                    del self._by_subject[subject]
