"""Presence across hubs on one shared layer (two hubs in one process stand in for two processes):
the same roster on both, a silent hub's entries gone after its lease, none gone while the layer is down."""

import asyncio

import pytest

from realtime.hub import get_hub
from realtime.layerlink import LayerLink
from realtime.presence.tracker import Tracker
from realtime.testing import RealtimeClient, make_hub, override_realtime

pytestmark = pytest.mark.django_db(transaction=True)

LEASE = 0.9


async def wait_for(predicate, timeout=5.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


def keys(hub, topic):
    return sorted(hub.service(Tracker).roster(topic)[0])


def silence(hub):
    """What SIGKILL does to a process as seen from outside: it stops sending, says no goodbye."""
    hub.service(Tracker).exchange.farewell = False
    for task in list(hub.tasks):
        task.cancel()
    hub.stopped = True  # no coalesced part goes out either


async def test_both_hubs_see_the_same_roster_and_a_silent_one_expires(alice, bob):
    with override_realtime(PRESENCE_LEASE=LEASE, PRESENCE_WINDOW=0.05):
        hub_a = await get_hub()
        hub_b = await make_hub()
        try:
            async with RealtimeClient(user=alice, hub=hub_a) as a, RealtimeClient(user=bob, hub=hub_b) as b:
                await a.subscribe("page.x")
                await b.subscribe("page.x")
                expected = sorted([str(alice.pk), str(bob.pk)])
                await wait_for(lambda: keys(hub_a, "page.x") == expected == keys(hub_b, "page.x"))
                silence(hub_b)
                start = asyncio.get_running_loop().time()
                await wait_for(lambda: keys(hub_a, "page.x") == [str(alice.pk)])
                assert asyncio.get_running_loop().time() - start < LEASE + 1.5
                diffs = [m for m in await a.collect() if m["type"] == "presence_diff"]
                assert str(bob.pk) in diffs[-1]["leaves"] and diffs[-1]["count"] == 1
        finally:
            hub_b.stopped = False
            await hub_b.stop()


async def test_no_lease_runs_out_while_the_layer_is_down(alice, bob, monkeypatch):
    with override_realtime(PRESENCE_LEASE=LEASE, PRESENCE_WINDOW=0.05):
        hub_a = await get_hub()
        hub_b = await make_hub()
        try:
            async with RealtimeClient(user=alice, hub=hub_a) as a, RealtimeClient(user=bob, hub=hub_b) as b:
                await a.subscribe("page.y")
                await b.subscribe("page.y")
                expected = sorted([str(alice.pk), str(bob.pk)])
                await wait_for(lambda: keys(hub_a, "page.y") == expected)
                await a.collect()
                silence(hub_b)  # heard by nobody, as during an outage
                monkeypatch.setattr(LayerLink, "down", property(lambda self: True))
                await asyncio.sleep(LEASE * 3)
                assert keys(hub_a, "page.y") == expected
                assert [m for m in await a.collect() if m["type"] == "presence_diff"] == []
                # Back up: hub B is really gone, so after one more lease its part is.
                monkeypatch.undo()
                await wait_for(lambda: keys(hub_a, "page.y") == [str(alice.pk)])
        finally:
            hub_b.stopped = False
            await hub_b.stop()


async def test_a_new_hub_learns_the_roster_at_once(alice):
    with override_realtime(PRESENCE_LEASE=30.0, PRESENCE_WINDOW=0.05):
        hub_a = await get_hub()
        async with RealtimeClient(user=alice, hub=hub_a) as a:
            await a.subscribe("page.z")
            await a.receive_type("presence_state")
            hub_a.service(Tracker)
            hub_b = await make_hub()
            try:
                hub_b.service(Tracker)  # announces itself; hub A answers with its part (not after 10 s)
                await wait_for(lambda: keys(hub_b, "page.z") == [str(alice.pk)], timeout=3.0)
            finally:
                await hub_b.stop()


async def test_a_hub_that_stops_takes_its_entries_away_at_once(alice, bob):
    with override_realtime(PRESENCE_LEASE=30.0, PRESENCE_WINDOW=0.05):
        hub_a = await get_hub()
        hub_b = await make_hub()
        async with RealtimeClient(user=alice, hub=hub_a) as a, RealtimeClient(user=bob, hub=hub_b) as b:
            await a.subscribe("page.bye")
            await b.subscribe("page.bye")
            await wait_for(lambda: keys(hub_a, "page.bye") == sorted([str(alice.pk), str(bob.pk)]))
            await hub_b.stop()  # a graceful stop (deploy): no need to wait for the 30 s lease
            await wait_for(lambda: keys(hub_a, "page.bye") == [str(alice.pk)], timeout=3.0)
