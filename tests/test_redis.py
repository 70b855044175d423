"""The hub on channels-redis against a real Redis server, two hubs standing for two daphne processes."""

import asyncio
import contextlib
import signal

import pytest
import redis
from channels_redis.core import RedisChannelLayer
from django.test import override_settings

from realtime import abroadcast
from realtime.api import adisconnect_user
from realtime.hub import get_hub
from realtime.layerlink import LayerLink, LayerUnavailable
from realtime.layers import redis_layer, server_identity
from realtime.models import Event
from realtime.testing import RealtimeClient, bound_to, make_hub, override_realtime
from tests.conftest import free_port
from tests.faultkit import RedisServer

pytestmark = pytest.mark.django_db(transaction=True)


async def clients_on(hub, count, topic="broadcast.all", **kwargs):
    clients = []
    for _ in range(count):
        with bound_to(hub):
            client = RealtimeClient(**kwargs)
        await client.__aenter__()
        assert (await client.subscribe(topic))["type"] == "subscribed"
        clients.append(client)
    assert len(hub.rooms[topic]) >= count  # they really are this hub's connections
    return clients


async def close(clients):
    for client in clients:
        await client.__aexit__(None, None, None)


async def test_an_event_reaches_subscribers_on_both_processes_once(redis_layer_config):
    one, two = await make_hub(redis_layer_config), await make_hub(redis_layer_config)
    try:
        clients = await clients_on(one, 2) + await clients_on(two, 2)
        event_id = await abroadcast("broadcast.all", "broadcast", {"message": "hi"})
        for client in clients:
            assert (await client.receive_event("broadcast"))["id"] == event_id
            assert await client.nothing_more()
        await close(clients)
    finally:
        await one.stop()
        await two.stop()


def commands(url):
    stats = redis.Redis.from_url(url).info("commandstats")
    return {name.removeprefix("cmdstat_"): value["calls"] for name, value in stats.items()}


async def redis_commands_for(config, url, viewers, events=10):
    one, two = await make_hub(config), await make_hub(config)
    clients = await clients_on(one, viewers // 2) + await clients_on(two, viewers - viewers // 2)
    before = await asyncio.to_thread(commands, url)
    for n in range(events):
        await abroadcast("broadcast.all", "broadcast", {"n": n})
    for client in clients:
        for _ in range(events):
            await client.receive_event("broadcast")
    after = await asyncio.to_thread(commands, url)
    await close(clients)
    await one.stop()
    await two.stop()
    return {name: after[name] - before.get(name, 0) for name in after if after[name] != before.get(name, 0)}


async def test_redis_commands_per_event_do_not_grow_with_viewers(redis_layer_config, redis_url):
    """Fan-out happens in each process's memory: 40 viewers cost Redis what 2 viewers cost."""
    if not redis_url.startswith("redis://127.0.0.1") and not redis_url.startswith("redis://localhost"):
        pytest.skip("needs a Redis whose INFO only this test run moves")
    with override_realtime(PRESENCE_INTERVAL=60, SYNC_INTERVAL=60):  # no background traffic while counting
        few = await redis_commands_for(redis_layer_config, redis_url, viewers=2)
        many = await redis_commands_for(redis_layer_config, redis_url, viewers=40)
    few.pop("info", None)
    many.pop("info", None)
    # Each event: one group_send (a few commands) plus one receive per process, however many viewers.
    assert sum(many.values()) <= sum(few.values()) + 4, (few, many)


async def test_logout_on_one_process_closes_sockets_on_the_other(redis_layer_config, alice, bob):
    one, two = await make_hub(redis_layer_config), await make_hub(redis_layer_config)
    [alice_client] = await clients_on(two, 1, user=alice)
    [bob_client] = await clients_on(two, 1, user=bob)
    with bound_to(one):
        await adisconnect_user(alice.pk)
    assert (await alice_client.receive_type("closed")) == {"type": "closed", "code": 4003}
    assert await bob_client.nothing_more()
    await close([alice_client, bob_client])
    await one.stop()
    await two.stop()


async def test_posting_still_stores_when_the_layer_is_down_and_delivery_catches_up():
    """Redis unreachable: abroadcast stores and does not raise; the hub's database sync delivers."""
    dead = redis_layer(f"redis://127.0.0.1:{free_port()}/0")
    with override_settings(CHANNEL_LAYERS={"default": dead}), override_realtime(SYNC_INTERVAL=0.2):
        hub = await get_hub()
        async with RealtimeClient() as client:
            assert (await client.subscribe("broadcast.all"))["type"] == "subscribed"
            event_id = await abroadcast("broadcast.all", "broadcast", {"while": "down"})
            assert await Event.objects.filter(topic="broadcast.all", seq=event_id).aexists()
            message = await client.receive_event("broadcast", timeout=5)
            assert message["id"] == event_id
        await hub.stop()


async def test_calls_cut_at_the_bound_on_a_frozen_redis_leave_no_broken_connection_behind():
    """LAYER_TIMEOUT cancels redis-py commands mid-flight (sent, no reply yet). Once Redis thaws, the same
    layer must work: no connection left in use, none answering a command with an older command's reply,
    and the receive that waited through the freeze (the hub's reader) still gets its message."""
    server = RedisServer().start()
    layer = RedisChannelLayer(**redis_layer(server.url, prefix="rt-frozen")["CONFIG"])
    link = LayerLink(layer)
    try:
        with override_realtime(LAYER_TIMEOUT=0.3):
            channel = await link.new_channel("realtime.hub.")
            assert await link.group_add("frozen", channel, during="a test")
            waiting = asyncio.ensure_future(link.receive(channel))  # BZPOPMIN, blocked through the freeze
            await asyncio.sleep(0.1)
            server.process.send_signal(signal.SIGSTOP)
            try:
                calls = [
                    lambda: layer.group_send("frozen", {"type": "during"}),
                    lambda: layer.group_add("other", channel),
                    lambda: server_identity(layer),
                    lambda: layer.connection(0).zcard("rt-frozen:group:frozen"),
                ]
                outcomes = await asyncio.gather(
                    *(link.call("a test", call, probe=True) for call in calls * 3), return_exceptions=True
                )
                assert all(isinstance(o, LayerUnavailable) for o in outcomes), outcomes
                assert link.down
            finally:
                server.process.send_signal(signal.SIGCONT)
            # Every kind of reply, read on whatever connection the pool hands out: each must be its own.
            for _ in range(3):
                identity = await link.call("a test", lambda: server_identity(layer), probe=True)
                assert identity is not None and all(len(run_id) == 40 for run_id in identity), identity
                members = await layer.connection(0).zcard("rt-frozen:group:frozen")
                assert members == 1, members
            assert await link.group_send("frozen", {"type": "after"}, during="a test") or link.down
            await link.call("a test", lambda: layer.group_send("frozen", {"type": "after"}), probe=True)
            received = await asyncio.wait_for(waiting, 10)
            assert received["type"] in ("during", "after"), received
            await layer.wait_received()  # the receive's acknowledgement (a task of channels-redis's own)
            pool = layer.connection(0).connection_pool
            assert not pool._in_use_connections, pool._in_use_connections  # redis-py's own bookkeeping
    finally:
        with contextlib.suppress(Exception):
            server.process.send_signal(signal.SIGCONT)
        await layer.close_pools()
        server.close()
