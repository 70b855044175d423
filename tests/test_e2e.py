"""End to end: real daphne processes serving the example project, real WebSocket clients, real Redis.

The embedded default (one daphne, SQLite, in-memory layer) and two daphne processes on channels-redis.
`broadcast()` is called from a separate Python process (`manage.py broadcast`), as an operator would.
"""

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus

from tests.conftest import ROOT
from tests.wsclient import WsClient

DEMO_STREAM = "stream.1"


def broadcast_from_another_process(site, topic, event, data):
    return subprocess.run(
        [sys.executable, "manage.py", "broadcast", topic, event, "--data", json.dumps(data)],
        cwd=ROOT,
        env=site.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout


def assert_clean_log(server):
    log = server.output()
    assert "Exception inside application" not in log
    assert "Traceback" not in log


def test_the_example_sites_sqlite_runs_in_wal_mode(site, daphne_server):
    """The embedded default's database: one fsync per commit and readers that never wait for the
    writer (project/settings.py), as durable as the rollback journal (synchronous stays FULL)."""
    import sqlite3

    with sqlite3.connect(Path(site.dir) / "db.sqlite3") as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL


async def test_broadcast_from_another_process_reaches_subscribers(site, daphne_server):
    """In-memory layer: the other process cannot reach daphne's memory; the hub's database watch (WATCH_INTERVAL) delivers."""
    async with WsClient(daphne_server.ws_url) as client:
        assert (await client.subscribe("broadcast.all"))["type"] == "subscribed"
        output = await asyncio.to_thread(
            broadcast_from_another_process,
            site,
            "broadcast.all",
            "broadcast",
            {"title": "Hi", "message": "from a shell"},
        )
        assert "Sent broadcast to broadcast.all" in output
        event = await client.receive_where(type="event", event="broadcast", timeout=5)
        assert event["data"] == {"title": "Hi", "message": "from a shell"}


async def test_ticket_user_posts_and_an_anonymous_viewer_sees_it(site, daphne_server):
    ticket = await asyncio.to_thread(site.ticket, "alice")
    async with (
        WsClient(f"{daphne_server.ws_url}?ticket={ticket}") as alice,
        WsClient(daphne_server.ws_url) as viewer,
    ):
        assert alice.hello["user"]["username"] == "alice" and viewer.hello["user"] is None
        await alice.subscribe(DEMO_STREAM)
        await viewer.subscribe(DEMO_STREAM)
        ack = await alice.request(
            {
                "type": "publish",
                "topic": DEMO_STREAM,
                "event": "comment",
                "data": {"text": "<b>hello</b>", "client_id": "e2e-1"},
            }
        )
        assert ack["type"] == "ack" and ack["data"]["text"] == "<b>hello</b>"
        seen = await viewer.receive_where(type="event", event="comment")
        assert seen["id"] == ack["id"] and seen["data"]["author"]["username"] == "alice"
        # A reconnecting viewer resumes from what it saw: nothing replayed twice.
    async with WsClient(daphne_server.ws_url) as again:
        reply = await again.subscribe(DEMO_STREAM, since=ack["id"])
        assert reply["history"] == 0 and reply["last_id"] >= ack["id"]


async def test_bad_frames_get_errors_over_a_real_socket(daphne_server):
    async with WsClient(daphne_server.ws_url) as client:
        for frame, code in [
            ("{nope", "bad_json"),
            ('{"type":"explode"}', "unknown_type"),
            ('{"type":"subscribe","topic":"nope.1"}', "unknown_topic"),
            ("x" * 20000, "frame_too_large"),
        ]:
            await client.send(frame)
            assert (await client.receive())["code"] == code
        await client.socket.send(b"\x00binary")
        assert (await client.receive())["code"] == "bad_message"
        assert (await client.request({"type": "ping"}))["type"] == "pong"
    assert_clean_log(daphne_server)


async def test_expired_or_forged_ticket_closes_with_4001(daphne_server):
    async with WsClient(f"{daphne_server.ws_url}?ticket=forged") as client:
        assert client.hello["code"] == "auth_failed"
        await client.socket.wait_closed()
        assert client.socket.close_code == 4001


async def test_foreign_origin_is_refused_at_the_handshake(daphne_server):
    with pytest.raises(InvalidStatus) as info:
        async with WsClient(daphne_server.ws_url, origin="http://evil.example"):
            pass
    assert info.value.response.status_code == 403


async def test_own_origin_is_accepted(daphne_server):
    async with WsClient(daphne_server.ws_url, origin=f"http://127.0.0.1:{daphne_server.port}") as client:
        assert client.hello["type"] == "hello"


# -- two daphne processes on Redis --------------------------------------------------------------
@pytest.fixture(scope="module")
def redis_servers(redis_site):
    return redis_site.server(), redis_site.server()


async def test_redis_broadcast_from_another_process_reaches_both_daphnes(redis_site, redis_servers):
    one, two = redis_servers
    async with WsClient(one.ws_url) as a, WsClient(two.ws_url) as b:
        await a.subscribe("broadcast.all")
        await b.subscribe("broadcast.all")
        await asyncio.to_thread(
            broadcast_from_another_process, redis_site, "broadcast.all", "broadcast", {"message": "everyone"}
        )
        got = [await c.receive_where(type="event", event="broadcast") for c in (a, b)]
        assert [m["data"] for m in got] == [{"message": "everyone"}] * 2 and got[0]["id"] == got[1]["id"]
        # Within receive_where's 5 s, while redis_site's hubs read the database once a minute: through Redis.


async def test_redis_comment_on_one_process_reaches_viewers_on_the_other(redis_site, redis_servers):
    one, two = redis_servers
    ticket = await asyncio.to_thread(redis_site.ticket, "bob")
    async with WsClient(f"{one.ws_url}?ticket={ticket}") as bob, WsClient(two.ws_url) as viewer:
        await bob.subscribe(DEMO_STREAM)
        await viewer.subscribe(DEMO_STREAM)
        ack = await bob.request(
            {
                "type": "publish",
                "topic": DEMO_STREAM,
                "event": "comment",
                "data": {"text": "across processes", "client_id": "redis-1"},
            }
        )
        assert ack["type"] == "ack" and ack["published"] is True
        seen = await viewer.receive_where(type="event", event="comment")
        assert seen["id"] == ack["id"] and seen["data"]["text"] == "across processes"
        # Both sockets count, though each process holds one: the sum crosses processes.
        count = await viewer.receive_where(type="event", event="viewers", data={"count": 2}, timeout=6)
        assert count["data"] == {"count": 2}
    for server in redis_servers:
        assert_clean_log(server)


async def test_frames_of_every_length_class_arrive_intact(site, daphne_server):
    """The hub writes pre-built RFC 6455 frames straight to daphne's transports: a real client must
    parse short (<126), medium (16-bit length) and long (64-bit length) frames."""
    async with WsClient(daphne_server.ws_url) as client:
        await client.subscribe("broadcast.all")
        for size in (10, 300, 70_000):
            await asyncio.to_thread(
                broadcast_from_another_process, site, "broadcast.all", "size", {"pad": "é" + "a" * size}
            )
            event = await client.receive_where(type="event", event="size", timeout=5)
            assert event["data"]["pad"] == "é" + "a" * size


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


async def test_a_stalled_client_is_cut_off_while_others_get_everything(site, daphne_server):
    """A client that stops reading is closed with 4008 once its backlog stays over 1 MiB; daphne's memory
    stays bounded and a reading client receives every event."""
    from websockets.exceptions import ConnectionClosed

    # 18 MB over ~6 s: more than loopback socket buffers (~10 MB) plus the bound, paced so a reading
    # client keeps up.
    count, size = 300, 60_000
    async with (
        WsClient(daphne_server.ws_url) as reader,
        WsClient(daphne_server.ws_url, max_queue=1) as stalled,
    ):
        await reader.subscribe("broadcast.all")
        await stalled.subscribe("broadcast.all")
        rss_before = rss_mb(daphne_server.process.pid)
        script = (
            f"import time\nfrom realtime import broadcast\n"
            f"for n in range({count}):\n"
            f"    broadcast('broadcast.all', 'flood', {{'n': n, 'pad': 'x' * {size}}})\n"
            f"    time.sleep(0.02)"
        )

        async def read_all():  # the reader keeps reading while the flood is sent
            return [
                (await reader.receive_where(type="event", event="flood", timeout=30))["data"]["n"]
                for _ in range(count)
            ]

        reading = asyncio.create_task(read_all())
        await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "manage.py", "shell", "-c", script],
            cwd=ROOT,
            env=site.env,
            check=True,
            timeout=120,
        )
        assert await reading == list(range(count))
        assert rss_mb(daphne_server.process.pid) - rss_before < 150
        # Now drain the stalled client: whatever was buffered, then the end. The 4008 close frame sits
        # behind the backlog, so when autobahn's close handshake times out and drops the TCP
        # connection the client sees 1006; both mean "reconnect and resume".
        with pytest.raises(ConnectionClosed):
            while True:
                await asyncio.wait_for(stalled.socket.recv(), 10)
        assert stalled.socket.close_code in (4008, 1006)
        assert "Closing a connection that stopped reading" in daphne_server.output()
