"""A Redis that stops answering without closing its sockets (a network partition, a frozen host), stood in
for by SIGSTOP of this module's own redis-server for 10 s while comments flow on two daphne processes, with
posters and viewers on both (issue 18, item 3).

What must hold: every comment stored is acknowledged within 2 s of being sent (storing never waits for the
layer); none is lost, doubled or reordered at the viewers; a subscribe to a new room and a new connection
made during the freeze are answered within LAYER_TIMEOUT and a margin; a daphne process started during the
freeze greets its first connection; and live delivery is back within 5 s of SIGCONT, in the rooms that
were made during the freeze too. The hubs' database sync runs once a minute here (FaultSite), so it
carries none of this: what arrives after the thaw came through Redis, or through the one catch-up a hub
runs when the layer answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from realtime.conf import DEFAULTS
from tests.faultkit import (
    Poster,
    RedisServer,
    Viewer,
    figures,
    live_from,
    origin_headers,
    posters,
    two_processes,
    viewers,
)
from tests.test_faults import Logs, check, settled, stop, until

FREEZE = 10.0  # seconds Redis is stopped for
ACK_LIMIT = 2.0  # seconds from sending a comment to its ack, freeze or not
LIVE_LIMIT = 5.0  # seconds from SIGCONT until comments reach every viewer live again
LIVE_LATENCY = 1.0  # a comment is live when every viewer has it within this of its ack
MARGIN = 1.5  # what a subscribe or hello may take beyond LAYER_TIMEOUT (a loaded 2-core machine)
POSTERS = [f"frozen-poster-{n}" for n in range(8)]
# One stream carries the flow; each of the others gets its first subscriber during the freeze.
STREAMS = [
    "frozen-main",
    "frozen-early-0",
    "frozen-early-1",
    "frozen-fresh",
    "frozen-late-0",
    "frozen-late-1",
]


@pytest.fixture(scope="module")
def frozen() -> Iterator[SimpleNamespace]:
    redis = RedisServer().start()
    try:
        with two_processes(redis.url, POSTERS, STREAMS) as f:
            try:
                yield SimpleNamespace(**vars(f), redis=redis)
            finally:
                thaw(redis)  # before the processes are closed, as it always was
    finally:
        redis.close()


def freeze(redis: RedisServer) -> float:
    redis.process.send_signal(signal.SIGSTOP)
    return time.monotonic()


def thaw(redis: RedisServer) -> float:
    if redis.process is not None and redis.process.poll() is None:
        redis.process.send_signal(signal.SIGCONT)
    return time.monotonic()


async def messages(socket: Any, within: float) -> Any:
    """The server's messages, batches unpacked; stops after `within` seconds."""
    async with asyncio.timeout(within):
        async for raw in socket:
            frame = json.loads(raw)
            for message in frame["messages"] if frame.get("type") == "batch" else [frame]:
                yield message


async def greeted_and_subscribed(url: str, topic: str) -> dict[str, Any]:
    """Open a connection (anonymous viewer), time its `hello`, then time a subscribe to `topic`."""
    from websockets.asyncio.client import connect

    opened = time.monotonic()
    result: dict[str, Any] = {"topic": topic}
    async with connect(
        url, open_timeout=20, proxy=None, ping_interval=None, additional_headers=origin_headers(None)(url)
    ) as socket:
        async for message in messages(socket, 20):
            if message.get("type") == "hello":
                result["hello_s"] = round(time.monotonic() - opened, 2)
                sent = time.monotonic()
                await socket.send(json.dumps({"type": "subscribe", "topic": topic, "ref": "s"}))
            elif message.get("ref") == "s":
                result["subscribe_s"] = round(time.monotonic() - sent, 2)
                result["answer"] = message.get("type")
                return result
    return result


def live_again(thawed: float, posted: list[Poster], clients: list[Viewer]) -> float:
    """Seconds from the thaw to the ack of the first comment from which on every comment acknowledged
    reached every client within LIVE_LATENCY of its ack."""
    live = live_from(thawed, posted, clients, LIVE_LATENCY, "the thaw")
    assert live < float("inf"), "no comment after the thaw was delivered live"
    return live


async def test_redis_frozen_for_ten_seconds_under_two_processes(frozen):
    f, topic = frozen, frozen.topics["frozen-main"]
    bound = float(DEFAULTS["LAYER_TIMEOUT"])
    logs = Logs(f.servers)
    watching = viewers(f, topic, 4)
    posting = posters(f, topic, POSTERS, count=10, period=2.2)  # under the stream's 5 posts in 10 s per user
    clients = watching + posting
    await until(lambda: all(c.live.is_set() for c in clients), 20, "everyone subscribed")
    await asyncio.sleep(2.5)

    frozen_at = await asyncio.to_thread(freeze, f.redis)
    fresh_server = None
    try:
        # At once (the processes do not know yet: each subscribe's group_add waits out the bound) and
        # once they know (it fails at once); a process started meanwhile greets its first connection.
        early = asyncio.gather(
            *(greeted_and_subscribed(url, f.topics[f"frozen-early-{n}"]) for n, url in enumerate(f.urls))
        )
        fresh_server = await asyncio.to_thread(f.site.server)
        fresh = await greeted_and_subscribed(fresh_server.ws_url, f.topics["frozen-fresh"])
        early_results = await early
        await asyncio.sleep(max(0.0, frozen_at + 5 - time.monotonic()))
        late_results = await asyncio.gather(
            *(greeted_and_subscribed(url, f.topics[f"frozen-late-{n}"]) for n, url in enumerate(f.urls))
        )
        # A viewer whose room is made during the freeze, on each process: live once the layer is back.
        newcomers = [
            Viewer([url], f.topics[f"frozen-late-{n}"], name=f"late{n}", headers=origin_headers(None)).start()
            for n, url in enumerate(f.urls)
        ]
        await until(lambda: all(v.live.is_set() for v in newcomers), bound + MARGIN, "newcomers subscribed")
        await asyncio.sleep(max(0.0, frozen_at + FREEZE - time.monotonic()))
    finally:
        thawed = await asyncio.to_thread(thaw, f.redis)

    # Comments on the rooms made during the freeze, from the other process, a few seconds after the thaw.
    await asyncio.sleep(3)
    crossing = [
        Poster(
            [f.urls[1 - n]],
            f.topics[f"frozen-late-{n}"],
            name=POSTERS[n],
            headers=origin_headers(f.sessions[POSTERS[n]]),
            count=2,
            period=0.5,
        ).start()
        for n in range(2)
    ]
    await until(lambda: all(p.done for p in posting + crossing), 60, "every comment posted")
    ids = await settled(f, topic, clients)
    live = live_again(thawed, posting, watching + posting)
    crossing_latency = max(
        newcomers[n].tally.arrived.get(event_id, float("inf")) - at
        for n, poster in enumerate(crossing)
        for event_id, at in poster.acked_at.items()
    )
    ack_waits = sorted(wait for p in posting for wait in p.ack_wait.values())
    result = figures(
        "Redis frozen (SIGSTOP) for 10 s",
        ids,
        clients,
        layer_timeout=bound,
        ack_max_s=round(ack_waits[-1], 2),
        ack_p50_s=round(ack_waits[len(ack_waits) // 2], 2),
        refusals=sorted({code for p in posting for code in p.refusals}),
        early=early_results,
        late=late_results,
        fresh_process=fresh,
        live_again_s=round(live, 2),
        new_room_live_s=round(crossing_latency, 2),
    )
    await stop(clients + newcomers + crossing)
    await asyncio.to_thread(fresh_server.stop)
    check(result, clients)
    acked = {event_id for p in posting for event_id in p.acks.values()}
    assert acked == set(ids), "every comment stored was acknowledged, and only those"
    assert result["refusals"] == [], result
    assert ack_waits[-1] <= ACK_LIMIT, result
    for probe in [*early_results, *late_results, fresh]:
        assert probe.get("answer") == "subscribed", result
        assert probe["hello_s"] <= bound + MARGIN and probe["subscribe_s"] <= bound + MARGIN, result
    assert live <= LIVE_LIMIT, result
    assert crossing_latency <= LIVE_LATENCY, result
    logs.check_quiet()
    for server in f.servers:
        assert "Channel layer back after" in logs.since(server)


@pytest.fixture(autouse=True)
def _never_leave_redis_stopped(frozen):
    yield
    with contextlib.suppress(Exception):
        thaw(frozen.redis)
