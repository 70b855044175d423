"""Moderation across processes (issue 19): two daphne processes on Redis. A moderator on one process
times out a viewer; the other moderators' lists (`stream_mod.<id>`) and the viewer's own page
(`stream.standing` on `user.<id>`), connected to the other process, hear it within a second; the
posting refusal applies there at once; lifting it travels the same way."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.accesskit import people, socket, subscribe_all
from tests.announcekit import Browser

BOUND = 1.0  # seconds from the moderator's request to the event on the other process


@pytest.fixture(scope="module")
def two(redis_site):
    return redis_site.server(), redis_site.server()


async def moderate(client, **data) -> dict:
    return await client.request({"type": "publish", "topic": "stream.1", "event": "moderate", "data": data})


async def test_a_timeout_and_its_lifting_reach_moderators_and_the_viewer_on_another_process(redis_site, two):
    one, other = two
    ids = await asyncio.to_thread(people, redis_site, "tia")
    tia = await asyncio.to_thread(Browser(other.url).login, "tia")
    mod = await asyncio.to_thread(Browser(one.url).login, "mod")  # realtime_demo: a moderator of stream 1
    owner = await asyncio.to_thread(Browser(other.url).login, "admin")
    viewer, moderator, watcher = await socket(other, tia), await socket(one, mod), await socket(other, owner)
    try:
        await subscribe_all(viewer, "stream.1", f"user.{ids['tia']}")
        await subscribe_all(moderator, "stream.1")
        await subscribe_all(watcher, "stream_mod.1")
        started = time.monotonic()
        ack = await moderate(moderator, action="timeout", user=ids["tia"], seconds=600, reason="flood")
        assert ack["type"] == "ack", ack
        listed = await watcher.receive_where(event="restriction.set", timeout=BOUND + 1)
        told = await viewer.receive_where(event="stream.standing", timeout=BOUND + 1)
        assert time.monotonic() - started < BOUND + 0.5
        assert (listed["data"]["user"]["id"], listed["data"]["by"]["username"]) == (ids["tia"], "mod")
        assert (told["data"]["stream"], told["data"]["standing"]["kind"]) == (1, "timeout")
        refused = await viewer.request(
            {
                "type": "publish",
                "topic": "stream.1",
                "event": "comment",
                "data": {"text": "hi", "client_id": "t1"},
            }
        )
        assert refused.get("code") == "timed_out", refused
        assert (await moderate(moderator, action="untimeout", user=ids["tia"]))["type"] == "ack"
        lifted = await watcher.receive_where(event="restriction.lifted", timeout=BOUND + 1)
        freed = await viewer.receive_where(event="stream.standing", timeout=BOUND + 1)
        assert lifted["data"]["kind"] == "timeout" and freed["data"]["standing"] is None
    finally:
        for client in (viewer, moderator, watcher):
            await client.__aexit__(None, None, None)
