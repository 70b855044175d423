"""Control messages every hub acts on: close a user's sockets, kick a subscriber, re-check a topic.

They travel on the control group that every hub joins, so an admin action or a logout in one process
reaches sockets in all of them.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.db import Error as DatabaseError
from django.utils import translation

from ..exceptions import ProtocolError

if TYPE_CHECKING:
    from ..topics.base import Topic
    from .hub import Hub
    from .room import Room

logger = logging.getLogger("realtime.hub")


def handle(hub: Hub, message: dict[str, Any]) -> None:
    action = message.get("action")
    user_id = message.get("user_id")
    if action == "disconnect":
        session_key = message.get("session_key")
        for conn in list(hub.connections):
            if conn.user_id == user_id and (session_key is None or conn.session_key == session_key):
                conn.close_with(int(message.get("code", 4003)))
    elif action == "kick":
        room = hub.rooms.get(message.get("topic", ""))
        if room is not None:
            for conn in room.connections():
                if conn.user_id == user_id:
                    hub.kick(conn, room.topic, message.get("code", "forbidden"), message.get("message", ""))
    elif action == "reauthorize":
        room = hub.rooms.get(message.get("topic", ""))
        if room is not None and len(room):
            hub.spawn(reauthorize(hub, room))


async def reauthorize(hub: Hub, room: Room) -> bool:
    """Ask the topic again whether each subscriber may stay (a permission or a setting changed, or a
    ban whose kick was lost in a layer outage). False if the database failed (the caller may retry)."""
    topic: Topic | None = None
    for conn in room.connections():
        sub = room.subs.get(conn)
        if sub is None:
            continue
        try:
            topic = topic or await sub.topic.reload()
            # A refusal's message is for this viewer: in their language, not the hub task's.
            with translation.override(conn.scope.get("realtime.language")):
                await topic.authorize_subscribe(conn)
        except ProtocolError as exc:
            hub.kick(conn, room.topic, exc.code, exc.message)
            continue
        except DatabaseError as exc:  # an outage, not a bug: logged once by the hub
            hub.database.failed(exc, f"re-checking the subscribers of {room.topic}")
            return False
        except Exception:
            logger.exception("Could not re-check subscriptions to %s", room.topic)
            return True  # a bug: retrying would only log it again
        sub.topic = topic
    return True
