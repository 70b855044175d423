"""Pacing: the server's request budget, mirrored so the client never goes over it. No I/O.

The server charges one token for every request (publish, subscribe, unsubscribe, ping) against a
bucket of `hello.request_rate` a second and `hello.request_burst` at once (realtime/limits.py). Over
it, requests are refused `rate_limited`, and refusals count toward the abuse limit that ends the
connection with 4429 and a 5-minute pause. So the client spends from its own copy of the bucket
before it sends anything, and what finds it empty waits its turn, in order. Rules shared with
realtime.js (`realtime.policy.RequestPacer`) through tests/protocol_cases.json:

- The copy runs a margin inside the server's: 90% of its rate, and a tenth of its burst (at least
  one) kept in reserve, so the two clocks drifting and the network delivering frames in bunches do not
  put the server's bucket below ours.
- Requests sent on a connection before its `hello` (the resubscribes on open) are spent from it.
- A `rate_limited` answer with `retry_after` empties the copy (the server says its bucket is empty)
  and nothing goes out until the pause is over (at most `MAX_PAUSE`: a stream's comment limit says
  `rate_limited` too, with pauses of many seconds meant for comments only; those hold publishes).
- A server whose `hello` announces no budget gets no pacing (as before budgets were announced).
"""

from __future__ import annotations

import math
from typing import Any

RATE_MARGIN = 0.9  # of the server's rate
BURST_RESERVE = 0.1  # of the server's burst, kept unspent (at least one request)
MAX_PAUSE = 1.0  # seconds a rate_limited answer may hold requests other than publishes


def _positive(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and value > 0
    return float(value) if ok else None


class RequestPacer:
    """A token bucket a margin inside the server's; times in seconds (any monotonic clock)."""

    def __init__(self, rate: float, burst: int, now: float, *, spent: int = 0) -> None:
        self.rate = rate * RATE_MARGIN
        self.burst = max(1, burst - max(1, math.ceil(burst * BURST_RESERVE)))
        self.tokens = float(self.burst - spent)
        self.stamp = now
        self.paused_until = 0.0  # the server asked us to wait (retry_after)

    @classmethod
    def from_hello(cls, hello: dict[str, Any], now: float, *, spent: int = 0) -> RequestPacer | None:
        """The pacer for a connection whose server said `hello`; None when it announces no budget."""
        rate, burst = _positive(hello.get("request_rate")), _positive(hello.get("request_burst"))
        if rate is None or burst is None:
            return None
        return cls(rate, int(burst), now, spent=spent)

    def _refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(float(self.burst), self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now

    def take(self, now: float) -> bool:
        """Spend a token for one request to send now; False: it must wait (see `ready_at`)."""
        self._refill(now)
        # 1e-9: ten refills of a tenth of a token must make one, whatever floating point says.
        if now < self.paused_until or self.tokens < 1.0 - 1e-9:
            return False
        self.tokens -= 1.0
        return True

    def ready_at(self) -> float:
        """When `take` can next succeed."""
        missing = max(1.0 - self.tokens, 0.0)
        return max(self.stamp + missing / self.rate, self.paused_until)

    def refused(self, retry_after: float, now: float) -> None:
        """The server answered `rate_limited` with this `retry_after`: its bucket is empty."""
        self._refill(now)
        self.tokens = min(self.tokens, 0.0)
        self.paused_until = max(self.paused_until, now + min(retry_after, MAX_PAUSE))
