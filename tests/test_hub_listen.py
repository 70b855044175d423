"""The core hooks features build live data on: `Hub.listen` (server-side code fed a topic's events in
each process, from the layer and from the database sync alike), `Hub.deliver` (an ephemeral event for
this process's subscribers only) and last value wins (`Topic.compact_key`, `realtime.hub.lastvalue`)."""

from __future__ import annotations

import asyncio

import pytest

from realtime import abroadcast
from realtime.eventlog import StoredEvent
from realtime.hub import get_hub
from realtime.hub.lastvalue import compact, newest_only
from realtime.hub.sequencer import Delivery
from realtime.testing import RealtimeClient
from realtime.topics import load_topic
from tests.test_backdoor import break_layer_delivery


def by_pk(event: StoredEvent):
    return event.data.get("pk")


def test_newest_only_keeps_the_newest_event_per_key_in_order():
    events = [StoredEvent("t.1", "change", {"pk": pk}, id=n) for n, pk in enumerate([1, 2, 1, None, 2, 3], 1)]
    assert [e.id for e in newest_only(events, by_pk)] == [3, 4, 5, 6]
    items = [Delivery(e.id, str(e.id), e) for e in events] + [Delivery(None, "x")]
    assert [d.text for d in compact(items, by_pk)] == ["3", "4", "5", "6", "x"]


@pytest.mark.django_db(transaction=True)
async def test_a_listener_gets_the_layers_events_and_the_room_lives_as_long_as_it():
    hub = await get_hub()
    got: list[StoredEvent] = []
    handle = await hub.listen(await load_topic("broadcast.all"), got.append)
    first = await abroadcast("broadcast.all", "broadcast", {"n": 1})
    await asyncio.sleep(0.05)
    assert [(e.id, e.data) for e in got] == [(first, {"n": 1})]
    assert hub.rooms["broadcast.all"].joined
    handle.close()
    await abroadcast("broadcast.all", "broadcast", {"n": 2})
    await asyncio.sleep(0.05)
    assert len(got) == 1


@pytest.mark.django_db(transaction=True)
async def test_a_listener_gets_what_the_database_sync_finds(monkeypatch):
    """A change stored where the layer cannot carry it (another process on the in-memory layer)."""
    break_layer_delivery(monkeypatch)
    hub = await get_hub()
    got: list[StoredEvent] = []
    await hub.listen(await load_topic("broadcast.all"), got.append)
    sent = [await abroadcast("broadcast.all", "broadcast", {"n": n}) for n in range(3)]
    await asyncio.sleep(0.05)
    assert got == []  # the layer lost them (the control: without the sync nothing comes)
    await hub.sync()
    assert [e.id for e in got] == sent


@pytest.mark.django_db(transaction=True)
async def test_deliver_reaches_this_processs_subscribers_only_and_stores_nothing():
    async with RealtimeClient() as client:
        await client.subscribe("broadcast.all")
        hub = await get_hub()
        assert hub.deliver(StoredEvent("broadcast.all", "local", {"a": 1}, id=99))
        message = await client.receive_event("local")
        assert message["data"] == {"a": 1} and message.get("id") is None
        assert not hub.deliver(StoredEvent("broadcast.nobody", "local", {}))


@pytest.mark.django_db(transaction=True)
async def test_a_listener_room_that_could_not_join_during_an_outage_joins_when_the_layer_is_back(monkeypatch):
    """The health probe joins rooms someone waits on once the layer answers; a listener counts as
    someone (live data's renderer has no socket), or it would hear only the database sync."""
    from realtime.hub import health

    hub = await get_hub()
    failing = True
    group_add = hub.layer.group_add

    async def flaky_group_add(group, channel):
        if failing and group.endswith("broadcast.all"):
            raise ConnectionError("layer down")
        return await group_add(group, channel)

    monkeypatch.setattr(hub.layer, "group_add", flaky_group_add)
    await hub.listen(await load_topic("broadcast.all"), lambda event: None)
    room = hub.rooms["broadcast.all"]
    assert not room.joined
    failing = False
    await health.rejoin(hub)
    assert room.joined
