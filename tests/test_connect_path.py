"""The connect path (issue 24): what every connect storm repeats thousands of times is done once.

The figures are in bench/ (`bash bench/run --servers daphne-bare,realtime-embedded --scenarios
storm,idle`); these tests hold the behaviour the shortcuts must keep.
"""

import asyncio

import pytest

from realtime import protocol, serverpatch
from realtime.exceptions import ProtocolError
from realtime.testing import RealtimeClient, override_realtime

pytestmark = pytest.mark.django_db(transaction=True)


async def test_subscribers_arriving_together_share_one_read_of_the_stream(stream, monkeypatch):
    """Viewers whose subscribes arrive while the stream's row is being read wait for that read: one
    query, not one per viewer (the storm's viewers all missed the one-second cache until it came back)."""
    from realtime.streams import lookup

    loads = []
    original = lookup.Stream.objects.filter

    def counting(*args, **kwargs):
        loads.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(lookup.Stream.objects, "filter", counting)
    clients = [RealtimeClient() for _ in range(8)]
    for client in clients:
        await client.__aenter__()
    try:
        replies = await asyncio.gather(*(client.subscribe(stream.topic) for client in clients))
        assert [reply["type"] for reply in replies] == ["subscribed"] * len(clients)
        assert len(loads) == 1
    finally:
        for client in clients:
            await client.__aexit__(None, None, None)


async def test_a_changed_stream_is_read_again_even_while_a_read_is_on_its_way(stream, monkeypatch):
    from realtime.streams import lookup

    gate = asyncio.Event()
    original = lookup._read

    async def slow_read(pk, now):
        await gate.wait()
        return await original(pk, now)

    monkeypatch.setattr(lookup, "_read", slow_read)
    first = asyncio.ensure_future(lookup.load_stream(stream.pk))
    await asyncio.sleep(0)
    lookup.forget_stream(stream.pk)  # the stream changed: a read begun before must not answer later ones
    second = asyncio.ensure_future(lookup.load_stream(stream.pk))
    await asyncio.sleep(0)
    gate.set()
    assert (await first).pk == (await second).pk == stream.pk
    assert not lookup._reading


async def test_the_anonymous_hello_states_the_settings_of_the_moment():
    async with RealtimeClient() as client:
        assert client.hello["user"] is None
        heartbeat = client.hello["heartbeat"]
    with override_realtime(HEARTBEAT=heartbeat + 7):
        async with RealtimeClient() as client:
            assert client.hello["heartbeat"] == heartbeat + 7
    async with RealtimeClient() as client:
        assert client.hello["heartbeat"] == heartbeat


def test_hello_with_unhashable_settings_is_still_encoded():
    text = protocol.hello(None, ([25], 16384, 64, 20.0, 100))
    assert '"heartbeat":[25]' in text


def test_a_retry_after_is_never_rounded_down_to_retry_now():
    """0.01 s used to go out as `retry_after: 0.0` (seen in tests/test_limits.py's flood test)."""
    for asked, sent in ((0.01, 0.1), (0.04, 0.1), (0.26, 0.3), (1.0, 1.0)):
        envelope = protocol.error(ProtocolError("rate_limited", "slow down", retry_after=asked))
        assert f'"retry_after":{sent}' in envelope


def test_the_startup_heap_is_frozen_once_as_daphne_starts_to_run(monkeypatch):
    """Frozen before the reactor runs (no pause when connections arrive), once, and only there: a
    process that imports the application or makes connections without running daphne is left alone."""
    from daphne.server import Server
    from daphne.ws_protocol import WebSocketProtocol

    serverpatch.lighten_daphne()
    if not getattr(Server.create_application, "realtime_inbox", False):
        pytest.skip("daphne outside the tested range: the patch is off")
    frozen = []
    monkeypatch.setattr(serverpatch.gc, "freeze", lambda: frozen.append(True))
    monkeypatch.setattr(serverpatch.gc, "collect", lambda: 0)
    monkeypatch.setattr(serverpatch, "_frozen", False)

    async def app(scope, receive, send):
        pass

    async def connect():
        server = Server.__new__(Server)
        server.application, server.connections = app, {}
        protocol = WebSocketProtocol.__new__(WebSocketProtocol)
        server.connections[protocol] = {}
        server.create_application(protocol, {"type": "websocket"})
        await server.connections[protocol]["application_instance"]

    asyncio.run(connect())
    assert frozen == []  # connections alone (a test's stub server) freeze nothing

    class Started(Exception):
        pass

    freeze = serverpatch.freeze_startup_heap

    def freeze_then_stop():
        freeze()
        raise Started  # before daphne's own run: no reactor in a test

    monkeypatch.setattr(serverpatch, "freeze_startup_heap", freeze_then_stop)
    with pytest.raises(Started):
        Server.run(Server.__new__(Server))
    assert frozen == [True]
    freeze()  # once only
    assert frozen == [True]
