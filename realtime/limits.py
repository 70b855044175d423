"""Per-connection and per-process limits: how much one client may ask of a process.

Three bounds, all enforced without waiting for the database, so refusing costs less than obeying:

- `RequestBudget`: a token bucket per connection (`REQUEST_RATE` a second on average, `REQUEST_BURST`
  at once, both announced in `hello` so clients pace themselves) that also caps the requests waiting
  for their answer. Requests over it are answered `rate_limited` with a `retry_after`, and those
  refusals count toward the abuse limit: a client told to slow down that keeps sending is flooding.
  Until that `retry_after` is over every request is refused (see `OverBudget`).
- `AbuseCounter`: refusals only a broken or hostile client earns; past `ABUSE_LIMIT` within
  `ABUSE_WINDOW` seconds the connection is closed with 4429.
- `ConnectionCounter`: live sockets per user and per anonymous client address in this process
  (`MAX_CONNECTIONS_PER_USER`, `MAX_CONNECTIONS_PER_ADDRESS`); the next one is refused with
  `too_many_connections` and close 4029. With several processes the bound is per process
  (docs/security.md).
"""

from __future__ import annotations

import functools
import ipaddress
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext as _

from .conf import realtime_settings
from .exceptions import ProtocolError

if TYPE_CHECKING:
    from .hub import Hub


class OverBudget(ProtocolError):
    """`rate_limited` from the request budget; `excused`: not counted toward the abuse limit."""

    def __init__(self, message: str, *, retry_after: float, excused: bool) -> None:
        super().__init__("rate_limited", message, retry_after=retry_after)
        self.excused = excused


class RequestBudget:
    """Token bucket: `rate` requests a second, `burst` at once; judged when a frame arrives.

    A refusal says `retry_after`, and until then every request is refused (a quiet period). Why:
    a client learns of the refusal a round trip late, and what it sent meanwhile must not be carried
    out ahead of the refused request's retry (one connection's comments stay in order). Those
    refusals are the client's own frames already on the wire, not flooding, so they are `excused`,
    up to `burst` of them per `window` seconds (more than a client can have on the wire when it obeys
    the budget): a client that ignores `retry_after` and keeps sending is still counted, and closed.
    """

    __slots__ = ("rate", "burst", "window", "tokens", "stamp", "quiet_until", "excused")

    def __init__(self, rate: float, burst: int, *, window: float = 10.0) -> None:
        self.rate = rate
        self.burst = burst
        self.window = window
        self.tokens = float(burst)
        self.stamp = time.monotonic()
        self.quiet_until = 0.0  # the retry_after of the last refusal that counted ends here
        # When refusals inside a quiet period were excused. Made on the first such refusal: an empty
        # deque is 760 bytes, and almost every connection keeps its budget for life without one.
        self.excused: deque[float] | None = None

    def refusal(self, waiting: int) -> OverBudget | None:
        """Take a token for one more request, or say why not (`waiting`: requests not yet answered)."""
        now = time.monotonic()
        self.tokens = min(float(self.burst), self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if now < self.quiet_until:
            if self.excused is None:
                self.excused = deque()
            while self.excused and self.excused[0] < now - self.window:
                self.excused.popleft()
            excused = len(self.excused) < self.burst
            if excused:
                self.excused.append(now)
            return OverBudget(
                _("Too many requests: at most %(rate)s a second on one connection.")
                % {"rate": f"{self.rate:g}"},
                retry_after=max(self.quiet_until - now, 0.01),
                excused=excused,
            )
        if waiting >= self.burst:
            # The server is behind on this connection's earlier requests (a slow database, or a client
            # that sends faster than anyone reads): refuse instead of queueing without bound.
            message = _(
                "%(count)s requests are still waiting for their answers; wait for them before sending more."
            ) % {"count": waiting}
            retry_after = 1.0
        elif self.tokens < 1.0:
            message = _("Too many requests: at most %(rate)s a second on one connection.") % {
                "rate": f"{self.rate:g}"
            }
            retry_after = max((1.0 - self.tokens) / self.rate, 0.1)
        else:
            self.tokens -= 1.0
            return None
        self.quiet_until = now + retry_after
        return OverBudget(message, retry_after=retry_after, excused=False)

    @classmethod
    def from_settings(cls) -> RequestBudget:
        return cls(
            float(realtime_settings.REQUEST_RATE),
            int(realtime_settings.REQUEST_BURST),
            window=float(realtime_settings.ABUSE_WINDOW),
        )


class AbuseCounter:
    """Refusals that count toward the policy close, in a sliding window."""

    __slots__ = ("limit", "window", "times")

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self.times: deque[float] = deque()

    def add(self) -> bool:
        """Count one; True once the limit is passed (close the connection)."""
        now = time.monotonic()
        self.times.append(now)
        while self.times and self.times[0] < now - self.window:
            self.times.popleft()
        return len(self.times) > self.limit

    @classmethod
    def from_settings(cls) -> AbuseCounter:
        return cls(int(realtime_settings.ABUSE_LIMIT), float(realtime_settings.ABUSE_WINDOW))


def client_address(scope: dict[str, Any]) -> str | None:
    """The client's address for the per-address cap, or None when it must not be capped.

    daphne puts the peer's address in `scope["client"]`; with `--proxy-headers` it is the one the
    trusted proxy put in X-Forwarded-For. Addresses that are not globally routable (loopback, private,
    link-local, shared) are not capped: that is what a proxy's own address looks like when daphne runs
    without `--proxy-headers`, and capping it would cap every anonymous visitor of the site together.
    """
    client = scope.get("client")
    if not client:
        return None
    return _capped_address(str(client[0]))


@functools.lru_cache(maxsize=4096)
def _capped_address(host: str) -> str | None:
    # Cached: parsing an address was ~10 us of every connect, and a connect storm repeats a few
    # addresses (a proxy's, reconnecting clients') thousands of times.
    try:
        address = ipaddress.ip_address(host)
    except ValueError:  # a unix socket path, or no address at all
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address) if address.is_global else None


class ConnectionCounter:
    """Live connections per user and per anonymous address in this process (a hub service)."""

    def __init__(self, hub: Hub) -> None:
        self.live: dict[tuple[str, Any], int] = {}

    def admit(self, user_id: int | None, scope: dict[str, Any]) -> tuple[str, Any] | None:
        """Count a new connection; its key (give it back to `release`), or raise `too_many_connections`.
        None: nothing to count (an anonymous client whose address is not capped, or no cap set)."""
        if user_id is not None:
            key: tuple[str, Any] = ("user", user_id)
            cap = realtime_settings.MAX_CONNECTIONS_PER_USER
            too_many = _(
                "At most %(max)s connections are allowed for this user; close some (other tabs or devices) "
                "before opening another."
            )
        else:
            address = client_address(scope)
            if address is None:
                return None
            key = ("address", address)
            cap = realtime_settings.MAX_CONNECTIONS_PER_ADDRESS
            too_many = _(
                "At most %(max)s connections are allowed for this address (without logging in); close some "
                "(other tabs or devices) before opening another."
            )
        if cap is None:
            return None
        count = self.live.get(key, 0)
        if count >= int(cap):
            raise ProtocolError("too_many_connections", too_many % {"max": cap})
        self.live[key] = count + 1
        return key

    def release(self, key: tuple[str, Any]) -> None:
        count = self.live.get(key, 0) - 1
        if count > 0:
            self.live[key] = count
        else:
            self.live.pop(key, None)
