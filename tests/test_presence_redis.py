"""Presence on two real daphne processes sharing the test's own Redis: the same roster on both, a
process killed with SIGKILL gone from the other's roster within the lease, and a Redis restart that no
client notices (no false leave or join)."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from types import SimpleNamespace

import pytest
from websockets.asyncio.client import connect

from realtime.presence.roster import apply
from tests.faultkit import FaultSite, RedisServer, origin_headers

LEASE = 3.0  # tests/settings_presence.py
TOPIC = "page.presence-test"


class Tab:
    """A browser tab: every frame it receives is kept in order (none is skipped while awaiting a reply)."""

    def __init__(self, url: str, session: str) -> None:
        self.url, self.session = url, session
        self.frames: list[dict] = []
        self.refs = 0

    async def open(self) -> Tab:
        self.socket = await connect(
            self.url, open_timeout=5, additional_headers=origin_headers(self.session)(self.url)
        )
        self.reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        async for text in self.socket:
            message = json.loads(text)
            self.frames.extend(message["messages"] if message["type"] == "batch" else [message])

    async def request(self, message: dict) -> dict:
        self.refs += 1
        ref = str(self.refs)
        await self.socket.send(json.dumps({**message, "ref": ref}))
        return await until(lambda: next((m for m in self.frames if m.get("ref") == ref), None), 10, ref)

    def roster(self) -> dict:
        entries: dict = {}
        for message in self.frames:
            if message["type"] == "presence_state":
                entries = message["entries"]
            elif message["type"] == "presence_diff":
                entries = apply(entries, message["joins"], message["leaves"])
        return entries

    def diffs(self) -> list[dict]:
        return [m for m in self.frames if m["type"] == "presence_diff"]

    async def close(self) -> None:
        self.reader.cancel()
        await self.socket.close()


async def until(probe, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (value := probe()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)
    return value


@pytest.fixture(scope="module")
def cluster():
    redis = RedisServer().start()
    site = None
    try:
        site = FaultSite(redis.url)
        site.env["DJANGO_SETTINGS_MODULE"] = "tests.settings_presence"
        made = site.setup(["pa", "pb", "pc"], [])
        servers = [site.server(), site.server()]
        yield SimpleNamespace(redis=redis, servers=servers, sessions=made["sessions"])
    finally:
        if site is not None:
            site.close()
        redis.close()


async def tabs(cluster, placement: dict[str, int]) -> dict[str, Tab]:
    opened = {}
    for name, server in placement.items():
        tab = opened[name] = await Tab(cluster.servers[server].ws_url, cluster.sessions[name]).open()
        assert (await tab.request({"type": "subscribe", "topic": TOPIC}))["type"] == "subscribed"
    return opened


def names(roster: dict) -> list[str]:
    return sorted(item["name"] for item in roster.values())


async def test_the_same_roster_on_both_and_no_false_leave_through_a_redis_restart(cluster):
    opened = await tabs(cluster, {"pa": 0, "pb": 1, "pc": 1})
    try:
        everyone = ["pa", "pb", "pc"]
        for tab in opened.values():
            await until(
                lambda tab=tab: names(tab.roster()) == everyone, 15, "the full roster on each process"
            )
        await asyncio.sleep(1.0)
        before = {name: len(tab.diffs()) for name, tab in opened.items()}
        # Down for longer than a lease: only the freeze while the layer is down keeps the parts.
        await asyncio.to_thread(cluster.redis.restart, LEASE * 1.5)
        await asyncio.sleep(LEASE * 3)  # long enough for any lease to have run out
        for name, tab in opened.items():
            late = tab.diffs()[before[name] :]
            assert [d for d in late if d["leaves"] or d["joins"]] == [], f"{name} saw {late}"
            assert names(tab.roster()) == everyone
        # And the roster still moves after the restart: one leaves, both processes see it.
        await opened["pc"].close()
        for name in ("pa", "pb"):
            await until(lambda name=name: names(opened[name].roster()) == ["pa", "pb"], 15, "pc's leave")
    finally:
        for tab in opened.values():
            await tab.close()


async def test_a_killed_process_is_gone_from_the_other_within_the_lease(cluster):
    opened = await tabs(cluster, {"pa": 0, "pb": 1})
    victim = cluster.servers[1]
    try:
        await until(lambda: names(opened["pa"].roster()) == ["pa", "pb"], 15, "pb on process 0")
        await asyncio.sleep(LEASE * 2)
        assert names(opened["pa"].roster()) == ["pa", "pb"], opened["pa"].frames
        victim.process.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        victim.process.wait()
        await until(lambda: names(opened["pa"].roster()) == ["pa"], 30, "pb gone after SIGKILL")
        gone_after = time.monotonic() - killed
        print(f"\nSIGKILLed process's entries gone after {gone_after:.1f} s (lease {LEASE} s)")
        assert gone_after < 30
        assert opened["pa"].diffs()[-1]["count"] == 1
    finally:
        for tab in opened.values():
            await tab.close()
        await asyncio.to_thread(victim.start)
