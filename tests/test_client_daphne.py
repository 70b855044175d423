"""realtime.client against real daphne and a real Redis: a bot tails a topic and bots post to it while
daphne is restarted (SIGTERM, then started again on the same port) and Redis is killed and restarted.

What it proves: the client reconnects by itself, resubscribes with `since` (the server replays only
what was missed: the client never has to drop a duplicate), and ends with every stored comment exactly
once and in order; every post is stored exactly once (the same `client_id` is re-sent until answered);
`python -m realtime.client tail` prints the same events as JSON lines through both restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sqlite3
import sys
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from realtime.client import Client, HttpTickets, RealtimeError
from tests.conftest import ROOT
from tests.faultkit import FaultSite, RedisServer

WRITERS = [f"client-writer-{n}" for n in range(4)]
# Per writer: POSTS around the daphne restart, one sent to the frozen server, one while Redis is down
# (the stream allows 5 comments per 10 s per user).
POSTS = 3
ROUNDS = [*map(str, range(POSTS)), "frozen", "redis-down"]
READER = "client-reader"


@pytest.fixture(scope="module")
def bots() -> Iterator[SimpleNamespace]:
    redis = RedisServer().start()
    site = None
    try:
        site = FaultSite(redis.url)
        made = site.setup([READER, *WRITERS], ["client-live", "client-ticket"])
        server = site.server()
        yield SimpleNamespace(
            redis=redis,
            site=site,
            server=server,
            sessions=made["sessions"],
            topics={slug: f"stream.{pk}" for slug, pk in made["streams"].items()},
            ticket_url=f"{server.url}/realtime/ticket/",
        )
    finally:
        if site is not None:
            site.close()
        redis.close()


def client(bots: SimpleNamespace, user: str, **options) -> Client:
    tickets = HttpTickets(bots.ticket_url, session=bots.sessions[user])
    return Client(bots.server.ws_url, tickets=tickets, **options)


def stored_comments(bots: SimpleNamespace, topic: str) -> list[tuple[int, str]]:
    """(id, client_id) of every comment stored on `topic`, read from the database, in id order."""
    with contextlib.closing(sqlite3.connect(bots.site.env["SQLITE_PATH"], timeout=20)) as conn:
        rows = conn.execute(
            "SELECT seq, data FROM realtime_event WHERE topic = ? AND name = 'comment' ORDER BY seq", (topic,)
        )
        return [(seq, json.loads(data)["client_id"]) for seq, data in rows]


async def tail_lines(tail, count: int, within: float) -> list[str]:
    """The first `count` lines the tail prints, and its exit; fails with its stderr if it falls short."""
    lines: list[str] = []
    errors = asyncio.ensure_future(tail.stderr.read())
    try:
        async with asyncio.timeout(within):
            while len(lines) < count and (line := await tail.stdout.readline()):
                lines.append(line.decode())
            await tail.wait()
    except TimeoutError:
        tail.kill()
        await tail.wait()
        pytest.fail(
            f"the tail printed {len(lines)} of {count} events:\n{''.join(lines)}{(await errors).decode()}"
        )
    return lines


async def restart_daphne(bots: SimpleNamespace, while_frozen) -> None:
    """SIGTERM (the server closes every socket with 1001), then start again on the same port.

    First the process is frozen (SIGSTOP) and `while_frozen()` runs: posts sent then reach the server
    together with the SIGTERM, so some are read (maybe stored) but never answered: the client must
    send them again, with the same client_id, on the next connection."""
    process = bots.server.process
    process.send_signal(signal.SIGSTOP)
    try:
        await while_frozen()
        await asyncio.sleep(0.3)
        process.send_signal(signal.SIGTERM)
    finally:
        process.send_signal(signal.SIGCONT)
    await asyncio.to_thread(bots.server.stop)
    await asyncio.to_thread(bots.server.start)


async def test_bots_lose_and_double_nothing_through_a_daphne_restart_and_a_redis_restart(bots):
    topic = bots.topics["client-live"]
    total = len(ROUNDS) * len(WRITERS)
    tail = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "realtime.client",
        "tail",
        topic,
        "--url",
        bots.server.ws_url,
        "--ticket-url",
        bots.ticket_url,
        "--session",
        bots.sessions[READER],
        "--event",
        "comment",
        "--count",
        str(total),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    reader = client(bots, READER)
    writers = [client(bots, name) for name in WRITERS]
    clients = [reader, *writers]
    try:
        for c in clients:
            c.start()
        subscription = reader.subscribe(topic)
        await subscription.ready(timeout=15)
        for w in writers:
            w.subscribe(topic)  # a stream takes comments from its subscribers only

        async def post(writer: Client, name: str) -> list[int]:
            ids = []
            for n in range(POSTS):
                data = {"text": f"{name} says {n}", "client_id": f"{name}-{n}"}
                ack = await writer.publish(topic, "comment", data, timeout=0)
                ids.append(ack["id"])
                await asyncio.sleep(1.0)
            return ids

        posting = asyncio.gather(*(post(w, n) for w, n in zip(writers, WRITERS, strict=True)))
        await asyncio.sleep(1.5)
        extra = []

        async def burst() -> None:  # one more post per writer, sent to the frozen server
            for w, name in zip(writers, WRITERS, strict=True):
                data = {"text": f"{name} to a frozen server", "client_id": f"{name}-frozen"}
                extra.append(asyncio.ensure_future(w.publish(topic, "comment", data, timeout=0)))
            await asyncio.sleep(0.1)

        await restart_daphne(bots, burst)
        acked = [i for ids in await asyncio.wait_for(posting, 40) for i in ids]
        frozen_acks = await asyncio.gather(*extra)
        # Redis goes away: posts are still stored and acknowledged (`published: false`), and reach
        # the subscribers once the layer is back.
        bots.redis.kill()
        down_acks = await asyncio.gather(
            *(
                w.publish(topic, "comment", {"text": f"{name} posts", "client_id": f"{name}-redis-down"})
                for w, name in zip(writers, WRITERS, strict=True)
            )
        )
        await asyncio.to_thread(bots.redis.start)
        acked = sorted(acked + [ack["id"] for ack in [*frozen_acks, *down_acks]])

        received = []
        while len(received) < total:
            event = await subscription.next(timeout=15)
            if event.event == "comment":
                received.append(event.id)
        printed = await tail_lines(tail, total, within=15)
    finally:
        await asyncio.gather(*(c.close() for c in clients))
        if tail.returncode is None:
            tail.kill()
            await tail.wait()

    stored = stored_comments(bots, topic)
    figures = {
        "stored": len(stored),
        "reader_connections": reader.connections,
        "writer_connections": [w.connections for w in writers],
        "duplicates_dropped": subscription.duplicates,
        "posts_resent": [w.requeued for w in writers],
        # stored before the shutdown, answered only on the next connection, from the stored post
        "answered_as_duplicate": sum(bool(ack.get("duplicate")) for ack in frozen_acks),
        "unpublished_while_redis_down": sum(ack.get("published") is False for ack in down_acks),
    }
    print("\nCLIENT", json.dumps(figures))
    # Every post stored exactly once, and acknowledged with the id it was stored under.
    expected = [f"{n}-{i}" for n in WRITERS for i in ROUNDS]
    assert sorted(cid for _, cid in stored) == sorted(expected)
    assert acked == [seq for seq, _ in stored]
    # The bot saw each exactly once, in order, and the server never had to be corrected by the client.
    assert received == [seq for seq, _ in stored]
    assert subscription.duplicates == 0, "resubscribed without `since`: the server replayed old events"
    assert reader.connections >= 2 and all(w.connections >= 2 for w in writers), "daphne restart unnoticed"
    assert sum(w.requeued for w in writers) >= 1, "no post was caught unanswered by the restart"
    # The CLI printed the same events, one JSON line each.
    lines = [json.loads(line) for line in printed]
    assert [line["id"] for line in lines] == received
    assert {line["event"] for line in lines} == {"comment"}
    assert tail.returncode == 0


async def test_a_fixed_ticket_serves_one_connection_and_a_bad_one_stops_the_client(bots):
    """A refused ticket (auth_failed, close 4001) with no source of new ones stops the client for good:
    its subscription ends and publishing fails with `closed`, instead of reconnecting for ever."""
    offline = asyncio.Event()
    bad = Client(bots.server.ws_url, tickets="x" * 43, on_state=lambda s, r: s == "offline" and offline.set())
    async with bad:
        subscription = bad.subscribe(bots.topics["client-ticket"])
        await asyncio.wait_for(offline.wait(), 10)
        assert (bad.state, bad.reason) == ("offline", "auth_failed")
        with pytest.raises(StopAsyncIteration):
            await subscription.next(timeout=1)
        with pytest.raises(RealtimeError) as refused:
            await bad.publish(bots.topics["client-ticket"], "comment", {"text": "x", "client_id": "x"})
        assert refused.value.code == "closed"


async def test_the_tail_exits_1_with_the_code_when_the_topic_is_refused(bots):
    tail = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "realtime.client",
        "tail",
        "stream.999999",
        "--url",
        bots.server.ws_url,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(tail.communicate(), 30)
    assert (tail.returncode, out) == (1, b"")
    assert "not_found" in err.decode()
