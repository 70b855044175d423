"""The handshake's checks: one function each, the same functions whichever way a handshake goes.

A check takes the handshake's scope (its caller's own copy, which the check changes in place: the user,
the session, cookies dropped), `receive` and `send`. It returns the `send` the rest of the handshake
uses, or None once it answered the handshake itself (a refusal: HTTP 403, or accept-then-close).

They run two ways, with the same outcomes because they are the same code:

- `realtime.asgi.Handshake` runs them in turn (`run_checks`) on one copy of the scope for the
  realtime path, then calls the consumer: one scope and one coroutine frame per open socket;
- `CheckMiddleware` makes each one an ASGI middleware; `realtime.asgi` stacks them in the same order
  for every other path (`realtime.asgi.CHECKS` is the order), and a project may stack the named
  ones (`BrowserOriginValidator`, `SessionAuthWhenCookies`, ...) around its own routes.

tests/test_security_handshake.py runs one matrix of handshakes over both.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

Scope = dict[str, Any]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Check = Callable[[Scope, Receive, Send], Awaitable[Send | None]]


async def run_checks(checks: Sequence[Check], scope: Scope, receive: Receive, send: Send) -> Send | None:
    """Run `checks` in order on `scope`; the send to go on with, or None if one refused the handshake."""
    for check in checks:
        checked = await check(scope, receive, send)
        if checked is None:
            return None
        send = checked
    return send


class CheckMiddleware:
    """One check as an ASGI middleware: run on a copy of a WebSocket scope, then the inner application.
    Other scope types pass untouched. The named middlewares (`BrowserOriginValidator`, ...) bind theirs."""

    def __init__(self, check: Check, inner: Any) -> None:
        self.check = check
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> Any:
        if scope.get("type") != "websocket":
            return await self.inner(scope, receive, send)
        scope = dict(scope)
        checked = await self.check(scope, receive, send)
        if checked is None:
            return None
        return await self.inner(scope, receive, checked)
