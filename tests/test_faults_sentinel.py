"""Redis Sentinel: the primary killed (SIGKILL) while comments flow on two daphne processes, then the same
on the way back (issue 24, item 4).

One primary, one replica and three sentinels (tests/sentinelkit.py), the example site's `REDIS_URL` set
to `redis+sentinel://s1,s2,s3/<master>/0` (realtime.layers.redis_layer). The case kills the primary and
times the sentinels' `+switch-master`; then it starts the old primary again (empty, as a master: the
sentinels turn it into a replica of the new one) and kills the new primary, so that the old one is
promoted back, this time with the first sentinel of the URL frozen (SIGSTOP: it accepts connections and
never answers), which the processes must skip. Each time: every comment stored reaches every viewer once and in order (0 lost, 0
duplicated: the viewers count raw duplicates, before any de-duplication), every post is acknowledged,
nothing is refused, and live delivery is back within 10 s of the promotion. The hubs' database sync runs
once a minute here (FaultSite), so what arrives came through Redis or the one catch-up a hub runs when
the layer answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
import redis.asyncio

from tests.faultkit import (
    Viewer,
    figures,
    live_from,
    posters,
    two_processes,
    viewers,
)
from tests.sentinelkit import SentinelCluster
from tests.test_faults import Logs, check, first_delivery_after, settled, stop, until

RECOVERY_LIMIT = 10.0  # seconds from +switch-master to live delivery (first comment, then every comment)
LIVE_LATENCY = 1.0  # a comment is live when every client has it within this of its ack
FAILOVER_LIMIT = 20.0  # seconds from the kill to +switch-master (the sentinels' business; ~2 s measured)
POSTERS = [f"sentinel-poster-{n}" for n in range(6)]
STREAM = "sentinel-main"


@pytest.fixture(scope="module")
def sentinel() -> Iterator[SimpleNamespace]:
    cluster = SentinelCluster()
    try:
        cluster.start()
        with two_processes(cluster.url, POSTERS, [STREAM]) as f:
            yield SimpleNamespace(**vars(f), cluster=cluster, topic=f.topics[STREAM])
    finally:
        cluster.close()


class Switches:
    """The `+switch-master` announcements of one sentinel, with when each arrived (monotonic)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.seen: list[tuple[float, str]] = []
        self.ready = asyncio.Event()
        self.task = asyncio.get_running_loop().create_task(self._listen())

    async def _listen(self) -> None:
        client = redis.asyncio.Redis(host="127.0.0.1", port=self.port, decode_responses=True)
        async with client, client.pubsub() as pubsub:
            await pubsub.subscribe("+switch-master")
            self.ready.set()
            async for message in pubsub.listen():
                if message["type"] == "message":
                    self.seen.append((time.monotonic(), message["data"]))

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(BaseException):
            await self.task


async def fail_over(
    f: SimpleNamespace, switches: Switches, watching: list[Viewer], phase: str, *, freeze_first_sentinel: bool
) -> dict:
    """Comments flowing from posters on both processes; kill the primary (and, if asked, freeze the first
    sentinel of the URL: every process must then find the primary through the others within
    LAYER_TIMEOUT); wait for the promotion; every comment posted, then settled at every client. Returns
    the figures, asserted by the caller."""
    logs = Logs(f.servers)
    # A new client_id prefix per phase (not a retry); a post every 2.2 s is under the stream's 5 in 10 s.
    posting = posters(f, f.topic, POSTERS, count=8, period=2.2, suffix=f"-{phase}")
    # The second phase's posters subscribe afresh: the replay (HISTORY_LIMIT, 100) gives them the first
    # phase's 48 comments, so they too must hold every comment stored.
    clients = watching + posting
    await until(lambda: all(c.live.is_set() for c in clients), 20, "everyone subscribed")
    await asyncio.sleep(3)
    old = f.cluster.primary()
    before = len(switches.seen)
    if freeze_first_sentinel:
        f.cluster.sentinels[0].freeze()
    killed = time.monotonic()
    await asyncio.to_thread(old.kill)
    try:
        await until(lambda: len(switches.seen) > before, FAILOVER_LIMIT, "the sentinels' +switch-master")
        switched, announcement = switches.seen[before]
        await until(lambda: all(p.done for p in posting), 60, "every comment posted")
    finally:
        f.cluster.sentinels[0].freeze(False)
    ids = await settled(f, f.topic, clients)
    first = first_delivery_after(switched, posting, clients)
    result = figures(
        f"Sentinel failover ({phase})",
        ids,
        clients,
        first_sentinel_frozen=freeze_first_sentinel,
        killed=old.name,
        promoted=f.cluster.primary().name,
        kill_to_switch_s=round(switched - killed, 2),
        switch_to_first_live_s=round(first, 2),
        switch_to_all_live_s=round(live_from(switched, posting, clients, LIVE_LATENCY, "the promotion"), 2),
        refusals=sorted({code for p in posting for code in p.refusals}),
        switch_master=announcement,
    )
    await stop(posting)
    check(result, clients, recovery=first)
    acked = {event_id for p in posting for event_id in p.acks.values()}
    assert acked <= set(ids) and len(acked) == 8 * len(POSTERS), result
    assert result["refusals"] == [], result
    assert result["switch_to_all_live_s"] <= RECOVERY_LIMIT, result
    assert result["promoted"] != old.name, result
    logs.check_quiet()
    for server in f.servers:
        assert "Channel layer back after" in logs.since(server), logs.since(server)[-3000:]
    return result


async def test_primary_killed_then_the_old_primary_promoted_back(sentinel):
    f = sentinel
    switches = Switches(f.cluster.sentinels[1].port)
    watching = viewers(f, f.topic, 4)
    try:
        await asyncio.wait_for(switches.ready.wait(), 10)
        first = await fail_over(f, switches, watching, "there", freeze_first_sentinel=False)
        killed = next(node for node in f.cluster.data if node.name == first["killed"])
        # Back empty, as a master; the sentinels turn it into a replica of the new primary (they wait
        # for its INFO, every 10 s, and 8 s more before they reconfigure it), then it is promoted back.
        restarted = time.monotonic()
        await asyncio.to_thread(killed.start)
        await asyncio.to_thread(f.cluster.wait, f.cluster.settled, 45, "the old primary to rejoin")
        rejoined = round(time.monotonic() - restarted, 1)
        second = await fail_over(f, switches, watching, "back", freeze_first_sentinel=True)
        assert second["promoted"] == first["killed"], (first, second)
        print("\nSENTINEL", {"rejoined_as_replica_s": rejoined})
        ids = f.site.stored(f.topic, database_url=f.direct_url)
        assert len(ids) == 2 * 8 * len(POSTERS), "both phases' comments were stored"
        assert all(set(ids) <= set(v.tally.arrived) for v in watching), "the viewers have both phases"
    finally:
        await stop(watching)
        await switches.close()
