"""broadcast() / abroadcast(): stored first, sent after commit, validated, usable from sync code."""

import threading
import time

import pytest
from asgiref.sync import sync_to_async
from django.db import transaction

from realtime import abroadcast, broadcast
from realtime.models import Event
from realtime.testing import RealtimeClient, override_realtime

pytestmark = pytest.mark.django_db(transaction=True)


async def test_abroadcast_stores_and_delivers_with_increasing_ids():
    async with RealtimeClient() as client:
        await client.subscribe("broadcast.all")
        first = await abroadcast("broadcast.all", "broadcast", {"n": 1})
        second = await abroadcast("broadcast.all", "broadcast", {"n": 2})
        assert second == first + 1
        got = [await client.receive_event("broadcast") for _ in range(2)]
        assert [(m["id"], m["data"]) for m in got] == [(first, {"n": 1}), (second, {"n": 2})]
        assert await Event.objects.filter(topic="broadcast.all").acount() == 2


async def test_broadcast_from_sync_code_in_another_thread_is_delivered():
    async with RealtimeClient() as client:
        await client.subscribe("broadcast.all")
        ids = []
        thread = threading.Thread(
            target=lambda: ids.append(broadcast("broadcast.all", "broadcast", {"x": 1}))
        )
        await sync_to_async(lambda: (thread.start(), thread.join()))()
        message = await client.receive_event("broadcast")
        assert message["id"] == ids[0]


async def test_broadcast_inside_a_rolled_back_transaction_sends_and_stores_nothing():
    def rolled_back():
        with transaction.atomic():
            broadcast("broadcast.all", "broadcast", {"never": True})
            transaction.set_rollback(True)

    # With the database sync on (off elsewhere in tests), which must not find it either.
    with override_realtime(SYNC_INTERVAL=0.2):
        async with RealtimeClient() as client:
            await client.subscribe("broadcast.all")
            await sync_to_async(rolled_back)()
            assert await client.nothing_more(0.8)  # several sync intervals
            assert not await Event.objects.filter(topic="broadcast.all").aexists()


async def test_broadcast_inside_a_transaction_waits_for_commit():
    """Nothing leaves before COMMIT: a subscriber must never see an event the database lacks."""
    async with RealtimeClient() as client:
        await client.subscribe("broadcast.all")
        seen_before_commit = []

        def in_transaction():
            with transaction.atomic():
                broadcast("broadcast.all", "broadcast", {"n": 1})
                time.sleep(0.3)  # the event loop is free meanwhile: an early publish would arrive now
                seen_before_commit.append(bool(client.communicator.output_queue.qsize()))

        await sync_to_async(in_transaction)()
        assert seen_before_commit == [False]
        assert (await client.receive_event("broadcast"))["data"] == {"n": 1}


async def test_user_topic_reaches_only_that_user(alice, bob):
    async with RealtimeClient(user=alice) as to_alice, RealtimeClient(user=bob) as to_bob:
        await to_alice.subscribe(f"user.{alice.pk}")
        await to_bob.subscribe(f"user.{bob.pk}")
        await abroadcast(f"user.{alice.pk}", "notice", {"text": "for alice"})
        assert (await to_alice.receive_event("notice"))["data"] == {"text": "for alice"}
        assert await to_bob.nothing_more()


@pytest.mark.parametrize(
    "topic, event, data, error",
    [
        ("nope", "broadcast", {}, ValueError),
        ("unknown.1", "broadcast", {}, ValueError),
        ("broadcast.all", "", {}, ValueError),
        ("broadcast.all", "x" * 41, {}, ValueError),
        ("broadcast.all", "broadcast", [1, 2], TypeError),
        ("broadcast.all", "broadcast", {"when": object()}, TypeError),
    ],
)
def test_bad_arguments_raise_with_a_message_saying_what_to_fix(topic, event, data, error):
    with pytest.raises(error, match="broadcast\\(\\)"):
        broadcast(topic, event, data)
