"""What each topic request does: subscribe, unsubscribe, publish (the consumer decides when they run).

Each either answers on the connection's writer or raises the `ProtocolError` the consumer sends back.

Kept apart from `realtime.consumer`, which owns the connection's life (handshake, judging frames, the
pipeline, refusals, closing): these are the requests' meaning, and read only the hub and the topic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext as _

from . import protocol
from .conf import realtime_settings
from .exceptions import ProtocolError
from .hub import Replay
from .presence.tracker import Tracker
from .protocol import Request
from .topics import load_topic
from .transport import Frame

if TYPE_CHECKING:
    from .hub import Connection


async def subscribe(conn: Connection, request: Request) -> None:
    assert request.topic is not None
    held = conn.hub.subscriptions(conn)
    if request.topic not in held and len(held) >= int(realtime_settings.MAX_SUBSCRIPTIONS):
        raise ProtocolError(
            "too_many_subscriptions",
            _("A connection may hold %(max)s subscriptions.") % {"max": realtime_settings.MAX_SUBSCRIPTIONS},
        )
    topic = await load_topic(request.topic)
    await topic.authorize_subscribe(conn)

    def make_reply(replay: Replay | None, state: dict[str, Any]) -> str:
        return protocol.reply(
            "subscribed",
            request.ref,
            topic=topic.name,
            last_id=replay.last_id if replay else None,
            history=len(replay.texts) if replay else 0,
            truncated=replay.truncated if replay else False,
            state=state,
        )

    # Subscribing again to a topic replays from the new `since` (the hub replaces the old one).
    if await conn.hub.subscribe(conn, topic, request.since, make_reply) and topic.presence is not None:
        await conn.hub.service(Tracker).track(conn, topic)  # after `subscribed`: its presence_state


def unsubscribe(conn: Connection, request: Request) -> None:
    assert request.topic is not None
    if not conn.hub.unsubscribe(conn, request.topic):
        raise ProtocolError(
            "not_subscribed",
            _("This connection is not subscribed to %(topic)s.") % {"topic": repr(request.topic[:80])},
        )
    conn.writer.write(Frame(protocol.reply("unsubscribed", request.ref, topic=request.topic)))


async def publish(conn: Connection, request: Request) -> None:
    assert request.topic is not None and request.event is not None
    topic = conn.hub.topic_of(conn, request.topic)
    if topic is None:
        raise ProtocolError(
            "not_subscribed",
            _("Subscribe to %(topic)s before publishing on it.") % {"topic": repr(request.topic[:80])},
        )
    ack = await topic.publish(conn, request.event, request.data)
    conn.writer.write(Frame(protocol.reply("ack", request.ref, topic=topic.name, **ack)))


def presence(conn: Connection, request: Request) -> None:
    """Set this connection's status on a topic's roster (allow-listed and rate-limited per connection)."""
    assert request.topic is not None
    topic = conn.hub.topic_of(conn, request.topic)
    if topic is None:
        raise ProtocolError(
            "not_subscribed",
            _("Subscribe to %(topic)s before setting a presence status on it.")
            % {"topic": repr(request.topic[:80])},
        )
    conn.hub.service(Tracker).set_status(conn, topic, request.status)
    conn.writer.write(Frame(protocol.reply("ack", request.ref, topic=topic.name)))
