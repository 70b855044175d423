"""Control messages every hub acts on: close a user's sockets, kick a subscriber, re-check a topic.

They travel on the control group that every hub joins, so an admin action or a logout in one process
reaches sockets in all of them. A kick or a re-check names a subject (a topic, or `ACCOUNT`) and
reaches the subscriptions of every topic that follows it (`Topic.follows`) as well as the topic's own:
a ban from `stream.42` also ends `announcements.stream-42`. Everything is found in this process's
memory (the rooms filed under the subject by `realtime.hub.followers`, and the user's connections),
so it takes effect within the layer's delivery time and never visits an unrelated room.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.db import Error as DatabaseError
from django.utils import translation

from ..exceptions import ProtocolError
from .followers import Followers

if TYPE_CHECKING:
    from ..topics.base import Topic
    from .hub import Connection, Hub
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
        subject = message.get("topic", "")
        if not isinstance(user_id, int) or not isinstance(subject, str):
            return
        for conn, name in affected(hub, subject, user_id):
            hub.kick(conn, name, message.get("code", "forbidden"), message.get("message", ""))
    elif action == "reauthorize":
        subject = message.get("topic", "")
        if not isinstance(subject, str) or not (user_id is None or isinstance(user_id, int)):
            return
        if user_id is None:
            for room in rooms_following(hub, subject):
                hub.spawn(reauthorize(hub, room))
            return
        by_room: dict[str, list[Connection]] = {}
        for conn, name in affected(hub, subject, user_id):
            by_room.setdefault(name, []).append(conn)
        for name, conns in by_room.items():
            if (found := hub.rooms.get(name)) is not None:
                hub.spawn(reauthorize(hub, found, conns))
    elif action in ("status", "status_peer"):
        from ..ops import exchange  # the status page's feature; imported only when asked

        exchange.handle(hub, message)


def depends_on(topic: Topic, name: str, subject: str) -> bool:
    """Whether a subscription to `topic` (named `name`) is decided by `subject`: it is the topic itself,
    or one the topic declares it follows (`Topic.follows`)."""
    if name == subject:
        return True
    try:
        return subject in topic.follows()
    except Exception:  # a project's follows() with a bug must not stop the kicks of every other room
        logger.exception("%s.follows() failed", type(topic).__name__)
        return False


def affected(hub: Hub, subject: str, user_id: int) -> list[tuple[Connection, str]]:
    """(connection, topic name) of each local subscription of `user_id` that `subject` decides; those
    still loading included (their topic's `state` may re-check once in the room, as streams' does)."""
    names = hub.service(Followers).of(subject)
    found = []
    for conn, subs in list(hub.memberships.items()):
        if conn.user_id != user_id:
            continue
        for name in names & subs.keys():
            if depends_on(subs[name].topic, name, subject):
                found.append((conn, name))
    return found


def rooms_following(hub: Hub, subject: str) -> list[Room]:
    """The local rooms with subscribers whose access `subject` decides."""
    found = []
    for name in sorted(hub.service(Followers).of(subject)):
        room = hub.rooms.get(name)
        # Every subscriber of a room holds a topic of the same name and kind: one answers for all.
        sub = None if room is None else next(iter(room.subs.values()), None)
        if room is not None and sub is not None and depends_on(sub.topic, name, subject):
            found.append(room)
    return found


async def reauthorize(hub: Hub, room: Room, only: list[Connection] | None = None) -> bool:
    """Ask the topic again whether each subscriber (or each of `only`) may stay (a permission or a
    setting changed, or a ban whose kick was lost in a layer outage). False if the database failed (the
    caller may retry)."""
    topic: Topic | None = None
    for conn in room.connections() if only is None else only:
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
            logger.exception(
                "Could not re-check subscriptions to %s", room.topic, extra={"topic": room.topic}
            )
            return True  # a bug: retrying would only log it again
        sub.topic = topic
        if topic.presence is not None:  # may they still see the roster? (a moderator no longer one)
            from ..presence.tracker import Tracker

            await hub.service(Tracker).recheck(conn, topic)
    return True
