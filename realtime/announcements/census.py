"""Who is connected to the announcement topics right now, across every process.

Asked only while an admin's live panel is open (`panel.py`): the panel's process sends a census request
to every hub; each hub answers with the users (and the number of anonymous connections) in its rooms of
the topics asked about; the asker keeps the answers for a few intervals and counts distinct users, so a
user with tabs on two processes counts once. A hub answers about rooms it has, so "connected" means
"connected with a page that can show the banner". The cost is one request and one answer per process
per panel interval, whatever the number of viewers; only the user ids travel.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from .audience import KIND, USER_PREFIX
from .conf import realtime_settings

if TYPE_CHECKING:
    from ..hub import Hub

logger = logging.getLogger("realtime.announcements")

REQUEST = "realtime.announcements.census"
REPLY = "realtime.announcements.census_reply"
#: Census name for "every user with a personal announcements topic here" (targeted audiences).
PERSONAL = f"{KIND}.{USER_PREFIX}*"
EXPIRY_INTERVALS = 3.5


class Census:
    """One per hub with announcement subscribers: answers census requests, and collects the answers
    to its own."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.answers: dict[str, tuple[dict[str, Any], float]] = {}  # origin -> (rooms, expires)
        hub.on_message(REQUEST, self.answer)
        hub.on_message(REPLY, self.collect)

    def local(self, topics: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for name in topics:
            if name == PERSONAL:
                prefix = PERSONAL[:-1]
                users = [
                    int(topic[len(prefix) :])
                    for topic, room in self.hub.rooms.items()
                    if topic.startswith(prefix) and len(room)
                ]
                found[name] = {"users": users, "anonymous": 0}
                continue
            room = self.hub.rooms.get(name)
            connections = room.connections() if room is not None else []
            found[name] = {
                "users": sorted({c.user_id for c in connections if c.user_id is not None}),
                "anonymous": sum(1 for c in connections if c.user_id is None),
            }
        return found

    def answer(self, message: dict[str, Any]) -> None:
        origin, topics = message.get("origin"), message.get("topics")
        if not isinstance(origin, str) or not isinstance(topics, list):
            return
        wanted = [t for t in topics if isinstance(t, str) and t.startswith(f"{KIND}.")]
        self.hub.spawn(self._reply(origin, wanted))

    async def _reply(self, origin: str, topics: list[str]) -> None:
        try:
            await self.hub.send_to_hubs(
                {"type": REPLY, "to": origin, "origin": self.hub.channel, "rooms": self.local(topics)}
            )
        except Exception as exc:  # the panel shows what the others said; it asks again next interval
            logger.debug("Could not answer a census request (%s)", exc)

    def collect(self, message: dict[str, Any]) -> None:
        origin, rooms = message.get("origin"), message.get("rooms")
        if (
            message.get("to") != self.hub.channel
            or not isinstance(origin, str)
            or not isinstance(rooms, dict)
        ):
            return
        interval = float(realtime_settings.ANNOUNCEMENT_STATS_INTERVAL)
        self.answers[origin] = (rooms, asyncio.get_running_loop().time() + EXPIRY_INTERVALS * interval)

    async def ask(self, topics: list[str]) -> None:
        await self.hub.send_to_hubs({"type": REQUEST, "origin": self.hub.channel, "topics": topics})

    def connected(self, topic: str) -> tuple[set[int], int]:
        """Distinct users and anonymous connections on `topic` in every process that answered lately."""
        now = asyncio.get_running_loop().time()
        users: set[int] = set()
        anonymous = 0
        for origin, (rooms, expires) in list(self.answers.items()):
            if expires <= now:
                del self.answers[origin]
                continue
            entry = rooms.get(topic) or {}
            users.update(u for u in entry.get("users", []) if isinstance(u, int))
            anonymous += int(entry.get("anonymous", 0) or 0)
        return users, anonymous
