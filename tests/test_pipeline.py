"""Pipelined publishes (`realtime.pipeline`): one connection may have many publishes in flight; they are
judged and stored in arrival order (the group commit), each answered once by `ref`, seen in that order
by every viewer; a ping never waits behind them; the bound is a stable error; subscribes stay ordered."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import Counter

import pytest

from realtime.streams import posting
from realtime.streams.models import Comment
from realtime.testing import RealtimeClient, events, override_realtime
from tests.conftest import Site
from tests.streamkit import comment
from tests.wsclient import WsClient

uses_db = pytest.mark.django_db(transaction=True)
DEMO_STREAM = "stream.1"


def publish(topic: str, ref: str, text: str) -> dict:
    return {"type": "publish", "topic": topic, "event": "comment", "ref": ref, "data": comment(text)}


@pytest.fixture
def batches(monkeypatch):
    """The size of every batch the group commit stores."""
    sizes: list[int] = []
    original = posting.store_comments

    def recording(stream_id, posts):
        sizes.append(len(posts))
        return original(stream_id, posts)

    monkeypatch.setattr(posting, "store_comments", recording)
    return sizes


@pytest.fixture
def slow_store(monkeypatch):
    """Stores wait (in their worker thread) until the test sets the returned event."""
    gate = threading.Event()
    original = posting.store_comments

    def waiting(stream_id, posts):
        gate.wait(5)
        return original(stream_id, posts)

    monkeypatch.setattr(posting, "store_comments", waiting)
    yield gate
    gate.set()


async def answers(client: RealtimeClient, refs: set[str], timeout: float = 10.0) -> list[dict]:
    """Every reply carrying one of `refs` (and nothing else), until each has been answered."""
    got: list[dict] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while {m["ref"] for m in got} != refs:
        message = await client.receive(timeout=max(deadline - loop.time(), 0.01))
        if message.get("ref") in refs:
            got.append(message)
    return got


@uses_db
async def test_many_publishes_in_flight_are_stored_together_in_order_for_every_viewer(alice, stream, batches):
    with override_realtime(RATE_LIMIT_COUNT=None, REQUEST_BURST=200, MAX_PUBLISHES_IN_FLIGHT=100):
        async with RealtimeClient(user=alice) as poster, RealtimeClient() as one, RealtimeClient() as two:
            for client in (poster, one, two):
                await client.subscribe(stream.topic)
            texts = [f"comment {n}" for n in range(80)]
            for n, text in enumerate(texts):  # sent back to back, no waiting for acks
                await poster.send(publish(stream.topic, f"r{n}", text))
            replies = await answers(poster, {f"r{n}" for n in range(80)})
            assert Counter(m["ref"] for m in replies) == Counter(f"r{n}" for n in range(80))  # once each
            assert {m["type"] for m in replies} == {"ack"}
            by_ref = {m["ref"]: m["id"] for m in replies}
            assert [by_ref[f"r{n}"] for n in range(80)] == sorted(by_ref.values())  # stored in order
            for viewer in (one, two):
                seen = events(await viewer.collect(quiet=0.3), "comment")
                assert [m["data"]["text"] for m in seen] == texts
            # In flight together: the group commit stored them in fewer transactions than comments.
            assert len(batches) < 80 and max(batches) > 1


@uses_db
async def test_a_ping_is_answered_while_a_publish_is_being_stored(alice, stream, slow_store):
    async with RealtimeClient(user=alice) as poster:
        await poster.subscribe(stream.topic)
        await poster.send(publish(stream.topic, "slow", "hello"))
        started = time.monotonic()
        await poster.send({"type": "ping", "ref": "p"})
        pong = await poster.receive_type("pong", timeout=1)
        assert pong["ref"] == "p" and time.monotonic() - started < 0.5
        slow_store.set()
        ack = await poster.receive_type("ack")
        assert ack["ref"] == "slow"


@uses_db
async def test_publishes_over_the_bound_are_refused_with_a_stable_code(alice, stream, slow_store):
    with override_realtime(MAX_PUBLISHES_IN_FLIGHT=3, RATE_LIMIT_COUNT=None):
        async with RealtimeClient(user=alice) as poster:
            await poster.subscribe(stream.topic)
            for n in range(5):
                await poster.send(publish(stream.topic, f"r{n}", f"c{n}"))
            refusals = await answers(poster, {"r3", "r4"}, timeout=2)  # at once, while 3 are stored
            assert {m["code"] for m in refusals} == {"too_many_in_flight"}
            assert all(m["type"] == "error" and m["retry_after"] > 0 for m in refusals)
            slow_store.set()
            acks = await answers(poster, {"r0", "r1", "r2"})
            assert [m["type"] for m in acks] == ["ack"] * 3
            # each ref answered exactly once (the comments' events follow their acks)
            assert await poster.nothing_more(ignore=("viewers", "comment"))
            again = await poster.publish(stream.topic, "comment", comment("after"))  # room again
            assert again["type"] == "ack"


@contextlib.contextmanager
def opened(*gates: threading.Event):
    """Open the gates on the way out, so a failing test leaves no store thread waiting."""
    try:
        yield
    finally:
        for gate in gates:
            gate.set()


@uses_db
async def test_after_too_many_in_flight_nothing_overtakes_the_refused_publish(alice, stream, monkeypatch):
    """r3 is refused (3 in flight); r0 is answered, so a slot is free, but r4 must be refused too: if
    stored, it would come before r3's retry. Once everything is answered, r3 and r4 go again, in order."""
    gates = [threading.Event(), threading.Event()]
    original = posting.store_comments

    def gated(stream_id, posts):
        if gates:
            gates.pop(0).wait(5)
        return original(stream_id, posts)

    monkeypatch.setattr(posting, "store_comments", gated)
    first, second = gates
    with override_realtime(MAX_PUBLISHES_IN_FLIGHT=3, RATE_LIMIT_COUNT=None), opened(first, second):
        async with RealtimeClient(user=alice) as poster:
            await poster.subscribe(stream.topic)
            await poster.send(publish(stream.topic, "r0", "c0"))
            await asyncio.sleep(0.05)  # r0's store starts alone; r1 and r2 wait for the next one
            for n in (1, 2, 3):
                await poster.send(publish(stream.topic, f"r{n}", f"c{n}"))
            [refusal] = await answers(poster, {"r3"}, timeout=2)
            assert refusal["code"] == "too_many_in_flight"
            first.set()
            [ack] = await answers(poster, {"r0"})
            assert ack["type"] == "ack"
            await poster.send(publish(stream.topic, "r4", "c4"))
            [refusal] = await answers(poster, {"r4"}, timeout=2)
            assert refusal["code"] == "too_many_in_flight"
            second.set()
            assert [m["type"] for m in await answers(poster, {"r1", "r2"})] == ["ack", "ack"]
            for n in (3, 4):  # the client's retries, in order
                await poster.send(publish(stream.topic, f"r{n}", f"c{n}"))
            assert [m["type"] for m in await answers(poster, {"r3", "r4"})] == ["ack", "ack"]
    texts = await asyncio.to_thread(
        lambda: list(Comment.objects.filter(stream=stream).order_by("seq").values_list("text", flat=True))
    )
    assert texts == [f"c{n}" for n in range(5)]


@uses_db
async def test_a_publish_sent_right_after_its_subscribe_sees_the_subscription(alice, stream):
    with override_realtime(RATE_LIMIT_COUNT=None):
        async with RealtimeClient(user=alice) as poster:
            await poster.send({"type": "subscribe", "topic": "broadcast.all", "ref": "s0"})
            await poster.send({"type": "subscribe", "topic": stream.topic, "ref": "s1"})
            await poster.send(publish(stream.topic, "p1", "first"))
            await poster.send({"type": "unsubscribe", "topic": stream.topic, "ref": "u1"})
            await poster.send(publish(stream.topic, "p2", "after unsubscribing"))
            replies = await answers(poster, {"s0", "s1", "p1", "u1", "p2"})
            kinds = {m["ref"]: m.get("code", m["type"]) for m in replies}
            assert kinds == {
                "s0": "subscribed",
                "s1": "subscribed",
                "p1": "ack",
                "u1": "unsubscribed",
                "p2": "not_subscribed",
            }


# -- against a real daphne ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def producer_site():
    """The example site on daphne, with the comment rate limit lifted (tests/settings_producer.py)."""
    site = Site()
    site.env["DJANGO_SETTINGS_MODULE"] = "tests.settings_producer"
    try:
        yield site, site.server()
    finally:
        site.close()


async def test_real_daphne_one_producer_many_in_flight_every_viewer_in_order(producer_site):
    site, server = producer_site
    ticket = await asyncio.to_thread(site.ticket, "alice")
    viewers = [WsClient(server.ws_url) for _ in range(3)]
    async with WsClient(f"{server.ws_url}?ticket={ticket}") as poster:
        for viewer in viewers:
            await viewer.__aenter__()
            assert (await viewer.subscribe(DEMO_STREAM))["type"] == "subscribed"
        assert (await poster.subscribe(DEMO_STREAM))["type"] == "subscribed"
        texts = [f"pipelined {n}" for n in range(150)]
        replies: list[dict] = []
        sent = 0
        while len(replies) < len(texts):
            # A pipelining client: keeps 32 publishes in flight (inside MAX_PUBLISHES_IN_FLIGHT).
            while sent < len(texts) and sent - len(replies) < 32:
                await poster.send(publish(DEMO_STREAM, f"r{sent}", texts[sent]))
                sent += 1
            message = await poster.receive(timeout=10)
            if str(message.get("ref", "")).startswith("r"):
                replies.append(message)
        assert Counter(m["ref"] for m in replies) == Counter(f"r{n}" for n in range(150))
        assert [m for m in replies if m["type"] != "ack"] == []
        for viewer in viewers:
            seen = []
            while len(seen) < len(texts):
                message = await viewer.receive_where(type="event", event="comment", timeout=10)
                seen.append(message["data"]["text"])
            assert seen == texts
            await viewer.__aexit__(None, None, None)


async def test_real_daphne_the_rate_limit_still_applies_per_user_in_arrival_order(site, daphne_server):
    """Project defaults (5 comments per 10 s): of 12 pipelined comments the first 5 are stored."""
    ticket = await asyncio.to_thread(site.ticket, "bob")
    async with (
        WsClient(daphne_server.ws_url) as viewer,
        WsClient(f"{daphne_server.ws_url}?ticket={ticket}") as poster,
    ):
        await viewer.subscribe(DEMO_STREAM)
        await poster.subscribe(DEMO_STREAM)
        for n in range(12):
            await poster.send(publish(DEMO_STREAM, f"r{n}", f"limited {n}"))
        replies = {}
        while len(replies) < 12:
            message = await poster.receive(timeout=10)
            if str(message.get("ref", "")).startswith("r"):
                replies[message["ref"]] = message.get("code", message["type"])
        assert [replies[f"r{n}"] for n in range(12)] == ["ack"] * 5 + ["rate_limited"] * 7
        seen = [(await viewer.receive_where(type="event", event="comment"))["data"]["text"] for _ in range(5)]
        assert seen == [f"limited {n}" for n in range(5)]
