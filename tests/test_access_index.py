"""A kick or a re-check of a subject visits only the rooms that follow it (`realtime.hub.followers`):
unrelated rooms are not asked `follows()` again, however many of them the process holds."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from realtime import akick, areauthorize
from realtime.hub import get_hub
from realtime.hub.followers import Followers
from realtime.testing import RealtimeClient
from realtime.topics import Topic
from realtime.topics.registry import _registered, register_kind

pytestmark = pytest.mark.django_db(transaction=True)


class CountedTopic(Topic):
    """A kind unrelated to streams that counts how often its follows() is asked."""

    kind = "counted"
    persistent = False
    asked: ClassVar[int] = 0

    async def can_subscribe(self, user: Any) -> bool:
        return True

    def follows(self) -> tuple[str, ...]:
        type(self).asked += 1
        return ()


@pytest.fixture
def counted_kind():
    register_kind("counted", CountedTopic)
    CountedTopic.asked = 0
    yield
    _registered.pop("counted", None)


async def test_a_kick_and_a_recheck_ask_no_unrelated_room(stream, alice, bob, counted_kind):
    derived = f"announcements.stream-{stream.pk}"
    unrelated = [f"counted.{n}" for n in range(30)]
    async with RealtimeClient(user=alice) as banned, RealtimeClient(user=bob) as crowd:
        for topic in (stream.topic, derived):
            assert (await banned.subscribe(topic))["type"] == "subscribed"
        for topic in unrelated:
            assert (await crowd.subscribe(topic))["type"] == "subscribed"
            assert (await banned.subscribe(topic))["type"] == "subscribed"
        hub = await get_hub()
        assert hub.service(Followers).of(stream.topic) >= {stream.topic, derived}
        opened = CountedTopic.asked  # once per room as it opened, at most
        assert opened <= len(unrelated)
        await akick(stream.topic, alice.pk, code="banned", message="Banned.")
        got = {(await banned.receive_type("kicked"))["topic"] for _ in range(2)}
        assert got == {stream.topic, derived}
        await areauthorize(stream.topic)
        await banned.nothing_more()
        assert CountedTopic.asked == opened  # neither the kick nor the re-check visited them
        assert await crowd.nothing_more()


async def test_a_closed_room_leaves_the_index(stream, alice):
    derived = f"announcements.stream-{stream.pk}"
    hub = await get_hub()
    async with RealtimeClient(user=alice) as viewer:
        assert (await viewer.subscribe(derived))["type"] == "subscribed"
        assert derived in hub.service(Followers).of(stream.topic)
        await hub._leave_if_empty(hub.rooms[derived])  # still subscribed: the room stays filed
        assert derived in hub.service(Followers).of(stream.topic)
    # The socket closed: the room is empty and lingers; then it closes, as its linger timer would.
    await hub._leave_if_empty(hub.rooms[derived])
    assert derived not in hub.rooms
    assert hub.service(Followers).of(stream.topic) == {stream.topic}
