"""Presence in a room bigger than PRESENCE_LIMIT, over the real consumer: frames list the first users
(kept while they stay), counts are exact, and one `presence_state` encoding serves every joiner of a
window (it was one per join: O(N^2) in a room of 10,000)."""

import asyncio

import pytest

from realtime.presence import snapshot
from realtime.testing import RealtimeClient, override_realtime

from .test_presence import roster_seen

pytestmark = pytest.mark.django_db(transaction=True)

WINDOW = 0.1
LIMIT = 3


async def users(make_user, n, prefix):
    return [await asyncio.to_thread(make_user, f"{prefix}{i}") for i in range(n)]


async def test_past_the_limit_frames_list_the_first_users_and_count_everyone(alice, make_user):
    people = await users(make_user, 5, "big")
    with override_realtime(PRESENCE_WINDOW=WINDOW, PRESENCE_LIMIT=LIMIT):
        async with RealtimeClient(user=alice) as a:
            await a.subscribe("page.big")
            clients = [RealtimeClient(user=u) for u in people]
            for client in clients:
                await client.__aenter__()
                await client.subscribe("page.big")
                await asyncio.sleep(WINDOW * 1.5)  # one per window: the order they came in is known
            await asyncio.sleep(WINDOW * 3)
            messages = await a.collect()
            seen, counts = roster_seen(messages, "page.big")
            first = [str(alice.pk), str(people[0].pk), str(people[1].pk)]
            assert sorted(seen) == sorted(first) and counts == (6, 0)
            diffs = [m for m in messages if m["type"] == "presence_diff"]
            assert diffs[-1]["joins"] == {} and diffs[-1]["count"] == 6  # past the cap: the count moves
            # A late joiner's state: the same first three, the exact count.
            async with RealtimeClient(user=await asyncio.to_thread(make_user, "late")) as late:
                await late.subscribe("page.big")
                state = await late.receive_type("presence_state")
                assert sorted(state["entries"]) == sorted(first) and state["count"] == 6
                assert list(state)[-1] == "count"  # last: the benchmark's client reads it from the tail
            # One of the listed leaves: the next one who came is listed in their place, in the same diff.
            await clients[0].__aexit__(None, None, None)
            await asyncio.sleep(WINDOW * 4)
            messages = await a.collect()
            seen, counts = roster_seen(messages, "page.big", start=seen)
            assert sorted(seen) == sorted([str(alice.pk), str(people[1].pk), str(people[2].pk)])
            assert counts == (5, 0)
            for client in clients[1:]:
                await client.__aexit__(None, None, None)


async def test_every_joiner_of_a_window_gets_the_same_state_bytes(alice, make_user, monkeypatch):
    people = await users(make_user, 8, "joiner")
    encoded = []
    real = snapshot.protocol.reply

    def counting(kind, *args, **fields):
        if kind == "presence_state":
            encoded.append(fields.get("count"))
        return real(kind, *args, **fields)

    monkeypatch.setattr(snapshot.protocol, "reply", counting)
    with override_realtime(PRESENCE_WINDOW=1.0):
        async with RealtimeClient(user=alice) as a:
            await a.subscribe("page.storm")
            await a.receive_type("presence_state")
            await asyncio.sleep(0.1)  # the first flush (at once) is past: the next is a window away
            encoded.clear()
            clients = [RealtimeClient(user=u) for u in people]
            for client in clients:
                await client.__aenter__()
            await asyncio.gather(*(client.subscribe("page.storm") for client in clients))
            states = [await client.receive_type("presence_state") for client in clients]
            assert all(state == states[0] for state in states) and states[0]["count"] == 1
            assert encoded == [1]  # one encoding for the eight (it was one each)
            for client in clients:
                await client.__aexit__(None, None, None)
