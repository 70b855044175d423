"""Adaptive coalescing (`realtime.hub.pacing`): the window stays at the floor while the process keeps up,
widens (bounded) while the fan-out falls behind, and narrows again when the load drops.

The pacer is pure logic, so most tests drive it with a simulated process: a room whose events arrive at
`rate` a second and whose flush costs `cost` seconds of writes (one write per viewer). The last test runs
a real `Room` whose sockets are slow to write.
"""

from __future__ import annotations

import asyncio
import json
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from realtime.hub import pacing
from realtime.hub.pacing import Pacer
from realtime.hub.room import Room
from realtime.transport import Frame

FLOOR, CEILING = 0.05, 0.5


def drive(pacer: Pacer, rate: float, cost: float, seconds: float, now: float) -> tuple[float, list[float]]:
    """Simulate `seconds` of one busy room: a flush every max(1/rate, window), each taking `cost`.
    Returns the clock at the end and the window after each flush."""
    windows = []
    end = now + seconds
    while now < end:
        gap = max(1.0 / rate, pacer.current())
        late = max(cost - gap, 0.0)  # the loop is still writing the last frame when the next is due
        now += max(gap, cost)
        pacer.flushed(late, cost, now)
        windows.append(pacer.current())
    return now, windows


# A load: events a second, seconds of fan-out writes per flush, and how long it lasts.
loads = st.tuples(
    st.floats(min_value=1, max_value=500), st.floats(min_value=0, max_value=0.3), st.floats(0.1, 3)
)


@settings(max_examples=200, deadline=None)
@given(st.lists(loads, min_size=1, max_size=8))
def test_the_window_stays_between_floor_and_ceiling(sequence):
    pacer, now = Pacer(FLOOR, CEILING), 0.0
    for rate, cost, seconds in sequence:
        now, windows = drive(pacer, rate, cost, seconds, now)
        assert all(FLOOR <= w <= CEILING for w in windows)


@settings(max_examples=200, deadline=None)
@given(rate=st.floats(min_value=20, max_value=500), viewers=st.integers(6_000, 20_000))
def test_it_widens_while_the_fanout_falls_behind_and_narrows_after(rate, viewers):
    cost = viewers * 5e-6  # 5 us a socket write: at the floor this takes over half the time
    pacer, now = Pacer(FLOOR, CEILING), 0.0
    assert cost * min(rate, 1 / FLOOR) > pacing.BUSY_HIGH
    now, windows = drive(pacer, rate, cost, 3.0, now)
    assert windows[-1] > FLOOR
    # Behind by the last judgement: widened as far as the ceiling allows, or enough to keep up.
    share = cost / max(1 / rate, windows[-1])
    assert windows[-1] == CEILING or share <= pacing.BUSY_HIGH
    # The load drops to a small room: within two seconds it is back at the floor.
    now, windows = drive(pacer, 20, 0.0005, 2.0, now)
    assert windows[-1] == FLOOR


@settings(max_examples=100, deadline=None)
@given(rate=st.floats(min_value=1, max_value=200), cost=st.floats(min_value=0, max_value=0.004))
def test_a_process_that_keeps_up_keeps_the_floor(rate, cost):
    """1000 viewers x 20/s costs about 5 ms a flush: the window never moves (latency as before)."""
    pacer = Pacer(FLOOR, CEILING)
    _, windows = drive(pacer, rate, cost, 5.0, 0.0)
    assert set(windows) == {FLOOR}


@settings(max_examples=100, deadline=None)
@given(rate=st.floats(min_value=5, max_value=500), cost=st.floats(min_value=0.001, max_value=0.3))
def test_a_constant_load_settles_on_one_window(rate, cost):
    """Doubling halves the share and BUSY_LOW < BUSY_HIGH / 2: no flapping between two windows."""
    pacer, now = Pacer(FLOOR, CEILING), 0.0
    now, _ = drive(pacer, rate, cost, 5.0, now)
    _, windows = drive(pacer, rate, cost, 3.0, now)
    assert len(set(windows)) == 1


def test_late_flushes_widen_it_even_when_writes_are_cheap():
    """Another part of the process keeps the loop busy: timers fire late, so the rooms coalesce more."""
    pacer, now = Pacer(FLOOR, CEILING), 0.0
    for _ in range(10):
        now += 0.1
        pacer.flushed(0.2, 0.001, now)
    assert pacer.current() > FLOOR


def test_a_quiet_spell_brings_it_back_at_once():
    pacer = Pacer(FLOOR, CEILING)
    pacer.window = CEILING
    pacer.flushed(0.0, 0.0001, 1.0)
    pacer.flushed(0.0, 0.0001, 60.0)
    assert pacer.current() == FLOOR


def test_from_zero_and_fixed_windows():
    """A floor of 0 (coalescing off while keeping up) widens in STEPs; ceiling <= floor: fixed."""
    off = Pacer(0.0, CEILING)
    _, windows = drive(off, 200, 0.02, 2.0, 0.0)
    assert windows[-1] >= pacing.STEP
    _, windows = drive(off, 20, 0.0001, 2.0, 10.0)
    assert windows[-1] == 0.0
    fixed = Pacer(0.2, 0.1)
    _, windows = drive(fixed, 500, 0.3, 2.0, 0.0)
    assert set(windows) == {0.2}


# -- a room with slow sockets ------------------------------------------------------------------------
class SlowSocket:
    """A socket whose every write costs `cost` seconds of the loop's time (a big room in one socket)."""

    def __init__(self, cost: float) -> None:
        self.writer = self
        self.cost = cost
        self.frames: list[int] = []  # messages per frame received

    def write(self, frame: Frame) -> bool:
        time.sleep(self.cost)
        message = json.loads(frame.text)
        self.frames.append(len(message["messages"]) if message["type"] == "batch" else 1)
        return True


async def test_a_room_whose_fanout_falls_behind_batches_more_then_recovers():
    pacer = Pacer(0.01, 0.2)

    async def no_reads(topic: str, after: int, upto: int) -> list:
        return []

    room = Room(
        "broadcast.all",
        persistent=False,
        limit=10,
        window=pacer.current,
        read_range=no_reads,
        on_flush=pacer.flushed,
    )
    socket = SlowSocket(0.012)  # each flush takes 12 ms: more than the 10 ms floor
    room.add(socket, None)
    room.start(room.subs[socket], None, '{"type": "subscribed"}')
    socket.frames.clear()
    for _ in range(150):  # 1.5 s of an event every 10 ms
        room.push('{"type":"event"}')
        await asyncio.sleep(0.01)
    assert pacer.current() > 0.01
    assert max(socket.frames[-20:]) > 1  # several events a frame now: fewer writes
    socket.cost = 0.0
    for _ in range(60):  # the sockets are fast again: back to the floor
        room.push('{"type":"event"}')
        await asyncio.sleep(0.01)
    assert pacer.current() == 0.01
    room.close()
