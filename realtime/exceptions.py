"""Errors a request can end in. Each carries a stable `code` the client can switch on."""

from __future__ import annotations

from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

# The default messages, lazy: rendered when an error is raised, in the connection's language.
NOT_ALLOWED = _("You may not do that on this topic.")
TRY_AGAIN_SHORTLY = _("The server cannot do this right now; try again shortly.")


class ProtocolError(Exception):
    """A refused request: becomes an `error` envelope; the connection stays open.

    `code` is stable (documented in docs/protocol.md); `message` is for people and says how to fix it.
    Pass it translatable (`gettext`/`gettext_lazy`): it is rendered here, in the active language, which
    on a connection is its viewer's (`realtime.language`).
    """

    def __init__(self, code: str, message: str | Promise, *, retry_after: float | None = None) -> None:
        self.message = str(message)
        super().__init__(self.message)
        self.code = code
        self.retry_after = retry_after


class Denied(ProtocolError):
    """The user may not do this (subscribe, publish): `auth_required`, `forbidden`, `banned`, ..."""

    def __init__(
        self,
        code: str = "forbidden",
        message: str | Promise = NOT_ALLOWED,
        **kw: Any,
    ) -> None:
        super().__init__(code, message, **kw)


class Unavailable(ProtocolError):
    """A server-side failure the client did not cause (database or channel layer down): retry later."""

    def __init__(
        self,
        message: str | Promise = TRY_AGAIN_SHORTLY,
        *,
        retry_after: float = 2.0,
    ) -> None:
        super().__init__("unavailable", message, retry_after=retry_after)
