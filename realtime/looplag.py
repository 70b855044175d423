"""How late an event loop has been: the time a saturated loop kept its callbacks waiting.

Why: a layer call is bounded by `LAYER_TIMEOUT` (realtime.layerlink), and a call that times out marks
the layer down, which pauses live delivery. When our own loop is saturated (a join storm, a big
fan-out), a layer that answered at once still looks slow: its answer sits in the loop's queue behind
seconds of other work, a call needing several round trips waits that long at each one, and the bound
runs out in wall time. That is our lateness, not the layer being down.

A `LagMeter` ticks every `TICK` seconds while someone needs it (a layer call in flight) and adds up how
late each tick ran: the seconds the loop could not run anything (under-counted by at most a tick per
late turn of the loop, so a call is never given more than the loop took from it). A layer call takes those seconds out
of its bound (`realtime.layerlink.LayerLink.call`): what is left is the time the call had on the wire.
On an idle loop ticks are on time (a millisecond at most), so a frozen Redis is still cut at the bound.
"""

from __future__ import annotations

import asyncio
import weakref

__all__ = ["TICK", "LagMeter"]

TICK = 0.01  # seconds between ticks while a call is in flight (about 100 callbacks a second)
# A timer fires up to a millisecond or so late on an idle loop (the poll's resolution): not lateness.
SLOP = 0.002

_meters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LagMeter] = weakref.WeakKeyDictionary()


class LagMeter:
    """The seconds this loop's callbacks were kept waiting, summed (only while a user holds it)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.late = 0.0  # seconds the ticks ran late, summed
        self.users = 0
        self.due: float | None = None  # loop time the next tick is due; None: not ticking

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> LagMeter:
        meter = _meters.get(loop)
        if meter is None:
            meter = _meters[loop] = cls(loop)
        return meter

    def total(self) -> float:
        """Seconds of lateness so far, counting the tick that is overdue right now (a loop blocked this
        very moment is late by as much as its tick waited)."""
        if self.due is None:
            return self.late
        return self.late + max(0.0, self.loop.time() - self.due - SLOP)

    def acquire(self) -> None:
        self.users += 1
        if self.due is None:
            self.due = self.loop.time() + TICK
            self.loop.call_at(self.due, self._tick)

    def release(self) -> None:
        self.users -= 1  # the ticker stops at its next tick once nobody holds it

    def _tick(self) -> None:
        now = self.loop.time()
        if self.due is not None:
            self.late += max(0.0, now - self.due - SLOP)
        if self.users > 0:
            self.due = now + TICK
            self.loop.call_at(self.due, self._tick)
        else:
            self.due = None
