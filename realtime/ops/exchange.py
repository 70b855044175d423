"""Status over the channel layer: every process answers a status request, and knows its peers.

A request is a control message (`realtime.control`, action `status`) that every hub receives:

- with `reply_to` (a channel), each hub sends its snapshot there: `manage.py realtime_status`;
- with `publish`, each hub publishes its snapshot on the `ops.status` topic (an ephemeral event, not
  stored): the admin's status page, whose process sends such a request every `STATUS_INTERVAL` while
  the page is open. Nothing is sent while nobody looks.

A process that does not answer (frozen, overloaded, cut off from the layer) cannot say so itself: so
once asked, every hub announces itself to the others every `ANNOUNCE_INTERVAL` and lists, in its own
snapshot, the peers it heard from within `FORGET_AFTER`. Whoever collects compares answers with the
peers they name; a peer named but silent is shown as not answering. A process stopped for good
(a restart) is shown so until the others forget it, `FORGET_AFTER` later.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from ..conf import realtime_settings
from ..eventlog import StoredEvent
from ..layerlink import LayerUnavailable
from .status import status_of

if TYPE_CHECKING:
    from ..hub import Hub

logger = logging.getLogger("realtime.ops")

STATUS_TOPIC = "ops.status"
ANSWER_TYPE = "realtime.ops.status"  # a hub's answer to a `reply_to` request
ANNOUNCE_INTERVAL = 30.0
FORGET_AFTER = 120.0


def request(*, reply_to: str | None = None, publish: bool = False) -> dict[str, Any]:
    """The control message asking every hub for its status."""
    return {"type": "realtime.control", "action": "status", "reply_to": reply_to, "publish": publish}


class Peers:
    """One per hub, from its first status request on: announces this process, hears the others."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.heard_at: dict[str, tuple[str, float]] = {}  # hub channel -> (name, time.monotonic())
        self.published_at = 0.0
        self.since = time.monotonic()  # peers are known only once their first announcements arrived
        hub.spawn(self._announce_every_interval())

    def heard(self, peer_id: object, name: object) -> None:
        if isinstance(peer_id, str) and isinstance(name, str) and peer_id != self.hub.channel:
            self.heard_at[peer_id] = (name, time.monotonic())

    def known(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        for peer_id in [p for p, (_, at) in self.heard_at.items() if now - at > FORGET_AFTER]:
            del self.heard_at[peer_id]
        return [
            {"id": peer_id, "name": name, "heard": round(now - at, 1)}
            for peer_id, (name, at) in sorted(self.heard_at.items())
        ]

    async def _announce_every_interval(self) -> None:
        while True:
            message = {"type": "realtime.control", "action": "status_peer"}
            message.update(id=self.hub.channel, name=status_of(self.hub).name)
            await self.hub.send_to_hubs(message)  # False while the layer is down: the next one goes
            await asyncio.sleep(ANNOUNCE_INTERVAL)


def snapshot(hub: Hub) -> dict[str, Any]:
    """This process's status with the peers it knows of (plain values: it crosses the layer)."""
    data = status_of(hub).snapshot()
    peers = hub.service(Peers)
    data["peers"] = peers.known()
    data["peers_for"] = round(time.monotonic() - peers.since, 1)
    return data


def handle(hub: Hub, message: dict[str, Any]) -> None:
    """A status control message arrived (hub/control.py hands over actions `status` and `status_peer`)."""
    peers = hub.service(Peers)
    if message.get("action") == "status_peer":
        peers.heard(message.get("id"), message.get("name"))
        return
    reply_to = message.get("reply_to")
    if isinstance(reply_to, str) and reply_to:
        hub.spawn(_answer(hub, reply_to))
    if message.get("publish") is True:
        # Two pages open on two processes ask twice per interval: publish once.
        now = time.monotonic()
        if now - peers.published_at >= float(realtime_settings.STATUS_INTERVAL) / 2:
            peers.published_at = now
            hub.spawn(hub.publish(StoredEvent(STATUS_TOPIC, "snapshot", snapshot(hub))))


async def _answer(hub: Hub, channel: str) -> None:
    message = {"type": ANSWER_TYPE, "snapshot": snapshot(hub)}
    try:
        await hub.link.call("answering a status request", lambda: hub.layer.send(channel, message))
    except LayerUnavailable:
        pass  # noted by the link; the asker shows this process as not answering
    except Exception as exc:  # a reply channel the layer refuses (gone, full, malformed)
        logger.warning("Could not answer a status request on %r (%s)", channel, exc)
