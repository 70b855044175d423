"""`broadcast()` from another OS process on the embedded default (SQLite, in-memory layer, one daphne).

The in-memory layer cannot carry anything between processes: such an event reaches daphne's clients
through the database alone. The hub's watch (`realtime.hub.upkeep`, `WATCH_INTERVAL`) notices the new
event within about a second; without it the event waits for the `SYNC_INTERVAL` sync. Both daphne
processes here run with the sync at an hour, so what arrives came through the watch; the test without
the watch is the one that shows the watch is what delivers (it fails if the event arrives anyway).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from realtime import abroadcast
from realtime.hub import upkeep
from realtime.testing import RealtimeClient, override_realtime
from tests.conftest import ROOT, DaphneServer, Site
from tests.test_backdoor import break_layer_delivery
from tests.wsclient import WsClient

PROMPT = 1.5  # seconds within which the watch must deliver (WATCH_INTERVAL 1 s, and a process's hops)
SENDS = 5

# A separate process that stays up (so Django's start-up is not part of the delay) and broadcasts one
# event per line read, answering with the wall-clock time at which broadcast() returned (committed).
BROADCASTER = """
import json, sys, time
import django
django.setup()
from realtime import broadcast
print("ready", flush=True)
for line in sys.stdin:
    broadcast("broadcast.all", "broadcast", json.loads(line))
    print(time.time(), flush=True)
"""


class Broadcaster:
    def __init__(self, site: Site) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", BROADCASTER],
            cwd=ROOT,
            env=site.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.readline() == "ready"

    def readline(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()

    def send(self, data: dict) -> float:
        """Broadcast `data` from the other process; when it was committed there (time.time())."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(data) + "\n")
        self.process.stdin.flush()
        return float(self.readline())

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def broadcaster(site) -> Iterator[Broadcaster]:
    broadcaster = Broadcaster(site)
    yield broadcaster
    broadcaster.close()


def daphne(site: Site, watch: float) -> DaphneServer:
    """A daphne process on the site's database whose only path for other processes' events is the
    watch (`watch` seconds; 0: off): its database sync runs once an hour."""
    env = {**site.env, "REALTIME_SYNC_INTERVAL": "3600", "REALTIME_WATCH_INTERVAL": str(watch)}
    server = DaphneServer(env).start()
    site.servers.append(server)
    return server


@pytest.fixture(scope="module")
def watching(site) -> DaphneServer:
    return daphne(site, 1.0)  # the default


@pytest.fixture(scope="module")
def not_watching(site) -> DaphneServer:
    return daphne(site, 0)


async def delays(server: DaphneServer, broadcaster: Broadcaster, sends: int) -> list[float | None]:
    """Seconds from each commit in the other process to the client's receipt (None: not within PROMPT).

    The sends are spread over the watch's period (0.37 s apart), so the median is not one phase of it.
    """
    found: list[float | None] = []
    run = uuid.uuid4().hex  # a new subscriber is replayed earlier events: tell this run's apart
    async with WsClient(server.ws_url) as client:
        assert (await client.subscribe("broadcast.all"))["type"] == "subscribed"
        for n in range(sends):
            await asyncio.sleep(0.37 * n % 1.0)
            sent = await asyncio.to_thread(broadcaster.send, {"n": n, "run": run})
            try:
                await client.receive_where(
                    type="event", event="broadcast", data={"n": n, "run": run}, timeout=PROMPT
                )
                found.append(time.time() - sent)
            except TimeoutError:
                found.append(None)
    return found


async def test_with_the_watch_a_broadcast_from_another_process_arrives_within_a_second_or_so(
    watching, broadcaster
):
    found = await delays(watching, broadcaster, SENDS)
    assert None not in found, f"not delivered within {PROMPT} s: {found}"
    print(f"delays with the watch: median {statistics.median(found):.2f} s, {sorted(found)}")


async def test_without_the_watch_it_waits_for_the_sync(not_watching, broadcaster):
    """The control: with WATCH_INTERVAL 0 nothing else brings the event in time (the layer cannot)."""
    found = await delays(not_watching, broadcaster, 2)
    assert found == [None, None], f"delivered without the watch (another path reads the database): {found}"


# -- in this process: the watch is the back door it is, and only where it is needed ---------------
@pytest.mark.django_db(transaction=True)
async def test_the_watch_delivers_what_the_layer_lost(monkeypatch):
    break_layer_delivery(monkeypatch)
    with override_realtime(WATCH_INTERVAL=0.05):  # before the hub starts: its upkeep reads it once
        async with RealtimeClient(timeout=2) as client:
            await client.subscribe("broadcast.all")
            event_id = await abroadcast("broadcast.all", "broadcast", {"lost": "by the layer"})
            assert (await client.receive_event("broadcast"))["id"] == event_id


@pytest.mark.django_db(transaction=True)
async def test_the_test_settings_keep_the_watch_off(monkeypatch):
    break_layer_delivery(monkeypatch)
    # What a wait for a message that never comes ends with (see tests/test_backdoor.py).
    with pytest.raises((AssertionError, TimeoutError, asyncio.CancelledError)):
        async with RealtimeClient(timeout=0.5) as client:
            await client.subscribe("broadcast.all")
            await abroadcast("broadcast.all", "broadcast", {})
            await client.receive_event("broadcast")


@pytest.mark.django_db(transaction=True)
async def test_the_watch_reads_once_per_interval_and_nothing_without_subscribers(monkeypatch):
    reads = []
    original = upkeep.newest_event_id
    monkeypatch.setattr(upkeep, "newest_event_id", lambda: reads.append(1) or original())
    with override_realtime(WATCH_INTERVAL=0.1):
        async with RealtimeClient() as client:
            await asyncio.sleep(0.5)
            assert reads == []  # connected, subscribed to nothing: no room to bring up to date
            await client.subscribe("broadcast.all")
            await asyncio.sleep(1.0)
            assert 5 <= len(reads) <= 11, reads


def test_the_watch_runs_on_the_in_memory_layer_only():
    from channels.layers import InMemoryChannelLayer

    with override_realtime(WATCH_INTERVAL=1.0):
        assert upkeep.watch_interval(SimpleNamespace(layer=InMemoryChannelLayer())) == 1.0
        assert upkeep.watch_interval(SimpleNamespace(layer=object())) == 0.0
    with override_realtime(WATCH_INTERVAL=None):
        assert upkeep.watch_interval(SimpleNamespace(layer=InMemoryChannelLayer())) == 0.0
