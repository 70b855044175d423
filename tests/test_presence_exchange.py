"""What crosses the layer for presence (two hubs in one process on one layer stand in for two
processes): after the first exchange only diffs, a lost diff seen as a gap and mended with the whole
part, asked for; the whole part never sent unasked (it was, every window: 1 MB/s at 10,000)."""

import asyncio

import pytest

from realtime.hub import get_hub
from realtime.presence.exchange import MESSAGE_TYPE
from realtime.presence.tracker import Tracker
from realtime.testing import RealtimeClient, make_hub, override_realtime

pytestmark = pytest.mark.django_db(transaction=True)

LEASE = 0.9  # a heartbeat every 0.3 s


async def wait_for(predicate, timeout=5.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


def conns(hub, topic):
    """Every connection id in `hub`'s merged roster of `topic`."""
    entries = hub.service(Tracker).roster(topic)[0]
    return sorted(meta["conn"] for item in entries.values() for meta in item["metas"])


def record(hub, monkeypatch, drop=lambda message: False):
    """The presence messages `hub` sends (what `drop` says is lost on the way is not sent)."""
    sent = []
    real = hub.send_to_hubs

    async def send_to_hubs(message):
        if message.get("type") != MESSAGE_TYPE:
            return await real(message)
        sent.append(message)
        return False if drop(message) else await real(message)

    monkeypatch.setattr(hub, "send_to_hubs", send_to_hubs)
    return sent


async def test_after_the_first_exchange_only_diffs_and_heartbeats_cross(alice, bob, monkeypatch):
    with override_realtime(PRESENCE_LEASE=LEASE, PRESENCE_WINDOW=0.05):
        hub_a = await get_hub()
        hub_b = await make_hub()
        try:
            hub_a.service(Tracker)
            sent = record(hub_b, monkeypatch)
            hub_b.service(Tracker)
            async with RealtimeClient(user=alice, hub=hub_a) as a:
                await a.subscribe("page.d")
                tabs = [RealtimeClient(user=bob, hub=hub_b) for _ in range(4)]
                for tab in tabs:
                    await tab.__aenter__()
                    await tab.subscribe("page.d")
                    await asyncio.sleep(0.1)
                await wait_for(lambda: conns(hub_a, "page.d") == conns(hub_b, "page.d"))
                await asyncio.sleep(LEASE)  # heartbeats
                wholes = [m for m in sent if m.get("full")]
                diffs = [m for m in sent if "diff" in m]
                beats = [m for m in sent if "diff" not in m and not m.get("full")]
                # The announcement (and an answer to hub A's, whenever it came): the whole part, no more.
                assert 1 <= len(wholes) <= 2, wholes
                # Each join: a diff carrying that one connection, not the part.
                assert [len(m["diff"]["page.d"]["set"]) for m in diffs] == [1, 1, 1, 1]
                assert beats and all(set(m) == {"type", "origin", "lease", "seq"} for m in beats)
                seqs = [m["seq"] for m in sent]
                assert seqs == sorted(seqs) and len(set(seqs)) == len(wholes) + len(diffs)
                await tabs[0].__aexit__(None, None, None)
                await wait_for(lambda: len(conns(hub_a, "page.d")) == 4)
                assert (
                    sent[-1]["diff"]["page.d"]["set"] == {} and len(sent[-1]["diff"]["page.d"]["gone"]) == 1
                )
                assert conns(hub_a, "page.d") == conns(hub_b, "page.d")
                for tab in tabs[1:]:
                    await tab.__aexit__(None, None, None)
        finally:
            await hub_b.stop()


async def test_a_lost_diff_is_a_gap_mended_by_the_whole_part_asked_for(alice, bob, monkeypatch):
    """The diff carrying bob's second tab (the roster's third connection) is lost. Nothing else changes, so only the heartbeat's sequence
    number can tell hub A: it asks hub B for its whole part and gets the tab (without sequence numbers,
    or without asking, hub A would lack it until the next full exchange: never, here)."""
    with override_realtime(PRESENCE_LEASE=LEASE, PRESENCE_WINDOW=0.05):
        hub_a = await get_hub()
        hub_b = await make_hub()
        lost = []

        def drop(message):
            if "diff" in message and not lost and len(conns(hub_b, "page.g")) == 3:
                lost.append(message)
                return True
            return False

        try:
            hub_a.service(Tracker)
            sent = record(hub_b, monkeypatch, drop)
            hub_b.service(Tracker)
            async with RealtimeClient(user=alice, hub=hub_a) as a, RealtimeClient(user=bob, hub=hub_b) as b1:
                await a.subscribe("page.g")
                await b1.subscribe("page.g")
                await wait_for(lambda: conns(hub_a, "page.g") == conns(hub_b, "page.g"))
                asked_before = len([m for m in sent if m.get("full")])
                async with RealtimeClient(user=bob, hub=hub_b) as b2:
                    await b2.subscribe("page.g")
                    await wait_for(lambda: lost)
                    assert len(conns(hub_a, "page.g")) == 2  # hub A missed it
                    await wait_for(lambda: conns(hub_a, "page.g") == conns(hub_b, "page.g"), timeout=3.0)
                    assert len(conns(hub_a, "page.g")) == 3
                    assert len([m for m in sent if m.get("full")]) == asked_before + 1  # asked, once
                    # No false leave reached alice while the gap was open; bob's new tab joined.
                    diffs = [m for m in await a.collect() if m["type"] == "presence_diff"]
                    assert all(not d["leaves"] for d in diffs)
        finally:
            await hub_b.stop()
