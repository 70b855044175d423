"""A dependency that is failing (the channel layer, the database), logged when it starts and when it ends.

Every failed attempt in between is a debug line, not a warning: a Redis outage during which hundreds of
publishes, receives and probes fail is two warnings in the log, not hundreds. A failure within
`RELAPSE_WINDOW` of coming back is a relapse, and says so: a Redis Sentinel failover settles that way (the
first connection finds the new primary, the next asks a sentinel that does not yet vouch for it).
"""

from __future__ import annotations

import logging
import time

from .ops import metrics

logger = logging.getLogger("realtime.hub")

# Seconds after an outage ends within which a new failure is reported as a relapse of it.
RELAPSE_WINDOW = 10.0


class Outage:
    """A dependency (the layer, the database) that is failing: logged when it starts and when it ends,
    not on every failed attempt in between."""

    def __init__(self, what: str, consequence: str) -> None:
        self.what = what
        self.consequence = consequence
        # time.monotonic() of the first failure, not a loop's clock: a layer link is shared by every event
        # loop of the process (async_to_sync in a worker makes one per call).
        self.since: float | None = None
        self.failures = 0
        self.ended: float | None = None  # time.monotonic() the last outage ended

    @property
    def down(self) -> bool:
        return self.since is not None

    def failed(self, exc: BaseException, during: str) -> bool:
        """Record a failure; True (and one warning) if it starts an outage."""
        self.failures += 1
        if self.since is not None:
            logger.debug("%s still unavailable (%s: %s)", self.what, during, exc)
            return False
        self.since = time.monotonic()
        metrics.outage_started(self.what)
        if self.ended is not None and self.since - self.ended < RELAPSE_WINDOW:
            logger.warning(
                "%s unavailable again %.1f s after it came back (%s: %s); retrying quietly.",
                self.what,
                self.since - self.ended,
                during,
                str(exc) or type(exc).__name__,
            )
            return True
        logger.warning(
            "%s unavailable (%s: %s); %s. Retrying quietly until it answers.",
            self.what,
            during,
            str(exc) or type(exc).__name__,
            self.consequence,
        )
        return True

    def answered(self, detail: str = "") -> float | None:
        """The dependency worked: end the outage (logged once); its length in seconds, if there was one."""
        if self.since is None:
            return None
        length = time.monotonic() - self.since
        metrics.outage_ended(self.what, length)
        logger.warning(
            "%s back after %.1f s (%d failed attempts)%s",
            self.what,
            length,
            self.failures,
            f"; {detail}" if detail else "",
        )
        self.since, self.failures, self.ended = None, 0, time.monotonic()
        return length
