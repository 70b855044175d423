"""One of two Redis shards killed (SIGKILL) while comments flow on two topics, one topic's group on each
shard, under two daphne processes (issue 24, item 4: what channels-redis' sharding gives and does not).

channels-redis puts a group on the shard its name hashes to, and each process's inbox on the shard its
channel name hashes to, so a group_send touches the group's shard and the shards of every member's
inbox. The case records, per topic, how many of the comments posted while the shard was down reached
every viewer live (within LIVE_LATENCY of the ack), and asserts what must hold whatever the sharding:
every comment stored reaches every viewer once and in order after the shard returns, and live delivery
is back within 10 s of its return. The figures are in docs/scaling.md. The hubs' database sync runs
once a minute here (FaultSite).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from channels_redis.utils import _consistent_hash

from tests.faultkit import FaultSite, Poster, RedisServer, Viewer, figures, posters, viewers
from tests.test_faults import Logs, check, first_delivery_after, settled, stop, until

DOWN_FOR = 6.0  # seconds the shard stays dead
LIVE_LATENCY = 1.0
POSTERS = [f"shard-poster-{n}" for n in range(4)]
CANDIDATES = [f"shard-stream-{n}" for n in range(12)]


@pytest.fixture(scope="module")
def shards() -> Iterator[SimpleNamespace]:
    from realtime.topics.names import group_for_topic

    servers = [RedisServer().start() for _ in range(2)]
    site = None
    try:
        site = FaultSite(servers[0].url)  # SQLite: this case is about the layer
        made = site.setup(POSTERS, CANDIDATES)
        topics = [f"stream.{pk}" for pk in made["streams"].values()]
        by_shard = {_consistent_hash(group_for_topic(t), 2): t for t in topics}
        assert len(by_shard) == 2, "no candidate stream's group hashed to one of the shards"
        site.env.update(
            DJANGO_SETTINGS_MODULE="tests.settings_shards",
            REALTIME_TEST_REDIS_SHARDS=" ".join(s.url for s in servers),
        )
        daphnes = [site.server(), site.server()]
        yield SimpleNamespace(
            redis=servers,
            site=site,
            servers=daphnes,
            urls=[d.ws_url for d in daphnes],
            sessions=made["sessions"],
            topics=[by_shard[0], by_shard[1]],
            direct_url=None,
        )
    finally:
        if site is not None:
            site.close()
        for server in servers:
            server.close()


def live_during(start: float, end: float, posted: list[Poster], clients: list[Viewer]) -> tuple[int, int]:
    """Of the comments acknowledged between `start` and `end`, how many reached every client live."""
    acked = [(at, i) for p in posted for i, at in p.acked_at.items() if start <= at < end]
    live = sum(
        max(c.tally.arrived.get(i, float("inf")) for c in clients) - at <= LIVE_LATENCY for at, i in acked
    )
    return live, len(acked)


async def test_one_shard_killed_under_two_processes(shards):
    f = shards
    logs = Logs(f.servers)
    rooms = []
    for index, topic in enumerate(f.topics):
        watching = viewers(f, topic, 2, prefix=f"v{index}-")
        posting = posters(f, topic, POSTERS[index * 2 : index * 2 + 2], count=8, period=2.2)
        rooms.append((topic, watching, posting))
    everyone = [c for _, w, p in rooms for c in w + p]
    await until(lambda: all(c.live.is_set() for c in everyone), 20, "everyone subscribed")
    await asyncio.sleep(3)
    killed = time.monotonic()
    await asyncio.to_thread(f.redis[1].kill)
    await asyncio.sleep(DOWN_FOR)
    await asyncio.to_thread(f.redis[1].start)
    back = time.monotonic()
    await until(lambda: all(p.done for _, _, posting in rooms for p in posting), 60, "every comment posted")
    results = []
    for shard, (topic, watching, posting) in enumerate(rooms):
        clients = watching + posting
        ids = await settled(f, topic, clients)
        live, during = live_during(killed, back, posting, clients)
        recovery = first_delivery_after(back, posting, clients)
        result = figures(
            f"shard 1 of 2 killed for {DOWN_FOR:.0f} s; this topic's group on shard {shard}",
            ids,
            clients,
            posted_while_down=during,
            live_while_down=live,
            recovery_s=round(recovery, 2),
        )
        results.append((result, clients, recovery))
    await stop(everyone)
    for result, clients, recovery in results:
        check(result, clients, recovery=recovery)
    logs.check_quiet()
