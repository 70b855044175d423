"""Adaptive coalescing: how long a room gathers events before one frame carries them to every socket.

Why: a room sends one frame per window to each of its sockets, so a room of 10,000 viewers at 20
events a second costs 200,000 socket writes a second with a 50 ms window (one event per frame) and
50,000 with a 200 ms one. A fixed window must choose between latency in a normal room and keeping up in
a big one; this one chooses per process, from what the fan-out costs right now.

The rule (docs/performance.md): every flush of every room reports how late it started (its due time vs
the loop's clock: a loop behind on its work fires timers late) and how long its writes took. Every
`PERIOD` seconds the process's window is judged on the share of that time spent writing frames:

- more than `BUSY_HIGH` of the time in fan-out, or a flush started more than `LAG_HIGH` late: the window
  doubles (at least `STEP`), up to the ceiling (`COALESCE_WINDOW_MAX`);
- less than `BUSY_LOW` and no late flush: the window halves, down to the floor (`COALESCE_WINDOW`),
  one halving per calm period (a process that went quiet comes back to the floor at once).

Doubling the window about halves the frames of a busy room, so a process judged busy moves to about
half the share; `BUSY_LOW` is under half of `BUSY_HIGH` so that narrowing again does not bring it
straight back over (no oscillation between two windows). A floor at or above the ceiling turns the
adaptation off: the window is the floor.

Pure logic: times are given to it (tests drive it with generated load, not a clock).
"""

from __future__ import annotations

from ..conf import realtime_settings

PERIOD = 0.25  # seconds between judgements: long enough to average several flushes
BUSY_HIGH = 0.5  # share of the time in fan-out writes above which the window widens
BUSY_LOW = 0.2  # share below which it narrows (< BUSY_HIGH / 2: see above)
LAG_HIGH = 0.1  # seconds a flush may start late before the loop counts as behind
STEP = 0.025  # the first widening from a floor of 0 (coalescing off while the process keeps up)


class Pacer:
    """The coalescing window of one process, widened and narrowed by the measured fan-out cost."""

    __slots__ = ("floor", "ceiling", "window", "started", "busy", "late")

    def __init__(self, floor: float, ceiling: float) -> None:
        self.floor = max(float(floor), 0.0)
        self.ceiling = max(float(ceiling), self.floor)
        self.window = self.floor
        self.started: float | None = None  # start of the period being measured
        self.busy = 0.0  # seconds of fan-out writes in this period
        self.late = 0.0  # the latest any flush started in this period

    @classmethod
    def from_settings(cls) -> Pacer:
        """Between COALESCE_WINDOW and COALESCE_WINDOW_MAX (None: a fixed window)."""
        ceiling = realtime_settings.COALESCE_WINDOW_MAX
        return cls(float(realtime_settings.COALESCE_WINDOW), float(0 if ceiling is None else ceiling))

    @property
    def adaptive(self) -> bool:
        return self.ceiling > self.floor

    def current(self) -> float:
        """The window now (what `Room` calls before scheduling a flush)."""
        return self.window

    def flushed(self, late: float, took: float, now: float) -> None:
        """A room flushed: it started `late` seconds after it was due, its writes took `took` seconds,
        and it ended at `now` (loop time)."""
        if not self.adaptive:
            return
        if self.started is None:
            self.started = now - took
        self.busy += took
        if late > self.late:
            self.late = late
        elapsed = now - self.started
        if elapsed >= PERIOD:
            self._judge(elapsed)
            self.started, self.busy, self.late = now, 0.0, 0.0

    def _judge(self, elapsed: float) -> None:
        share = self.busy / elapsed
        if share > BUSY_HIGH or self.late > LAG_HIGH:
            self.window = min(self.ceiling, max(self.window * 2, STEP, self.floor))
        elif share < BUSY_LOW:
            # A long quiet gap counts as that many calm periods: narrow once per period of it.
            halvings = min(int(elapsed / PERIOD), 16)
            window = self.window / (2**halvings)
            self.window = self.floor if window < max(self.floor, STEP) else window
