"""Prometheus metrics against two real daphne processes sharing PROMETHEUS_MULTIPROC_DIR, on a Redis of
the test's own: a scripted session (connections signed in, anonymous and by ticket, comments, refused
requests, a Redis restart, slow clients cut, a process stopped), after which every metric scraped from
either process holds exactly what happened; and the endpoint refuses anonymous scrapes.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect

from realtime.eventlog import StoredEvent
from realtime.layers import redis_layer
from realtime.topics.names import group_for_topic
from tests.faultkit import FaultSite, RedisServer, origin_headers
from tests.test_slow_clients import EVENT_BYTES, small_buffer_socket

TOKEN = "ops-metrics-token"
USERS = ["ops-ann", "ops-bob", "ops-tick", "ops-staff", "ops-plain"]
STREAM = "ops-metrics"
SLOW = "broadcast.all"
COMMENTS = 4  # two from each process's signed-in poster (under the 5 per 10 s comment limit)
STALLED = 2


@pytest.fixture(scope="module")
def ops() -> Iterator[SimpleNamespace]:
    redis = RedisServer().start()
    metrics_dir = tempfile.mkdtemp(prefix="realtime-prometheus-")
    site = None
    try:
        site = FaultSite(redis.url)
        made = site.setup(USERS, [STREAM])
        site.manage(
            "shell",
            "-c",
            "from django.contrib.auth import get_user_model as m; "
            "m().objects.filter(username='ops-staff').update(is_staff=True)",
        )
        ticket = site.ticket("ops-tick")
        site.env.update(PROMETHEUS_MULTIPROC_DIR=metrics_dir, REALTIME_METRICS_TOKEN=TOKEN)
        servers = [site.server(), site.server()]
        yield SimpleNamespace(
            redis=redis,
            site=site,
            servers=servers,
            sessions=made["sessions"],
            topic=f"stream.{made['streams'][STREAM]}",
            ticket=ticket,
            metrics_dir=metrics_dir,
        )
    finally:
        if site is not None:
            site.close()
        redis.close()
        shutil.rmtree(metrics_dir, ignore_errors=True)


# -- scraping -------------------------------------------------------------------------------------
def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(urllib.request.Request(url, headers=headers or {}), timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def scrape(server: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, body = get(server.url + "/realtime/ops/metrics/", {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200, body
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
        if sample.name.startswith("realtime_")
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def settled(server: Any, expected: dict[tuple[str, tuple], float], timeout: float = 10.0) -> dict:
    """Scrape until every expected value holds (levels are sampled once a second); the last scrape."""
    deadline = time.monotonic() + timeout
    while True:
        samples = await asyncio.to_thread(scrape, server)
        wrong = {
            key: (samples.get(key, 0.0), want)
            for key, want in expected.items()
            if samples.get(key, 0.0) != want
        }
        if not wrong or time.monotonic() > deadline:
            assert not wrong, f"(got, expected): {wrong}"
            return samples
        await asyncio.sleep(0.3)


def key(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return (name, tuple(sorted(labels.items())))


# -- clients --------------------------------------------------------------------------------------
class Counted:
    """A WebSocket client that counts what the rooms' fan-out sent it: frames (`event`, `batch`) and the
    events in them. Replies (subscribed, ack, error) are kept apart."""

    def __init__(self, url: str, **options: Any) -> None:
        self.url, self.options = url, options
        self.frames = self.events = 0
        self.replies: list[dict[str, Any]] = []
        self.task: asyncio.Task | None = None

    async def open(self, topic: str | None) -> Counted:
        self.socket = await connect(self.url, open_timeout=5, **self.options)
        self.hello = json.loads(await self.socket.recv())
        self.task = asyncio.get_running_loop().create_task(self._read())
        if topic:
            await self.send({"type": "subscribe", "topic": topic, "ref": "sub"})
            await self.reply("sub")
        return self

    async def send(self, message: dict[str, Any] | str) -> None:
        await self.socket.send(message if isinstance(message, str) else json.dumps(message))

    async def reply(self, ref: str | None, timeout: float = 10.0, **fields: Any) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.replies:
                if message.get("ref") == ref and all(message.get(k) == v for k, v in fields.items()):
                    return message
            await asyncio.sleep(0.02)
        raise AssertionError(f"no reply {ref!r} {fields}: {self.replies}")

    async def _read(self) -> None:
        async for text in self.socket:
            message = json.loads(text)
            if message["type"] == "event":
                self.frames, self.events = self.frames + 1, self.events + 1
            elif message["type"] == "batch":
                self.frames, self.events = self.frames + 1, self.events + len(message["messages"])
            else:
                self.replies.append(message)

    async def close(self) -> None:
        await self.socket.close()
        if self.task is not None:
            await asyncio.gather(self.task, return_exceptions=True)


async def quiet(clients: list[Counted], spell: float = 1.5) -> None:
    """Wait until no client has received anything for `spell` seconds (viewer counts settled)."""
    last = None
    while True:
        seen = [(c.frames, c.events) for c in clients]
        if seen == last:
            return
        last = seen
        await asyncio.sleep(spell)


async def arrived(clients: list[Counted], events: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while sum(c.events for c in clients) < events and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)


async def test_every_metric_holds_what_happened_across_two_processes(ops):
    a, b = ops.servers

    def tab(server: Any, name: str | None = None) -> dict[str, Any]:
        """Options for a browser tab of `server`'s site (signed in as `name`)."""
        return {"additional_headers": origin_headers(ops.sessions[name] if name else None)(server.url)}

    clients = [
        await Counted(a.ws_url, **tab(a, "ops-ann")).open(ops.topic),
        await Counted(b.ws_url, **tab(b, "ops-bob")).open(ops.topic),
        await Counted(f"{b.ws_url}?ticket={ops.ticket}").open(ops.topic),
        await Counted(a.ws_url, **tab(a)).open(ops.topic),
        await Counted(a.ws_url, **tab(a)).open(ops.topic),
        await Counted(b.ws_url, **tab(b)).open(ops.topic),
    ]
    ann, bob, tick, anon_a, _, anon_b = clients
    assert ann.hello["user"] and tick.hello["user"]["username"] == "ops-tick"
    assert anon_a.hello["user"] is None
    await quiet(clients)
    before = await asyncio.to_thread(scrape, a)
    frames_before = sum(c.frames for c in clients)
    events_before = sum(c.events for c in clients)

    # M comments: two posted on each process, each by its signed-in user.
    for n, poster in enumerate([ann, ann, bob, bob]):
        await poster.send(
            {
                "type": "publish",
                "topic": ops.topic,
                "event": "comment",
                "ref": f"c{n}",
                "data": {"text": f"comment {n}", "client_id": f"ops-{n}"},
            }
        )
        await poster.reply(f"c{n}", type="ack")
    await arrived(clients, events_before + COMMENTS * len(clients))
    await quiet(clients, spell=1.2)
    # Refused requests: one frame that is not JSON, one unknown topic (the connection stays open).
    await anon_a.send("not json")
    await anon_a.send({"type": "subscribe", "topic": "nosuch.1", "ref": "bad"})
    await anon_a.reply("bad", type="error")

    after = await settled(
        a,
        {
            key("realtime_connections", auth="user"): 2,
            key("realtime_connections", auth="ticket"): 1,
            key("realtime_connections", auth="anonymous"): 3,
            key("realtime_subscriptions", topic_kind="stream"): 6,
            key("realtime_rooms"): 2,
            key("realtime_events_stored_total", topic_kind="stream"): COMMENTS,
            key("realtime_events_published_total", topic_kind="stream", outcome="sent"): COMMENTS,
            key("realtime_errors_total", code="bad_json"): 1,
            key("realtime_errors_total", code="unknown_topic"): 1,
            key("realtime_publishes_in_flight"): 0,
            key("realtime_coalesce_window_seconds"): 0.02,
            key("realtime_outage_active", dependency="layer"): 0,
        },
    )
    received_frames = sum(c.frames for c in clients) - frames_before
    received_events = sum(c.events for c in clients) - events_before
    assert received_events >= COMMENTS * len(clients)
    # The fan-out's counts (one add per room flush) are what the sockets received, over both processes.
    assert value(after, "realtime_frames_written_total") - value(before, "realtime_frames_written_total") == (
        received_frames
    )
    assert (
        value(after, "realtime_events_delivered_total") - value(before, "realtime_events_delivered_total")
        == received_events
    )
    assert value(after, "realtime_fanout_lag_seconds_count") > value(
        before, "realtime_fanout_lag_seconds_count"
    )
    # Labels are kinds and codes: no topic name, user id or pid anywhere.
    assert not [k for k in after if any(ops.topic in v or v.isdigit() and len(v) > 4 for _, v in k[1])]

    # A Redis restart: each process has one layer outage, ended and timed.
    await asyncio.to_thread(ops.redis.restart, 3.0)
    samples = await settled(
        b,
        {
            key("realtime_outages_total", dependency="layer"): 2,
            key("realtime_outage_duration_seconds_count", dependency="layer"): 2,
            key("realtime_outage_active", dependency="layer"): 0,
        },
        timeout=20,
    )
    assert value(samples, "realtime_outage_duration_seconds_sum", dependency="layer") >= 2 * 2.0
    assert value(samples, "realtime_outages_total", dependency="database") == 0

    # K slow clients cut: they stop reading while big events stream to their topic on process A.
    from channels_redis.core import RedisChannelLayer

    layer = RedisChannelLayer(**redis_layer(ops.redis.url)["CONFIG"])
    stalled = []
    for _ in range(STALLED):
        client = Counted(a.ws_url, sock=small_buffer_socket(a.port), max_queue=1)
        client.socket = await connect(a.ws_url, open_timeout=5, sock=client.options["sock"], max_queue=1)
        await client.socket.recv()
        await client.socket.send(json.dumps({"type": "subscribe", "topic": SLOW, "ref": "s"}))
        await client.socket.recv()  # subscribed; from here on it reads nothing
        stalled.append(client)
    sent = 0
    deadline = time.monotonic() + 30
    while a.output().count("Closing a connection that stopped reading") < STALLED:
        assert time.monotonic() < deadline, a.output()[-2000:]
        event = StoredEvent(topic=SLOW, name="bulk", data={"n": sent, "pad": "x" * EVENT_BYTES})
        await layer.group_send(group_for_topic(SLOW), event.as_message())
        sent += 1
        await asyncio.sleep(0.01)
    await layer.close_pools()
    for client in stalled:
        client.socket.transport.abort()
    await settled(
        a,
        {
            key("realtime_slow_clients_cut_total"): STALLED,
            key("realtime_closes_total", code="4008"): STALLED,
            key("realtime_connections", auth="anonymous"): 3,
            key("realtime_subscriptions", topic_kind="broadcast"): 0,
            key("realtime_rooms"): 2,  # the broadcast room closed once its linger passed
        },
    )

    # A process stops (SIGTERM): its sockets get 1001, its levels leave the sum, its counters stay.
    await asyncio.to_thread(b.stop)
    samples = await settled(
        a,
        {
            key("realtime_closes_total", code="1001"): 3,
            key("realtime_connections", auth="user"): 1,
            key("realtime_connections", auth="ticket"): 0,
            key("realtime_connections", auth="anonymous"): 2,
            key("realtime_subscriptions", topic_kind="stream"): 3,
            key("realtime_rooms"): 1,
            key("realtime_events_stored_total", topic_kind="stream"): COMMENTS,
            key("realtime_outages_total", dependency="layer"): 2,
            key("realtime_errors_total", code="bad_json"): 1,
        },
    )
    for client in clients:
        await client.close()
    for server in (a, b):
        log = server.output()
        assert "Traceback" not in log, log[-3000:]
        # Each realtime line once (not again through daphne's root handler), with its level.
        [outage] = [line for line in log.splitlines() if "Channel layer unavailable" in line]
        assert " WARNING realtime.hub: " in outage
    closing = [
        line for line in a.output().splitlines() if "Closing a connection that stopped reading" in line
    ]
    assert len(closing) == STALLED and all(
        " WARNING realtime" in line or " INFO realtime" in line for line in closing
    )


def test_the_endpoint_refuses_anonymous_and_non_staff_scrapes(ops):
    a = ops.servers[0]
    url = a.url + "/realtime/ops/metrics/"
    status, body = get(url)
    assert status == 401 and json.loads(body)["error"] == "auth_required"
    assert get(url, {"Authorization": "Bearer wrong"})[0] == 403
    assert get(url, {"Cookie": f"sessionid={ops.sessions['ops-plain']}"})[0] == 403
    status, body = get(url, {"Cookie": f"sessionid={ops.sessions['ops-staff']}"})
    assert status == 200 and "realtime_connections" in body
    status, body = get(url, {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200 and "# TYPE realtime_frames_written_total counter" in body
