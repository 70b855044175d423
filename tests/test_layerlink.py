"""The one way to the channel layer (realtime.layerlink): every call bounded by LAYER_TIMEOUT, the layer
marked down by a timeout or an error, publishes and joins failing at once while it is down, the hub's
probe marking it up, and the hub working through a layer that stops answering (a stand-in for a frozen
Redis here; the real one, SIGSTOPped under two daphne processes: tests/test_faults_frozen.py)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from pathlib import Path

import pytest
from channels.layers import InMemoryChannelLayer, get_channel_layer

from realtime import abroadcast
from realtime.eventlog import StoredEvent
from realtime.hub import Hub, get_hub
from realtime.layerlink import LATE_CEILING, LayerLink, LayerUnavailable, link_for
from realtime.testing import RealtimeClient, bound_to, override_realtime
from realtime.topics.names import CONTROL_GROUP, group_for_topic

TOPIC = "broadcast.all"
BOUND = 0.3  # LAYER_TIMEOUT in these tests


class FreezableLayer(InMemoryChannelLayer):
    """The in-memory layer, able to stop answering without failing, as a frozen Redis does: every call
    made while it is frozen waits until it thaws (messages sent meanwhile are not lost; receives wait)."""

    def __init__(self) -> None:
        super().__init__(capacity=1000)
        self.thawed = asyncio.Event()
        self.thawed.set()
        self.calls: list[str] = []

    def freeze(self) -> None:
        self.thawed.clear()

    def thaw(self) -> None:
        self.thawed.set()

    async def _answer(self, name: str) -> None:
        self.calls.append(name)
        await self.thawed.wait()

    async def group_add(self, group, channel):
        await self._answer("group_add")
        return await super().group_add(group, channel)

    async def group_discard(self, group, channel):
        await self._answer("group_discard")
        return await super().group_discard(group, channel)

    async def group_send(self, group, message):
        await self._answer("group_send")
        return await super().group_send(group, message)


@pytest.fixture
def bound():
    with override_realtime(LAYER_TIMEOUT=BOUND):
        yield BOUND


@pytest.fixture
def often():
    """LAYER_TIMEOUT as `bound`, and the hubs' database sync every 0.2 s."""
    with override_realtime(LAYER_TIMEOUT=BOUND, SYNC_INTERVAL=0.2):
        yield BOUND


async def within(seconds, awaitable):
    """Fails (instead of hanging the suite) if `awaitable` is not done within `seconds`."""
    return await asyncio.wait_for(awaitable, seconds)


async def wait_for(condition, seconds=5.0):
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110 (state of other tasks, polled)
            await asyncio.sleep(0.02)


# -- the link alone -------------------------------------------------------------------------------
async def test_a_call_that_never_answers_is_cut_at_the_bound_and_marks_the_layer_down(bound):
    layer = FreezableLayer()
    link = LayerLink(layer)
    changes = []
    link.listen(changes.append)
    layer.freeze()
    assert await within(5, link.group_send(TOPIC.replace(".", "-"), {"type": "x"}, during="a test")) is False
    assert link.down and changes == [False]
    with pytest.raises(LayerUnavailable) as raised:
        await link.call("a test", lambda: layer.group_add("g", "c"), probe=True)
    assert isinstance(raised.value.__cause__, TimeoutError)
    assert "LAYER_TIMEOUT" in str(raised.value)


async def test_while_the_layer_is_down_calls_fail_at_once_without_reaching_it(bound):
    layer = FreezableLayer()
    link = LayerLink(layer)
    layer.freeze()
    assert await within(5, link.group_send("g", {"type": "x"}, during="a test")) is False
    link.watch()  # a hub's health probe is watching this layer
    made = len(layer.calls)
    for _ in range(20):  # each would wait out the bound if it tried
        assert await within(BOUND / 2, link.group_send("g", {"type": "x"}, during="a test")) is False
        assert await within(BOUND / 2, link.group_add("g", "c", during="a test")) is False
    with pytest.raises(LayerUnavailable):
        await link.call("a test", lambda: layer.group_discard("g", "c"))
    assert len(layer.calls) == made


async def test_the_probe_reaches_a_down_layer_and_its_answer_marks_it_up(bound):
    layer = FreezableLayer()
    link = LayerLink(layer)
    changes = []
    link.listen(changes.append)
    layer.freeze()
    assert not await within(5, link.group_add("g", "c", during="a test"))
    layer.thaw()
    assert await link.group_add("g", "c", during="the probe", probe=True)  # tried though down
    assert link.down  # a probe's success alone says nothing: the hub re-joins, then marks it up
    link.answered("re-joined")
    assert not link.down and changes == [False, True]
    assert await link.group_send("g", {"type": "x"}, during="a test")


async def test_without_a_probe_one_call_at_a_time_tries_the_layer_and_marks_it_up(bound):
    """A shell or a task worker has no hub probing: there one call at a time is the probe."""
    layer = FreezableLayer()
    link = LayerLink(layer)
    layer.freeze()
    assert not await within(5, link.group_send("g", {"type": "x"}, during="a test"))
    trial = asyncio.ensure_future(link.group_send("g", {"type": "x"}, during="a test"))
    await asyncio.sleep(0)
    made = len(layer.calls)
    assert not await within(BOUND / 2, link.group_send("g", {"type": "x"}, during="a test"))  # at once
    assert len(layer.calls) == made
    layer.thaw()
    assert await within(5, trial)  # the one trying got through: the layer is up again for everyone
    assert not link.down
    assert await link.group_send("g", {"type": "x"}, during="a test")


class RoundTripLayer(InMemoryChannelLayer):
    """Answers every call promptly, in `trips` short round trips (as a Redis call does: a connection
    from the pool, the command, its reply), each a fresh turn of the event loop."""

    async def group_send(self, group, message):
        for _ in range(5):
            await asyncio.sleep(0.01)
        return await super().group_send(group, message)


async def hog(seconds, per_turn):
    """Keep the event loop busy for `seconds`, blocking it `per_turn` at a time (a saturated loop)."""
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    while loop.time() < until:
        time.sleep(per_turn)  # noqa: ASYNC251 (the point: our own loop is late)
        await asyncio.sleep(0)


async def test_a_busy_loop_reading_prompt_answers_late_does_not_mark_the_layer_down(bound):
    """Each of the call's round trips waits a 0.2 s turn of our own saturated loop: about 1.2 s in wall
    time for a call of 0.05 s on the wire. Our lateness, not the layer's: the call answers, the layer
    stays up (with the wall-clock bound it timed out at 0.3 s and paused live delivery)."""
    layer = RoundTripLayer()
    link = LayerLink(layer)
    busy = asyncio.ensure_future(hog(1.5, 0.2))
    await asyncio.sleep(0)
    started = time.monotonic()
    assert await within(10, link.group_send("g", {"type": "x"}, during="a test")) is True
    assert time.monotonic() - started > 2 * BOUND  # it did outlast the bound in wall time
    assert not link.down
    await busy


async def test_a_frozen_layer_is_still_cut_at_the_bound_when_the_loop_is_idle_or_saturated(bound):
    layer = FreezableLayer()
    layer.freeze()
    link = LayerLink(layer)
    started = time.monotonic()
    assert await within(5, link.group_send("g", {"type": "x"}, during="a test")) is False
    assert BOUND <= time.monotonic() - started < BOUND + 0.15  # idle loop: the bound, no more
    assert link.down
    link = LayerLink(layer)
    busy = asyncio.ensure_future(hog(10, 0.2))
    started = time.monotonic()
    assert await within(8, link.group_send("g", {"type": "x"}, during="a test")) is False
    # Saturated for ever (10 s): cut at the ceiling, plus the few 0.2 s turns of the loop that the
    # cancellation and the answer take to run (each await is two or three turns here).
    assert time.monotonic() - started <= LATE_CEILING * BOUND + 8 * 0.2
    assert link.down
    busy.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await busy


async def test_the_callers_mistakes_do_not_mark_the_layer_down(bound):
    layer = InMemoryChannelLayer()
    link = LayerLink(layer)
    assert await link.group_send("not a valid group!", {"type": "x"}, during="a test") is False
    with pytest.raises(TypeError):
        await link.group_add("not a valid group!", "c", during="a test")
    assert not link.down


async def test_one_link_per_layer_shared_by_the_hub_and_broadcast():
    hub = await get_hub()
    assert hub.link is link_for(get_channel_layer()) is link_for(hub.layer)
    assert link_for(InMemoryChannelLayer()) is not hub.link


# -- the hub through a layer that stops answering ---------------------------------------------------
@pytest.mark.django_db(transaction=True)
async def test_a_hub_on_a_layer_that_stops_answering_keeps_serving_and_recovers_when_it_thaws(often):
    layer = FreezableLayer()
    hub = Hub(layer)
    await hub.start()
    try:
        layer.freeze()
        with bound_to(hub):
            client = RealtimeClient()
        await client.__aenter__()
        # A new room while the layer does not answer: its group_add is cut at the bound, the subscribe
        # answers, and the room works from the database meanwhile.
        assert (await within(BOUND + 2, client.subscribe(TOPIC)))["type"] == "subscribed"
        assert not hub.rooms[TOPIC].joined
        assert hub.link.down and not hub.health.up.is_set()
        stored = await abroadcast(TOPIC, "broadcast", {"n": 1})  # on the default layer: not this hub's
        assert (await client.receive_event("broadcast", timeout=3))["id"] == stored  # the database sync

        # Publishes fail at once now, without waiting out the bound.
        ping = StoredEvent(topic=TOPIC, name="ping", data={"live": True})  # ephemeral: the layer or nothing
        made = len(layer.calls)
        assert await within(BOUND / 2, hub.publish_many(TOPIC, [ping])) is False
        assert await within(BOUND / 2, hub.send_to_hubs({"type": "x.report"})) is False
        assert len(layer.calls) == made

        layer.thaw()
        await wait_for(lambda: hub.health.up.is_set() and not hub.link.down, 5)  # the probe, ~1 s
        await wait_for(lambda: hub.rooms[TOPIC].joined, 5)
        assert hub.channel in layer.groups.get(group_for_topic(TOPIC), {})
        assert hub.channel in layer.groups.get(CONTROL_GROUP, {})
        assert await hub.publish_many(TOPIC, [ping])
        assert (await client.receive_event("ping", timeout=3))["data"] == {"live": True}  # live again
        await client.__aexit__(None, None, None)
    finally:
        layer.thaw()
        await hub.stop()


async def test_a_hub_started_while_the_layer_does_not_answer_starts_and_joins_later(bound):
    layer = FreezableLayer()
    layer.freeze()
    hub = Hub(layer)
    try:
        await within(BOUND + 2, hub.start())  # was: for ever, and no `hello` for anyone
        assert hub.channel and hub.link.down
        assert hub.channel not in layer.groups.get(CONTROL_GROUP, {})
        layer.thaw()
        await wait_for(lambda: hub.channel in layer.groups.get(CONTROL_GROUP, {}), 5)
        await wait_for(lambda: not hub.link.down, 5)
    finally:
        layer.thaw()
        await hub.stop()


async def test_stopping_a_hub_while_the_layer_does_not_answer_takes_one_bound_at_most(bound):
    layer = FreezableLayer()
    hub = Hub(layer)
    await hub.start()
    layer.freeze()
    await within(BOUND * 3, hub.stop())
    layer.thaw()


@pytest.mark.django_db(transaction=True)
async def test_the_in_memory_layer_path_is_unchanged():
    """The embedded default: a publish arrives live, the link stays up, nothing waits on a bound."""
    hub = await get_hub()
    async with RealtimeClient() as client:
        await client.subscribe(TOPIC)
        event_id = await abroadcast(TOPIC, "broadcast", {"n": 1})
        assert (await client.receive_event("broadcast", timeout=3))["id"] == event_id
    assert not hub.link.down and hub.health.up.is_set()


# -- one way to the layer -------------------------------------------------------------------------
DIRECT_CALL = re.compile(
    r"(\blayer\b|_layer\(\)|get_channel_layer\(\))\s*\.\s*(group_send|group_add|group_discard|new_channel|"
    r"receive|send)\s*\("
)


def test_nothing_in_the_app_calls_the_layer_except_through_the_link():
    """Every call the app makes to a channel layer goes through realtime.layerlink (so it is bounded and
    knows whether the layer is up); lambdas handed to the link are the only other place allowed."""
    root = Path(__file__).resolve().parent.parent / "realtime"
    offenders = []
    for path in root.rglob("*.py"):
        if path.name in ("layerlink.py", "testing.py"):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if DIRECT_CALL.search(line) and "lambda" not in line:
                offenders.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    assert offenders == [], offenders


async def test_a_failure_noticed_in_another_thread_reaches_the_hubs_loop(bound):
    """Sync code (a view's broadcast(), a worker) reaches the layer from threads; what it learns is the
    hub's to act on, in the hub's own loop."""
    layer = FreezableLayer()
    hub = Hub(layer)
    await hub.start()
    try:
        await asyncio.sleep(0.1)  # the probe's first tick, which runs at once, is done
        await asyncio.to_thread(hub.link.failed, ConnectionError("refused"), "publishing from a thread")
        await wait_for(lambda: not hub.health.up.is_set())
        await asyncio.to_thread(hub.link.answered, "a thread's call went through")
        await wait_for(lambda: hub.health.up.is_set())
    finally:
        await hub.stop()
    assert not hub.link._listeners  # a stopped hub stops listening


async def test_a_hub_whose_channel_could_not_be_made_starts_on_the_next_try(bound):
    """A failed start must not leave every later connection waiting for a start that never ends."""

    class NoChannelYet(FreezableLayer):
        refuse = True

        async def new_channel(self, prefix="specific"):
            if self.refuse:
                raise ConnectionError("refused")
            return await super().new_channel(prefix)

    layer = NoChannelYet()
    hub = Hub(layer)
    with pytest.raises(LayerUnavailable):
        await hub.start()
    layer.refuse = False
    try:
        await within(5, hub.start())
        assert hub.channel
    finally:
        await hub.stop()
