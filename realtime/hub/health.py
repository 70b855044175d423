"""Watching the channel layer: an outage or a restart noticed within seconds, and recovered from.

A restarted Redis has forgotten every group membership, and redis-py reconnects by itself, so the hub
may see no error at all; and a hub in no group receives nothing that could tell it. So it does not wait
to be told: every `PROBE_INTERVAL` it asks the layer (channels-redis: each server's run id, which a
restart changes; other layers: re-joining the control group, which fails while they are down). A
failure anywhere (this probe, the reader's receive, a publish, a group_add) marks the layer down,
logged once. When the layer answers again, or answers as a new server, the hub re-joins every group and
logs the recovery once; then, from the database, it delivers what the layer lost (one sync), closes
sockets whose access was revoked meanwhile (`upkeep.check_access`) and asks every room's topic again
whether each subscriber may stay (bans and kicks whose control messages were lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from ..layers import is_in_memory, server_identity
from ..topics.names import CONTROL_GROUP, group_for_topic
from . import control, upkeep

if TYPE_CHECKING:
    from .hub import Hub
    from .room import Room

logger = logging.getLogger("realtime.hub")

PROBE_INTERVAL = 1.0  # seconds between probes of the layer
PROBE_TIMEOUT = 5.0  # a probe (or re-join) slower than this counts as a failure
# Group memberships expire in the layer (redis_layer(): 15 minutes) so that a process that died without
# leaving stops costing every group_send; live hubs renew theirs well before.
RENEW_INTERVAL = 300.0
JOINS_AT_ONCE = 50  # group_adds in flight while re-joining a process's rooms


class Outage:
    """A dependency (the layer, the database) that is failing: logged when it starts and when it ends,
    not on every failed attempt in between."""

    def __init__(self, what: str, consequence: str) -> None:
        self.what = what
        self.consequence = consequence
        self.since: float | None = None  # loop time of the first failure
        self.failures = 0

    @property
    def down(self) -> bool:
        return self.since is not None

    def failed(self, exc: BaseException, during: str) -> bool:
        """Record a failure; True (and one warning) if it starts an outage."""
        self.failures += 1
        if self.since is not None:
            logger.debug("%s still unavailable (%s: %s)", self.what, during, exc)
            return False
        self.since = asyncio.get_running_loop().time()
        logger.warning(
            "%s unavailable (%s: %s); %s. Retrying quietly until it answers.",
            self.what,
            during,
            exc or type(exc).__name__,
            self.consequence,
        )
        return True

    def answered(self, detail: str = "") -> float | None:
        """The dependency worked: end the outage (logged once); its length in seconds, if there was one."""
        if self.since is None:
            return None
        length = asyncio.get_running_loop().time() - self.since
        logger.warning(
            "%s back after %.1f s (%d failed attempts)%s",
            self.what,
            length,
            self.failures,
            f"; {detail}" if detail else "",
        )
        self.since, self.failures = None, 0
        return length


class LayerHealth:
    """One per hub: probes the layer and brings the hub back into its groups after an outage."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.outage = Outage(
            "Channel layer", "live delivery is paused, stored events still arrive through the database sync"
        )
        self.identity: tuple[str, ...] | None = None
        self.up = asyncio.Event()  # cleared while the layer is down; the reader waits on it
        self.up.set()
        self.poke = asyncio.Event()  # probe now instead of at the next tick
        self.owed: list[str] = []  # database work still owed after an outage (retried every tick)
        self.catching: asyncio.Task | None = None
        self.last_renewal = 0.0

    def failed(self, exc: BaseException, during: str) -> None:
        if self.outage.failed(exc, during):
            self.up.clear()

    async def wait_up(self, timeout: float) -> None:
        """Return when the layer is back (or after `timeout` seconds, whichever comes first)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self.up.wait()

    async def run(self) -> None:
        self.last_renewal = asyncio.get_running_loop().time()
        while True:
            await self.tick()  # at once the first time: a restart is only noticed against a known identity
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(PROBE_INTERVAL):
                    await self.poke.wait()
            self.poke.clear()

    async def tick(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(PROBE_TIMEOUT):
                identity = await self._probe()
                restarted = None not in (identity, self.identity) and identity != self.identity
                self.identity = identity or self.identity
                if self.outage.down or restarted or loop.time() - self.last_renewal > RENEW_INTERVAL:
                    groups = await rejoin(self.hub)
                    self.last_renewal = loop.time()
                    if self.outage.down or restarted:
                        self._recovered(groups, restarted)
                else:
                    await join_waiting(self.hub)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.failed(exc, "probe")
            return
        if self.owed and self.catching is None:
            # A task of its own: re-checking a busy process's subscribers may take a while, and the
            # probe must go on meanwhile.
            self.catching = self.hub.spawn(self._catch_up())
            self.catching.add_done_callback(lambda _: setattr(self, "catching", None))

    async def _probe(self) -> tuple[str, ...] | None:
        layer = self.hub.layer
        if is_in_memory(layer):
            return None
        identity = await server_identity(layer)
        if identity is None:
            await layer.group_add(CONTROL_GROUP, self.hub.channel)
        return identity

    def _recovered(self, groups: int, restarted: bool) -> None:
        detail = f"re-joined {groups} group(s); catching up from the database"
        if self.outage.down:
            self.outage.answered(detail + (" (the server restarted)" if restarted else ""))
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
    """Add this process to the control group and every group it should be in; raises if the layer does."""
    await hub.layer.group_add(CONTROL_GROUP, hub.channel)
    rooms = [room for room in list(hub.rooms.values()) if room.joined or len(room)]
    for start in range(0, len(rooms), JOINS_AT_ONCE):
        await asyncio.gather(*(_rejoin_room(hub, room) for room in rooms[start : start + JOINS_AT_ONCE]))
    return 1 + len(rooms)


async def _rejoin_room(hub: Hub, room: Room) -> None:
    async with room.lock:
        if room.joined:
            await hub.layer.group_add(group_for_topic(room.topic), hub.channel)
            return
    if len(room) and not await hub.join(room):
        raise ConnectionError(f"could not join {room.topic}")


async def join_waiting(hub: Hub) -> None:
    """Join the groups of rooms that have subscribers but could not join when they arrived."""
    for room in [r for r in list(hub.rooms.values()) if not r.joined and len(r)]:
        if not await hub.join(room):
            return


async def reauthorize_all(hub: Hub) -> bool:
    """Re-check every room's subscribers against their topic (a ban or kick sent during an outage)."""
    for room in [r for r in list(hub.rooms.values()) if len(r)]:
        if not await control.reauthorize(hub, room):
            return False
    return True
