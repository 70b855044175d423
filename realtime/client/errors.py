"""Errors the client raises, and which server error codes are refusals and which are failures.

A refusal (forbidden, banned, bad_message, ...) is the server's decision about this request: asking
again gets the same answer, so it goes to the caller. A failure (`unavailable`, `internal_error`, and
for publishes `too_many_in_flight`) says nothing about the request: the client asks again by itself.
"""

from __future__ import annotations

from typing import Any

# Subscribes refused for these are sent again after `retry_after` (else the backoff), as realtime.js.
SUBSCRIBE_RETRY_CODES = frozenset({"unavailable", "internal_error"})
# Publishes answered with these are re-sent, same frame and client_id, after `retry_after`.
PUBLISH_RETRY_CODES = frozenset({"too_many_in_flight", "unavailable", "internal_error"})


def publish_is_retried(code: str, retry_after: float | None) -> bool:
    """Whether a publish answered with error `code` is sent again rather than rejected.

    `rate_limited` with a `retry_after` is the connection's request budget telling us to slow down:
    waiting is the whole fix. Without one it is a final refusal (protocol-decisions).
    """
    if code in PUBLISH_RETRY_CODES:
        return True
    return code == "rate_limited" and retry_after is not None


def subscribe_is_retried(code: str, retry_after: float | None = None) -> bool:
    """Whether a subscribe refused with `code` is sent again rather than given up (`rate_limited`
    with a `retry_after`: the request budget's "not now", as for publishes)."""
    if code in SUBSCRIBE_RETRY_CODES:
        return True
    return code == "rate_limited" and retry_after is not None


class RealtimeError(Exception):
    """A refusal from the server (`code` as in docs/reference/codes.md) or a local one.

    Local codes: `connection_lost` (sent, the connection dropped before the answer, and it may not be
    re-sent: it may or may not have been done), `timeout`, `closed`, `signed_out`, `auth_failed`,
    `unsubscribed`. Switch on `code`, never on the message.
    """

    def __init__(self, code: str, message: str = "", frame: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.frame = frame
        retry_after = (frame or {}).get("retry_after")
        self.retry_after: float | None = (
            float(retry_after)
            if isinstance(retry_after, int | float) and not isinstance(retry_after, bool)
            else None
        )

    @classmethod
    def from_frame(cls, frame: dict[str, Any]) -> RealtimeError:
        return cls(str(frame.get("code") or "error"), str(frame.get("message") or ""), frame)
