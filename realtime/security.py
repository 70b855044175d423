"""Handshake checks: origin validation, session auth when there are cookies, and ticket authentication.

Browsers always send `Origin` on a WebSocket handshake and attach the target site's cookies, whoever
opened the socket: that is cross-site WebSocket hijacking. So a handshake with an `Origin` must come
from one of the site's origins (scheme, host and port: a page on another port or scheme of the same
host is another site), and a handshake without one (not a browser) never gets session-cookie auth,
only a ticket. docs/security.md has the rules and the proxy set-ups.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.db import Error as DatabaseError
from django.http.request import validate_host
from django.utils.http import is_same_domain

from . import protocol
from .conf import realtime_settings
from .exceptions import Unavailable
from .hub.registry import database_outage
from .tickets import SUBPROTOCOL, TICKET_PROTOCOL_PREFIX, TicketError, redeem

logger = logging.getLogger(__name__)

CLOSE_TRY_AGAIN = 4013  # authentication failed on our side (database down): reconnect after retry_after

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
# A serialised origin (RFC 6454): scheme "://" host [":" port], nothing else. Matched against the whole
# lowercased header, so userinfo, paths, queries, whitespace and "null" all fail.
_ORIGIN = re.compile(r"([a-z][a-z0-9+.-]*)://(\[[0-9a-f:.]+\]|[a-z0-9.*-]+)(?::([0-9]{1,5}))?", re.ASCII)
_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", re.ASCII)


@dataclass(frozen=True)
class Origin:
    """A normalised origin: lowercase, default port as None, IPv6 in its compressed form.

    As a pattern (`wildcard=True`) the host is a parent domain matched the way Django matches
    `.example.com` in ALLOWED_HOSTS: that domain and its subdomains, on this scheme and port only.
    """

    scheme: str
    host: str
    port: int | None = None
    wildcard: bool = False

    def __str__(self) -> str:
        host = ("*." if self.wildcard else "") + self.host
        return f"{self.scheme}://{host}" + (f":{self.port}" if self.port is not None else "")

    def matches(self, origin: Origin) -> bool:
        if (self.scheme, self.port) != (origin.scheme, origin.port):
            return False
        return is_same_domain(origin.host, "." + self.host) if self.wildcard else origin.host == self.host


def parse_origin(value: str, *, pattern: bool = False) -> Origin | None:
    """The origin `value` serialises, or None when it is not exactly one.

    `pattern=True` also accepts the wildcard forms of CSRF_TRUSTED_ORIGINS and ALLOWED_HOSTS
    (`https://*.example.com`, `https://.example.com`).
    """
    match = _ORIGIN.fullmatch(value.lower()) if isinstance(value, str) else None
    if match is None:
        return None
    scheme, host, port_text = match.groups()
    wildcard = False
    if pattern and host.startswith(("*.", ".")):
        host, wildcard = host.split(".", 1)[1], True
    if host.startswith("["):
        try:
            host = f"[{ipaddress.IPv6Address(host[1:-1]).compressed}]"
        except ValueError:
            return None
    elif len(host) > 253 or not all(_LABEL.fullmatch(label) for label in host.split(".")):
        return None  # an empty label: a leading, doubled or trailing dot; or a "*" left over
    port = int(port_text) if port_text else None
    if port is not None and not 0 < port < 65536:
        return None
    if port == DEFAULT_PORTS.get(scheme):
        port = None
    return Origin(scheme, host, port, wildcard)


def _patterns(entries: Any, source: str) -> tuple[Origin, ...]:
    if isinstance(entries, str):
        entries = [entries]
    try:
        return _parse_patterns(tuple(entries or ()), source)
    except TypeError:  # an unhashable entry: not an origin either
        return _parse_patterns(tuple(str(entry) for entry in entries), source)


@functools.lru_cache(maxsize=16)
def _parse_patterns(entries: tuple[Any, ...], source: str) -> tuple[Origin, ...]:
    # Cached per distinct setting value: parsed (and a bad entry logged) once, not on every handshake.
    parsed = []
    for entry in entries:
        origin = parse_origin(entry, pattern=True)
        if origin is None:
            # Fail closed and say so; `manage.py check` reports it too (realtime.security.check_origins).
            logger.error("%s entry %r is not an origin like 'https://example.com'; ignored.", source, entry)
        else:
            parsed.append(origin)
    return tuple(parsed)


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    values = [value for key, value in scope.get("headers") or () if key == name]
    return values[-1].decode("latin-1") if values else None


def handshake_origin(scope: dict[str, Any]) -> Origin | None:
    """The origin the handshake was made to, as Django's HttpRequest would see it: the socket's scheme
    (or SECURE_PROXY_SSL_HEADER), the Host header (or X-Forwarded-Host with USE_X_FORWARDED_HOST)
    when it is in ALLOWED_HOSTS. None when the host is not one of ours."""
    secure = scope.get("scheme") in ("wss", "https")
    proxy_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy_header:
        name, secure_value = proxy_header
        value = _header(scope, name.removeprefix("HTTP_").lower().replace("_", "-").encode("latin-1"))
        if value is not None:
            secure = value.split(",", 1)[0].strip() == secure_value
    host = _header(scope, b"x-forwarded-host") if settings.USE_X_FORWARDED_HOST else None
    host = host or _header(scope, b"host")
    if host is None and scope.get("server"):
        server_host, server_port = scope["server"][:2]
        host = f"{server_host}:{server_port}" if server_port else str(server_host)
    site = parse_origin(f"{'https' if secure else 'http'}://{host}") if host else None
    allowed_hosts = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed_hosts:
        allowed_hosts = [".localhost", "127.0.0.1", "[::1]"]
    if site is None or site.wildcard or not validate_host(site.host, allowed_hosts):
        return None
    return site


def origin_allowed(origin: Origin, scope: dict[str, Any]) -> bool:
    """REALTIME["ALLOWED_ORIGINS"] when set; otherwise what Django's CSRF check trusts for an unsafe
    request to the same URL: the handshake's own origin, or a CSRF_TRUSTED_ORIGINS entry."""
    explicit = realtime_settings.ALLOWED_ORIGINS
    if explicit is not None:
        return any(p.matches(origin) for p in _patterns(explicit, 'REALTIME["ALLOWED_ORIGINS"]'))
    if origin == handshake_origin(scope):
        return True
    return any(p.matches(origin) for p in _patterns(settings.CSRF_TRUSTED_ORIGINS, "CSRF_TRUSTED_ORIGINS"))


def check_origins() -> list[str]:
    """Entries of REALTIME["ALLOWED_ORIGINS"] and CSRF_TRUSTED_ORIGINS that are not origins."""
    explicit = realtime_settings.ALLOWED_ORIGINS
    entries = [explicit] if isinstance(explicit, str) else list(explicit or ())
    entries += list(settings.CSRF_TRUSTED_ORIGINS)
    return [entry for entry in entries if parse_origin(entry, pattern=True) is None]


class BrowserOriginValidator:
    """Refuse (HTTP 403) handshakes whose Origin is not one of the site's; strip cookies when absent."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] != "websocket":
            return await self.application(scope, receive, send)
        origins = [value for key, value in scope.get("headers") or () if key == b"origin"]
        if not origins:
            scope = dict(scope, headers=[(k, v) for k, v in scope.get("headers", []) if k != b"cookie"])
            return await self.application(scope, receive, send)
        origin = parse_origin(origins[0].decode("latin-1")) if len(origins) == 1 else None
        # Settings are read per handshake, not at import, so override_settings works.
        if origin is None or not origin_allowed(origin, scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)


class SessionAuthWhenCookies:
    """Channels' session and auth middleware, for handshakes that carry cookies.

    Without a cookie there is no session to find, yet AuthMiddleware would still resolve the user on a
    database thread: a thread hop per anonymous viewer, 12% of a connect in bench/'s connect storm.
    """

    def __init__(self, inner: Any) -> None:
        from channels.auth import AuthMiddlewareStack

        self.inner = inner
        # Channels' stack resolves the session and user and hands us the scope (and its send), so the
        # inner application runs outside the try below: only authentication's failures are caught.
        self.with_session = AuthMiddlewareStack(_resolved)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if any(name == b"cookie" for name, _ in scope.get("headers", ())):
            try:
                scope, send = await self.with_session(scope, receive, send)
            except DatabaseError as exc:
                return await refuse_for_now(scope, receive, send, exc, "loading the session")
            database_outage(None)
            return await self.inner(scope, receive, send)
        from django.contrib.auth.models import AnonymousUser

        return await self.inner(dict(scope, user=AnonymousUser()), receive, send)


def _redeem(ticket: str) -> tuple[Any, Any]:
    """The ticket's user, and the session that asked for it (None for a session-less ticket)."""
    from importlib import import_module

    redemption = redeem(ticket)
    key = redemption.session_key
    # The store is only a handle (it loads nothing until read): the consumer takes its key, so logging
    # that session out closes this socket too.
    return redemption.user, import_module(settings.SESSION_ENGINE).SessionStore(key) if key else None


class TicketAuthMiddleware:
    """A ticket authenticates the connection as its user (overriding any session user).

    Presented as the subprotocol `realtime.ticket.<ticket>` next to `realtime` (the server then
    accepts with `realtime` selected: echoing the ticket back would only spread it) or as
    `?ticket=...`. The socket then belongs to the session that asked for the ticket, so logging that
    session out closes it. A bad ticket does not refuse the handshake (browsers cannot read HTTP errors
    on WebSockets); it sets `scope["realtime.auth_error"]` and the consumer closes with 4001 after
    saying why.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        offered = scope.get("subprotocols") or ()
        tickets = [p[len(TICKET_PROTOCOL_PREFIX):] for p in offered if p.startswith(TICKET_PROTOCOL_PREFIX)]
        if tickets:
            # The inner application has no use for the ticket; keep it out of anything that logs scopes.
            scope = dict(scope, subprotocols=[p for p in offered if not p.startswith(TICKET_PROTOCOL_PREFIX)],
                         headers=[(k, v) for k, v in scope.get("headers", ()) if k != b"sec-websocket-protocol"])
        query = scope.get("query_string", b"")
        if b"ticket" in query:
            tickets += parse_qs(query.decode("latin-1")).get("ticket", [])
        if len(tickets) > 1:
            scope = dict(scope, **{"realtime.auth_error": "Present one ticket, either as a subprotocol or as ?ticket=."})
        elif tickets:
            try:
                user, session = await database_sync_to_async(_redeem)(tickets[0])
                scope = dict(scope, user=user, session=session)
            except TicketError as exc:
                scope = dict(scope, **{"realtime.auth_error": str(exc)})
            except DatabaseError as exc:  # the ticket may be used up: the client fetches a new one
                return await refuse_for_now(scope, receive, send, exc, "redeeming a ticket")
            database_outage(None)
        if SUBPROTOCOL in offered:
            send = _selecting_subprotocol(send)
        return await self.inner(scope, receive, send)


async def _resolved(scope: dict[str, Any], receive: Any, send: Any) -> tuple[dict[str, Any], Any]:
    return scope, send


async def refuse_for_now(scope: dict[str, Any], receive: Any, send: Any, exc: BaseException, during: str) -> None:
    """The database failed authentication: accept, send `unavailable` with `retry_after`, close with 4013
    (the client reconnects after that pause; not 1011 or an HTTP 500). Logged once per outage."""
    database_outage(exc, f"{during} for a WebSocket handshake")
    if (await receive())["type"] != "websocket.connect":
        return
    selected = {"subprotocol": SUBPROTOCOL} if SUBPROTOCOL in (scope.get("subprotocols") or ()) else {}
    await send({"type": "websocket.accept", **selected})
    refusal = Unavailable("The server cannot authenticate connections right now; reconnect shortly.")
    await send({"type": "websocket.send", "text": protocol.error(refusal)})
    await send({"type": "websocket.close", "code": CLOSE_TRY_AGAIN})


def _selecting_subprotocol(send: Any) -> Any:
    async def select(message: dict[str, Any]) -> None:
        if message["type"] == "websocket.accept" and not message.get("subprotocol"):
            message = dict(message, subprotocol=SUBPROTOCOL)
        await send(message)

    return select


class ServerSendMiddleware:
    """Keep the server's own `send` in the scope so the hub can write to the socket directly."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        return await self.inner(dict(scope, **{"realtime.server_send": send}), receive, send)
