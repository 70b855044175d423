"""The consumer over WebsocketCommunicator: protocol, permissions, and bad input."""

import json
import logging

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Group

from project.asgi import application
from realtime.testing import RealtimeClient, override_realtime
from realtime.tickets import issue_ticket

pytestmark = pytest.mark.django_db(transaction=True)


async def test_hello_names_the_user_and_the_heartbeat(alice):
    async with RealtimeClient(user=alice) as client:
        assert client.hello == {
            "type": "hello",
            "user": {"id": alice.pk, "username": "alice"},
            "heartbeat": 25,
            "max_frame": 16384,
            "max_in_flight": 64,
            "request_rate": 20.0,
            "request_burst": 100,
        }


async def test_anonymous_hello_has_no_user():
    async with RealtimeClient() as client:
        assert client.hello["user"] is None


async def test_ping_pong_echoes_ref():
    async with RealtimeClient() as client:
        assert await client.request({"type": "ping"}) == {"type": "pong", "ref": "1"}


async def test_subscribe_unsubscribe_and_events_stop_after_unsubscribe(alice):
    from realtime import abroadcast

    async with RealtimeClient(user=alice) as client:
        reply = await client.subscribe("broadcast.all")
        assert reply["type"] == "subscribed" and reply["topic"] == "broadcast.all"
        await abroadcast("broadcast.all", "broadcast", {"message": "one"})
        assert (await client.receive_event("broadcast"))["data"] == {"message": "one"}
        assert (await client.request({"type": "unsubscribe", "topic": "broadcast.all"}))[
            "type"
        ] == "unsubscribed"
        await abroadcast("broadcast.all", "broadcast", {"message": "two"})
        assert await client.nothing_more()


async def test_unsubscribe_without_subscription_is_an_error():
    async with RealtimeClient() as client:
        reply = await client.request({"type": "unsubscribe", "topic": "broadcast.all"})
        assert reply["code"] == "not_subscribed"


async def test_publish_needs_a_subscription_and_permission(alice):
    async with RealtimeClient(user=alice) as client:
        reply = await client.publish("broadcast.all", "broadcast", {})
        assert reply["code"] == "not_subscribed"
        await client.subscribe("broadcast.all")
        reply = await client.publish("broadcast.all", "broadcast", {})
        assert reply["code"] == "publish_not_allowed"


@pytest.mark.parametrize(
    "topic, code",
    [
        ("nope.1", "unknown_topic"),
        ("stream", "unknown_topic"),
        ("stream.1.2", "unknown_topic"),
        ("stream.<script>", "unknown_topic"),
        ("stream.abc", "not_found"),
        ("stream.999", "not_found"),
        ("broadcast.some", "not_found"),
        ("group.999", "not_found"),
    ],
)
async def test_unknown_topics_are_refused_with_codes(topic, code):
    async with RealtimeClient() as client:
        reply = await client.subscribe(topic)
        assert (reply["type"], reply["code"], reply["ref"]) == ("error", code, "1")


async def test_user_topic_only_for_that_user(alice, bob):
    async with RealtimeClient(user=alice) as client:
        assert (await client.subscribe(f"user.{alice.pk}"))["type"] == "subscribed"
        assert (await client.subscribe(f"user.{bob.pk}"))["code"] == "forbidden"
    async with RealtimeClient() as anonymous:
        assert (await anonymous.subscribe(f"user.{alice.pk}"))["code"] == "auth_required"


async def test_group_topic_only_for_members(alice, bob):
    from asgiref.sync import sync_to_async

    group = await Group.objects.acreate(name="editors")
    await sync_to_async(alice.groups.add)(group)
    async with RealtimeClient(user=alice) as member, RealtimeClient(user=bob) as outsider:
        assert (await member.subscribe(f"group.{group.pk}"))["type"] == "subscribed"
        assert (await outsider.subscribe(f"group.{group.pk}"))["code"] == "forbidden"


async def test_anonymous_may_watch_public_streams_only(stream):
    from realtime.streams.models import Stream

    private = await Stream.objects.acreate(
        title="p", slug="p", owner_id=stream.owner_id, allow_anonymous=False
    )
    async with RealtimeClient() as client:
        assert (await client.subscribe(stream.topic))["type"] == "subscribed"
        assert (await client.subscribe(private.topic))["code"] == "auth_required"
        assert (await client.publish(stream.topic, "comment", {"text": "hi", "client_id": "x"}))[
            "code"
        ] == "auth_required"


async def test_bad_frames_get_errors_and_the_connection_stays_usable(alice, caplog):
    caplog.set_level(logging.DEBUG)
    async with RealtimeClient(user=alice) as client:
        frames = {
            "{nope": "bad_json",
            "[]": "bad_message",
            '{"type":"explode"}': "unknown_type",
            '{"type":"subscribe","topic":5}': "bad_message",
            '{"type":"subscribe","topic":"x"}': "unknown_topic",
            "x" * 20000: "frame_too_large",
        }
        for frame, code in frames.items():
            await client.send(frame)
            assert (await client.receive())["code"] == code
        await client.communicator.send_to(bytes_data=b"\x00\x01")
        assert (await client.receive())["code"] == "bad_message"
        assert (await client.request({"type": "ping"}))["type"] == "pong"
        assert (await client.subscribe("broadcast.all"))["type"] == "subscribed"
    assert "Exception inside application" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_every_error_answering_an_object_with_a_valid_ref_carries_it(alice, stream):
    """Malformed requests (refused on arrival, before the pipeline) and requests refused later (an
    invalid topic name, a comment's fields) alike: the client waiting on the ref hears about it."""
    async with RealtimeClient(user=alice) as client:
        await client.subscribe(stream.topic)
        topic = stream.topic
        frames = [
            ({"ref": "a"}, "bad_message"),
            ({"type": "explode", "ref": "b"}, "unknown_type"),
            ({"type": "subscribe", "ref": "c"}, "bad_message"),
            ({"type": "subscribe", "ref": "d", "topic": topic, "since": "x"}, "bad_message"),
            ({"type": "subscribe", "ref": "e", "topic": "no such thing"}, "unknown_topic"),
            ({"type": "publish", "ref": "f", "topic": topic, "event": ""}, "bad_message"),
            (
                {"type": "publish", "ref": "g", "topic": topic, "event": "comment", "data": {"text": 5}},
                "bad_message",
            ),
            ('{"type":"ping","ref":"h","x":"\\ud800"}', "bad_message"),
        ]
        for n, (frame, code) in enumerate(frames):
            await client.send(frame if isinstance(frame, str) else json.dumps(frame))
            answer = await client.receive_type("error")
            assert (answer["code"], answer.get("ref")) == (code, "abcdefgh"[n]), frame
        await client.send('{"type":"ping","ref":7}')  # an invalid ref: nothing to answer it with
        assert "ref" not in await client.receive_type("error")
        assert (await client.request({"type": "ping"}))["type"] == "pong"


async def test_oversize_frame_limit_is_configurable():
    with override_realtime(MAX_FRAME_BYTES=64):
        async with RealtimeClient() as client:
            await client.send({"type": "ping", "pad": "x" * 100})
            assert (await client.receive())["code"] == "frame_too_large"
            assert (await client.request({"type": "ping"}))["type"] == "pong"


async def test_repeated_abuse_gets_a_policy_close():
    with override_realtime(ABUSE_LIMIT=5, ABUSE_WINDOW=10):
        async with RealtimeClient() as client:
            for _ in range(6):
                await client.send("{nope")
            codes = [(await client.receive())["code"] for _ in range(6)]
            assert codes == ["bad_json"] * 6
            assert await client.receive() == {"type": "closed", "code": 4429}


async def test_too_many_subscriptions_refused():
    with override_realtime(MAX_SUBSCRIPTIONS=1):
        async with RealtimeClient() as client:
            assert (await client.subscribe("broadcast.all"))["type"] == "subscribed"
            reply = await client.subscribe("stream.1")
            assert reply["code"] == "too_many_subscriptions"


async def test_internal_errors_are_reported_not_crashing(alice, monkeypatch, caplog):
    from realtime.topics.builtin import BroadcastTopic

    async def broken(self, client):
        raise RuntimeError("boom")

    monkeypatch.setattr(BroadcastTopic, "state", broken)
    async with RealtimeClient(user=alice) as client:
        reply = await client.subscribe("broadcast.all")
        assert reply["code"] == "internal_error"
        assert (await client.request({"type": "ping"}))["type"] == "pong"
        # the failed subscription left nothing behind: subscribing again works once fixed
        monkeypatch.undo()
        assert (await client.subscribe("broadcast.all"))["type"] == "subscribed"
    assert "Exception inside application" not in caplog.text


# -- the full ASGI stack: origin validation and tickets -------------------------------------------
async def full_stack(path="/ws/realtime/", headers=()):
    communicator = WebsocketCommunicator(application, path, headers=list(headers))
    connected, code = await communicator.connect()
    return communicator, connected, code


async def test_foreign_origin_is_refused():
    communicator, connected, _ = await full_stack(
        headers=[(b"origin", b"http://evil.example"), (b"host", b"localhost")]
    )
    assert not connected
    await communicator.disconnect()


async def test_own_origin_is_accepted_with_session_auth(client, alice):
    from asgiref.sync import sync_to_async

    await sync_to_async(client.force_login)(alice)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    communicator, connected, _ = await full_stack(
        headers=[(b"origin", b"http://localhost:8000"), (b"host", b"localhost:8000"), (b"cookie", cookie)]
    )
    assert connected
    hello = await communicator.receive_json_from()
    assert hello["user"]["username"] == "alice"
    await communicator.disconnect()


async def test_session_cookie_is_ignored_without_origin(client, alice):
    """A non-browser client cannot ride a session cookie; it must use a ticket."""
    from asgiref.sync import sync_to_async

    await sync_to_async(client.force_login)(alice)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    communicator, connected, _ = await full_stack(headers=[(b"cookie", cookie)])
    assert connected
    assert (await communicator.receive_json_from())["user"] is None
    await communicator.disconnect()


async def test_ticket_authenticates_a_non_browser_client(alice):
    from asgiref.sync import sync_to_async

    ticket = await sync_to_async(issue_ticket)(alice)
    communicator, connected, _ = await full_stack(path=f"/ws/realtime/?ticket={ticket}")
    assert connected
    assert (await communicator.receive_json_from())["user"]["id"] == alice.pk
    await communicator.disconnect()


async def test_bad_ticket_gets_auth_failed_then_close_4001():
    communicator, connected, _ = await full_stack(path="/ws/realtime/?ticket=forged")
    assert connected
    error = await communicator.receive_json_from()
    assert error["type"] == "error" and error["code"] == "auth_failed"
    assert await communicator.receive_output() == {"type": "websocket.close", "code": 4001}
    await communicator.disconnect()


async def test_connections_allocate_no_layer_channels_of_their_own(alice, monkeypatch):
    """Per-viewer layer traffic is what the hub avoids: five sockets, one layer channel (the hub's)."""
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    created = []
    original = layer.new_channel

    async def counting(prefix="specific."):
        created.append(prefix)
        return await original(prefix)

    monkeypatch.setattr(layer, "new_channel", counting)
    clients = [RealtimeClient(user=alice) for _ in range(5)]
    for client in clients:
        await client.__aenter__()
        await client.subscribe("broadcast.all")
    for client in clients:
        await client.__aexit__(None, None, None)
    assert created == ["realtime.hub."]
