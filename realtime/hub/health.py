"""Watching the channel layer: an outage or a restart noticed within seconds, and recovered from.

A restarted Redis has forgotten every group membership, and redis-py reconnects by itself, so the hub
may see no error at all; and a hub in no group receives nothing that could tell it. So it does not wait
to be told: every `PROBE_INTERVAL` it asks the layer (channels-redis: each server's run id, which a
restart changes; other layers: re-joining the control group, which fails while they are down). A
failure anywhere (this probe, the reader's receive, a publish, a group_add), or a call that gets no
answer within `LAYER_TIMEOUT` (a Redis that stops answering without closing its sockets), marks the
layer down in the hub's `LayerLink` (`realtime.layerlink`), logged once; publishes and joins then fail
at once, and only this probe keeps trying the layer. When the layer answers again, or answers as a new server, the hub re-joins every group and
logs the recovery once; then, from the database, it delivers what the layer lost (one sync), closes
sockets whose access was revoked meanwhile (`upkeep.check_access`) and asks every room's topic again
whether each subscriber may stay (bans and kicks whose control messages were lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from ..layerlink import PROBE_INTERVAL, LayerUnavailable
from ..layers import is_in_memory, server_identity
from ..ops import metrics
from ..outage import Outage
from ..topics.names import CONTROL_GROUP, group_for_topic
from . import control, upkeep

if TYPE_CHECKING:
    from .hub import Hub
    from .room import Room

__all__ = ["PROBE_INTERVAL", "LayerHealth", "Outage", "rejoin"]

logger = logging.getLogger("realtime.hub")

# Each probe (and each re-join) is one layer call bounded by REALTIME["LAYER_TIMEOUT"] (realtime.layerlink):
# a layer that stops answering is noticed within PROBE_INTERVAL + LAYER_TIMEOUT (3 s by default).
# Group memberships expire in the layer (redis_layer(): 15 minutes) so that a process that died without
# leaving stops costing every group_send; live hubs renew theirs well before.
RENEW_INTERVAL = 300.0
JOINS_AT_ONCE = 50  # group_adds in flight while re-joining a process's rooms


class LayerHealth:
    """One per hub: probes the layer and brings the hub back into its groups after an outage.

    What is known of the layer lives in the hub's `LayerLink` (shared with publishes made without a
    hub); this is the part that probes, marks it up again, and re-joins.
    """

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.link = hub.link
        self.identity: tuple[str, ...] | None = None
        self.up = asyncio.Event()  # cleared while the layer is down; the reader waits on it
        if not self.link.down:
            self.up.set()
        try:
            self.loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self.loop = None
        self.stop_listening = self.link.listen(self._layer_changed)
        self.poke = asyncio.Event()  # probe now instead of at the next tick
        self.owed: list[str] = []  # database work still owed after an outage (retried every tick)
        self.catching: asyncio.Task | None = None
        self.last_renewal = 0.0

    @property
    def outage(self) -> Outage:
        return self.link.outage

    def failed(self, exc: BaseException, during: str) -> None:
        self.link.failed(exc, during)
        self.up.clear()

    def _layer_changed(self, up: bool) -> None:
        """The link went down or came back, perhaps in another thread (sync code's publish)."""
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if self.loop is None or here is self.loop:
            self._follow_link()
        elif not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._follow_link)

    def _follow_link(self) -> None:
        if self.link.down:
            self.up.clear()
        else:
            self.up.set()

    async def wait_up(self, timeout: float) -> None:
        """Return when the layer is back (or after `timeout` seconds, whichever comes first)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self.up.wait()

    async def run(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.last_renewal = self.loop.time()
        while True:
            await self.tick()  # at once the first time: a restart is only noticed against a known identity
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(PROBE_INTERVAL):
                    await self.poke.wait()
            self.poke.clear()

    async def tick(self) -> None:
        loop = asyncio.get_running_loop()
        link = self.link
        link.watch()
        metrics.sample(self.hub)  # the hub's levels for Prometheus, once a probe
        try:
            identity = await self._probe()
            restarted = None not in (identity, self.identity) and identity != self.identity
            self.identity = identity or self.identity
            recovering = link.down or restarted
            if recovering or loop.time() - self.last_renewal > RENEW_INTERVAL:
                groups = await rejoin(self.hub)
                self.last_renewal = loop.time()
                if recovering:
                    self._recovered(groups, restarted)
            else:
                await join_waiting(self.hub)
        except asyncio.CancelledError:
            raise
        except LayerUnavailable:
            return  # noted by the link: one warning for the whole outage
        except Exception as exc:
            self.failed(exc, "probe")
            return
        if self.owed and self.catching is None:
            # A task of its own: re-checking a busy process's subscribers may take a while, and the
            # probe must go on meanwhile.
            self.catching = self.hub.spawn(self._catch_up())
            self.catching.add_done_callback(lambda _: setattr(self, "catching", None))

    async def _probe(self) -> tuple[str, ...] | None:
        hub, layer = self.hub, self.hub.layer
        if is_in_memory(layer):
            return None
        # `server_identity` looked up at each call: tests stand in a new server's run id for it.
        identity = await self.link.call("probe", lambda: server_identity(layer), probe=True)
        if identity is None:
            await self.link.call("probe", lambda: layer.group_add(CONTROL_GROUP, hub.channel), probe=True)
        return identity

    def _recovered(self, groups: int, restarted: bool) -> None:
        detail = f"re-joined {groups} group(s); catching up from the database"
        if self.link.down:
            self.link.answered(detail + (" (the server restarted)" if restarted else ""))
        else:
            logger.warning(
                "Channel layer server restarted (its run id changed) and forgot this process's groups; %s",
                detail,
            )
        self.up.set()
        self.owed = ["sync", "access", "reauthorize"]

    async def _catch_up(self) -> None:
        """What the layer could not deliver during the outage, from the database, once it answers."""
        hub = self.hub
        while self.owed:
            job = self.owed[0]
            try:
                if job == "sync":
                    await upkeep.sync(hub)
                elif job == "access":
                    await upkeep.check_access(hub)
                elif not await reauthorize_all(hub):
                    return  # the database failed: logged; try again next tick
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                hub.database.failed(exc, "catching up after a channel-layer outage")
                return
            hub.database.answered()
            self.owed.pop(0)


async def rejoin(hub: Hub) -> int:
    """Add this process to the control group and every group it should be in; raises
    `LayerUnavailable` if the layer does not answer. The health probe's calls: they go through while
    the layer is down (that is how it finds it back), each bounded by `LAYER_TIMEOUT`."""
    await hub.link.call(
        "re-joining the control group", lambda: hub.layer.group_add(CONTROL_GROUP, hub.channel), probe=True
    )
    rooms = [room for room in list(hub.rooms.values()) if room.joined or _held(room)]
    for start in range(0, len(rooms), JOINS_AT_ONCE):
        await asyncio.gather(*(_rejoin_room(hub, room) for room in rooms[start : start + JOINS_AT_ONCE]))
    return 1 + len(rooms)


async def _rejoin_room(hub: Hub, room: Room) -> None:
    """Rooms that joined before the outage join again (a restarted Redis forgot them); rooms whose
    subscribers came while the layer was down (their group_add failed fast or timed out) join now."""
    group = group_for_topic(room.topic)
    async with room.lock:
        if room.joined:
            await hub.link.call(
                f"re-joining {room.topic}", lambda: hub.layer.group_add(group, hub.channel), probe=True
            )
            return
    if _held(room) and not await hub.join(room, probe=True):
        raise LayerUnavailable(f"could not join {room.topic}")


def _held(room: Room) -> bool:
    """A room someone is waiting on: a socket, or a feature's listener (`Hub.listen`, e.g. live data's
    renderer, which has no socket of its own yet must hear the layer once it is back)."""
    return bool(len(room) or room.listeners)


async def join_waiting(hub: Hub) -> None:
    """Join the groups of rooms that have subscribers but could not join when they arrived."""
    for room in [r for r in list(hub.rooms.values()) if not r.joined and _held(r)]:
        if not await hub.join(room):
            return


async def reauthorize_all(hub: Hub) -> bool:
    """Re-check every room's subscribers against their topic (a ban or kick sent during an outage)."""
    for room in [r for r in list(hub.rooms.values()) if len(r)]:
        if not await control.reauthorize(hub, room):
            return False
    return True
