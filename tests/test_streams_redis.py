"""Streams across processes on the Redis layer: two hubs, each with its own channels-redis layer
instance, stand for two daphne processes. Comments, deletions, reactions, bans and viewer counts must
cross from one to the other."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from django.conf import settings as django_settings

from realtime.hub import Hub, current_hub
from realtime.streams.storage import post_comment
from realtime.testing import RealtimeClient, bound_to, events, make_hub
from tests.streamkit import comment_ids, post, wait_viewers

pytestmark = pytest.mark.django_db(transaction=True)


# -- helpers --------------------------------------------------------------------------------------
@pytest.fixture
async def hubs(redis_layer_config):
    """Two started hubs on Redis (process A and process B); stopped and disconnected afterwards."""
    started: list[Hub] = []
    try:
        for _ in range(2):
            started.append(await make_hub(redis_layer_config))
        yield started
    finally:
        for hub in started:
            await hub.stop()
            await hub.layer.flush()
            await hub.layer.close_pools()


def on(hub: Hub, user=None) -> RealtimeClient:
    """A client whose connection is served by `hub`."""
    return RealtimeClient(user=user, hub=hub)


# -- delivery -------------------------------------------------------------------------------------
async def test_two_hubs_have_their_own_redis_layers(hubs):
    """Guard for the tests below: they would prove nothing on one shared in-memory layer."""
    a, b = hubs
    assert a is not b and a.layer is not b.layer and a.channel != b.channel
    assert type(a.layer).__module__.startswith("channels_redis")


async def test_a_comment_posted_on_hub_a_reaches_subscribers_on_both_hubs_exactly_once(
    hubs, stream, alice, bob
):
    a, b = hubs
    async with on(a, alice) as poster, on(b, bob) as remote, on(b) as remote_anonymous, on(a) as local:
        for client in (poster, remote, remote_anonymous, local):
            assert (await client.subscribe(stream.topic))["type"] == "subscribed"
        # Two connections on each hub, none on this process's own hub.
        assert (len(a.rooms[stream.topic]), len(b.rooms[stream.topic])) == (2, 2)
        assert current_hub() is None or stream.topic not in current_hub().rooms
        ack = await post(poster, stream.topic, "across processes")
        assert ack["type"] == "ack"
        clients = (poster, remote, remote_anonymous, local)
        results = await asyncio.gather(*(c.collect(quiet=0.3) for c in clients))
        for received in results:
            assert comment_ids(received) == [ack["id"]]
            assert events(received, "comment")[0]["data"]["text"] == "across processes"


async def test_a_retried_comment_still_reaches_the_other_hub_once(hubs, stream, alice, bob):
    a, b = hubs
    async with on(a, alice) as poster, on(b, bob) as remote:
        await poster.subscribe(stream.topic)
        await remote.subscribe(stream.topic)
        first = await post(poster, stream.topic, "retry", "same")
        again = await post(poster, stream.topic, "retry", "same")
        assert (again["id"], again["duplicate"]) == (first["id"], True)
        assert comment_ids(await remote.collect(quiet=0.3)) == [first["id"]]


async def test_comments_in_order_and_resume_on_the_other_hub(hubs, stream, alice, bob, settings):
    settings.REALTIME = {**django_settings.REALTIME, "RATE_LIMIT_COUNT": None}
    a, b = hubs
    async with on(a, alice) as poster:
        await poster.subscribe(stream.topic)
        acks = [await post(poster, stream.topic, f"#{n}") for n in range(3)]
        async with on(b, bob) as remote:
            reply = await remote.subscribe(stream.topic, since=acks[0]["id"])
            assert reply["history"] == 2
            acks += [await post(poster, stream.topic, f"#{n}") for n in range(3, 10)]
            received = await remote.collect(quiet=0.3)
    assert comment_ids(received) == [ack["id"] for ack in acks[1:]]


async def test_a_comment_whose_publish_was_lost_still_arrives_via_the_database(
    hubs, stream, alice, bob, monkeypatch
):
    """The ack means stored; if the layer drops the publish, each hub's sync delivers it anyway."""
    a, b = hubs
    async with on(a, alice) as poster, on(b, bob) as remote:
        await poster.subscribe(stream.topic)
        await remote.subscribe(stream.topic)
        await post(poster, stream.topic, "warm up")  # rooms know the newest id
        await asyncio.gather(poster.collect(quiet=0.1), remote.collect(quiet=0.1))

        async def lost(self, *args):
            return False

        monkeypatch.setattr(Hub, "publish_many", lost)
        monkeypatch.setattr(Hub, "publish", lost)
        ack = await post(poster, stream.topic, "publish lost")
        assert ack["type"] == "ack"  # acked once stored; the publish leaves after the ack (and is lost)
        assert comment_ids(await remote.collect(quiet=0.3)) == []  # nothing came through the layer
        await a.sync()  # what each hub's upkeep does every SYNC_INTERVAL
        await b.sync()
        received = await asyncio.gather(poster.collect(quiet=0.3), remote.collect(quiet=0.3))
        for messages in received:
            assert comment_ids(messages) == [ack["id"]]


async def test_a_deletion_on_hub_a_removes_the_comment_on_hub_b(hubs, stream, owner, alice):
    a, b = hubs
    async with on(a, owner) as mod, on(b, alice) as remote:
        await mod.subscribe(stream.topic)
        await remote.subscribe(stream.topic)
        target = await post(remote, stream.topic, "remove me")
        ack = await mod.publish(stream.topic, "moderate", {"action": "delete", "comment": target["id"]})
        assert ack["type"] == "ack"
        received = await remote.collect(quiet=0.3)
        assert [e["data"] for e in events(received, "comment.deleted")] == [{"comment": target["id"]}]


async def test_reactions_on_hub_a_reach_viewers_on_hub_b(hubs, stream, alice, bob):
    a, b = hubs
    async with on(a, alice) as reacting, on(b, bob) as remote:
        await reacting.subscribe(stream.topic)
        await remote.subscribe(stream.topic)
        for _ in range(3):
            assert (await reacting.publish(stream.topic, "reaction", {"kind": "heart"}))["type"] == "ack"
        received = await remote.collect(quiet=0.3)
        totals = sum(e["data"]["counts"].get("heart", 0) for e in events(received, "reactions"))
        assert totals == 3


# -- bans -----------------------------------------------------------------------------------------
async def test_a_ban_on_hub_a_kicks_the_users_subscriptions_on_hub_b(hubs, stream, owner, alice, bob):
    a, b = hubs
    async with on(a, owner) as mod, on(b, bob) as banned_b, on(a, bob) as banned_a, on(b, alice) as bystander:
        for client in (mod, banned_b, banned_a, bystander):
            await client.subscribe(stream.topic)
        ack = await mod.publish(stream.topic, "moderate", {"action": "ban", "user": bob.pk})
        assert ack["type"] == "ack"
        for tab in await asyncio.gather(banned_b.collect(quiet=0.3), banned_a.collect(quiet=0.3)):
            assert [(m["topic"], m["code"]) for m in tab if m["type"] == "kicked"] == [
                (stream.topic, "banned")
            ]
        assert [m for m in await bystander.collect(quiet=0.3) if m["type"] == "kicked"] == []
        after = await post(bystander, stream.topic, "bob is gone")
        assert after["type"] == "ack"
        assert comment_ids(await banned_b.collect(quiet=0.3)) == []
        assert (await banned_b.subscribe(stream.topic))["code"] == "banned"


async def test_a_stream_made_members_only_sheds_anonymous_viewers_on_every_hub(hubs, stream, alice):
    a, b = hubs
    async with on(a) as anonymous_a, on(b) as anonymous_b, on(b, alice) as member:
        for client in (anonymous_a, anonymous_b, member):
            await client.subscribe(stream.topic)
        stream.allow_anonymous = False
        await database_sync_to_async(stream.save)()  # sync code, e.g. the admin or a view
        for client in (anonymous_a, anonymous_b):
            kicked = await client.receive_type("kicked")
            assert (kicked["topic"], kicked["code"]) == (stream.topic, "auth_required")
        ack = await post(member, stream.topic, "members only")
        for client in (anonymous_a, anonymous_b):
            assert comment_ids(await client.collect(quiet=0.3)) == []
        assert comment_ids(await member.collect(quiet=0.3)) == [ack["id"]]


# -- viewer counts --------------------------------------------------------------------------------
async def test_viewer_count_is_the_sum_across_both_hubs(hubs, stream, alice, bob, make_user):
    a, b = hubs
    carol = await database_sync_to_async(make_user)("carol")
    async with on(a, alice) as on_a:
        assert (await on_a.subscribe(stream.topic))["state"]["viewers"] == 1
        async with on(b, bob) as on_b1, on(b, carol) as on_b2:
            await on_b1.subscribe(stream.topic)
            await on_b2.subscribe(stream.topic)
            await wait_viewers(on_a, 3, within=3.0)
            await wait_viewers(on_b1, 3, within=3.0)
            await wait_viewers(on_b2, 3, within=3.0)
            async with on(a) as late:  # the snapshot on subscribe includes the other process
                assert (await late.subscribe(stream.topic))["state"]["viewers"] == 4
                await wait_viewers(on_b1, 4, within=3.0)
            await wait_viewers(on_b1, 3, within=3.0)
            await on_b2.request({"type": "unsubscribe", "topic": stream.topic})
            await wait_viewers(on_a, 2, within=3.0)
            await wait_viewers(on_b1, 2, within=3.0)
        await wait_viewers(on_a, 1, within=3.0)  # both of hub B's viewers disconnected


async def test_a_hub_that_stops_reporting_is_forgotten(hubs, stream, alice, bob):
    """A process that dies without saying goodbye no longer inflates the count after a few intervals."""
    a, b = hubs
    async with on(a, alice) as on_a:
        await on_a.subscribe(stream.topic)
        async with on(b, bob) as on_b:
            await on_b.subscribe(stream.topic)
            await wait_viewers(on_a, 2, within=3.0)
            await b.stop()  # process B is gone; its sockets' disconnects never reach anyone
            await wait_viewers(on_a, 1, within=3.0)


async def test_bound_to_puts_clients_created_inside_it_on_that_hub(hubs, stream, alice, bob):
    a, b = hubs
    with bound_to(a):
        client = RealtimeClient(user=alice)
    async with client, on(b, bob) as other:
        await client.subscribe(stream.topic)
        assert len(a.rooms[stream.topic]) == 1 and stream.topic not in b.rooms
        await other.subscribe(stream.topic)
        assert stream.topic in b.rooms


async def test_posting_from_sync_code_reaches_both_hubs(hubs, stream, alice, bob):
    """post_comment from a worker thread (a view, a task) publishes on the Redis layer after commit."""
    a, b = hubs
    async with on(a, alice) as on_a, on(b, bob) as on_b:
        await on_a.subscribe(stream.topic)
        await on_b.subscribe(stream.topic)
        ack = await database_sync_to_async(post_comment)(
            stream.pk, alice, {"text": "from a view", "client_id": "v"}
        )
        for received in await asyncio.gather(on_a.collect(quiet=0.3), on_b.collect(quiet=0.3)):
            assert comment_ids(received) == [ack["id"]]
