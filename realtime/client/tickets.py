"""Where a client gets the single-use ticket it presents at each connection.

Tickets (realtime/tickets.py) work once and live `TICKET_MAX_AGE` seconds (60 by default), so a
client that reconnects needs a source of new ones: `HttpTickets` asks `POST /realtime/ticket/` with
whatever authenticates the program to the Django site (a session cookie with its CSRF token, or an
`Authorization` header the project's auth understands). A fixed ticket (`FixedTicket`) serves one
connection only: good for a quick `python -m realtime.client tail --ticket ...`, not for a service.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Protocol
from urllib.parse import urlsplit

from .errors import RealtimeError

# The subprotocols a ticket rides in (realtime.tickets.SUBPROTOCOL and TICKET_PROTOCOL_PREFIX; not
# imported from there so that the client never imports Django).
SUBPROTOCOL = "realtime"
TICKET_PROTOCOL_PREFIX = "realtime.ticket."


def ticket_protocols(ticket: str) -> list[str]:
    """What to offer as `Sec-WebSocket-Protocol`: the server selects "realtime", never echoes the ticket."""
    return [SUBPROTOCOL, TICKET_PROTOCOL_PREFIX + ticket]


class TicketSource(Protocol):
    """Anything with `async def ticket() -> str`; raise RealtimeError("auth_failed") when refused."""

    async def ticket(self) -> str: ...


class FixedTicket:
    """One ticket given up front: it authenticates the first connection only."""

    def __init__(self, ticket: str) -> None:
        self._ticket: str | None = ticket

    async def ticket(self) -> str:
        if self._ticket is None:
            raise RealtimeError(
                "auth_failed", "a fixed ticket works once; pass a ticket URL (HttpTickets) to reconnect"
            )
        ticket, self._ticket = self._ticket, None
        return ticket


class HttpTickets:
    """POSTs to the site's ticket URL (`/realtime/ticket/`) for a fresh ticket before every connection.

    `headers` authenticate the request, e.g. `{"Authorization": "Token ..."}`; `session` is a Django
    session key, sent as the `sessionid` cookie with a CSRF token pair (the view is CSRF-protected,
    so a session needs one; the token is generated here, as a browser's would be by Django).
    """

    def __init__(
        self,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        session: str | None = None,
        session_cookie: str = "sessionid",
        timeout: float = 10.0,
    ) -> None:
        self.url = url
        self.headers = dict(headers or {})
        self.timeout = timeout
        if session:
            import secrets

            csrf = secrets.token_hex(16)
            parts = urlsplit(url)
            self.headers.update(
                {
                    "Cookie": f"{session_cookie}={session}; csrftoken={csrf}",
                    "X-CSRFToken": csrf,
                    # Django checks the Referer of HTTPS requests against the host.
                    "Referer": f"{parts.scheme}://{parts.netloc}/",
                }
            )

    async def ticket(self) -> str:
        return await asyncio.to_thread(self._fetch)

    def _fetch(self) -> str:
        request = urllib.request.Request(self.url, data=b"", method="POST", headers=self.headers)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=self.timeout) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code in (401, 403):
                raise RealtimeError(
                    "auth_failed", f"the ticket URL refused us (HTTP {exc.code}): check the credentials"
                ) from exc
            raise RealtimeError("ticket_unavailable", f"the ticket URL answered HTTP {exc.code}") from exc
        except (OSError, ValueError) as exc:
            raise RealtimeError("ticket_unavailable", f"no ticket from {self.url}: {exc}") from exc
        if not isinstance(body, dict) or not isinstance(body.get("ticket"), str):
            raise RealtimeError("ticket_unavailable", f"{self.url} did not answer with a ticket")
        return body["ticket"]
