"""Errors a request can end in. Each carries a stable `code` the client can switch on."""

from __future__ import annotations


class ProtocolError(Exception):
    """A refused request: becomes an `error` envelope; the connection stays open.

    `code` is stable (documented in docs/protocol.md); `message` is for people and says how to fix it.
    """

    def __init__(self, code: str, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after


class Denied(ProtocolError):
    """The user may not do this (subscribe, publish): `auth_required`, `forbidden`, `banned`, ..."""

    def __init__(self, code: str = "forbidden", message: str = "You may not do that on this topic.", **kw):
        super().__init__(code, message, **kw)


class Unavailable(ProtocolError):
    """A server-side failure the client did not cause (database or channel layer down): retry later."""

    def __init__(
        self,
        message: str = "The server cannot do this right now; try again shortly.",
        *,
        retry_after: float = 2.0,
    ) -> None:
        super().__init__("unavailable", message, retry_after=retry_after)
