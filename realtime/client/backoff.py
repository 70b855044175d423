"""When to try again: the reconnect policy shared with realtime.js, as pure functions of a random draw.

Full jitter (uniform in [0, min(cap, base * 2**attempt)]) so a restarted server is not met by every
client at the same instant; the attempt counter resets only when a server says `hello`, so an
accept-then-close loop still slows down. tests/protocol_cases.json holds the figures both clients obey.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

BACKOFF_BASE = 1.0  # seconds
BACKOFF_CAP = 30.0
# 1001 is a planned restart (daphne got SIGTERM): come back soon, spread over this window, and do not
# count it as a failure (protocol-decisions: "reconnect soon", no backoff penalty).
RESTART_WINDOW = 1.0
# After a policy close the server thinks we misbehaved; hammering it again would only repeat that.
POLICY_PAUSE = 300.0
POLICY_CODES = frozenset({4429, 1008})
# 4029: the user already holds the most sockets the server allows; retrying fast is refused again.
CROWDED_PAUSE = 60.0

Random = Callable[[], float]


def backoff_delay(attempt: int, random: Random) -> float:
    """Seconds to wait before connection attempt number `attempt` (0 = the first retry)."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(attempt, 0))
    return random() * ceiling


@dataclass(frozen=True)
class Decision:
    """What to do after the server (or the network) ended a connection.

    `action` is one of "reconnect" (with backoff), "reconnect_soon" (1001), "refresh_ticket" (4001:
    a new ticket, then reconnect), "retry_after" (4013), "pause" (4029, 4429) or "stop"; `delay` is in
    seconds (None for "stop"); `reason` names why the client is not live, as realtime.js's `reason`.
    """

    action: str
    delay: float | None
    reason: str | None = None


class Reconnect:
    """The attempt counter and the close-code table (docs/reference/codes.md, "Close codes")."""

    def __init__(self, random: Random, *, has_tickets: bool) -> None:
        self.random = random
        self.has_tickets = has_tickets
        self.attempt = 0

    def greeted(self) -> None:
        """A server said `hello`: it serves us, so the next failure starts the backoff again."""
        self.attempt = 0

    def failed(self) -> Decision:
        """The connection could not be made at all (refused, DNS, the ticket URL down)."""
        return self._backoff("reconnect", None)

    def after_close(self, code: int | None, retry_after: float | None = None) -> Decision:
        """The decision for a close with `code` (None: no close frame, a network drop, as 1006).

        `retry_after` is the one an `unavailable` error without `ref` gave just before a 4013.
        """
        if code == 4003:
            return Decision("stop", None, "signed_out")
        if code == 4001:
            # With a ticket source a fresh ticket fixes it; a fixed ticket or a cookie will not change.
            if not self.has_tickets:
                return Decision("stop", None, "auth_failed")
            return self._backoff("refresh_ticket", "auth_failed")
        if code == 1001:
            return Decision("reconnect_soon", self.random() * RESTART_WINDOW, None)
        if code in POLICY_CODES:
            return self._pause(POLICY_PAUSE, "policy")
        if code == 4029:
            return self._pause(CROWDED_PAUSE, "too_many_connections")
        if code == 4013:
            # Jitter on top of the server's pause, so a database coming back is not met all at once.
            delay = (retry_after or 0.0) + backoff_delay(self.attempt, self.random)
            self.attempt += 1
            return Decision("retry_after", delay, "unavailable")
        # 1000 included: daphne's websocket_timeout ends sockets that way; only close() means stop.
        return self._backoff("reconnect", None)

    def _backoff(self, action: str, reason: str | None) -> Decision:
        delay = backoff_delay(self.attempt, self.random)
        self.attempt += 1
        return Decision(action, delay, reason)

    def _pause(self, delay: float, reason: str) -> Decision:
        self.attempt += 1
        return Decision("pause", delay, reason)
