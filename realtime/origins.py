"""Origin validation for browser handshakes: which pages may open a socket with the visitor's cookies.

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

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import validate_host
from django.utils.http import is_same_domain

from .conf import realtime_settings
from .handshake import CheckMiddleware, Receive, Scope, Send

logger = logging.getLogger(__name__)

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
            # Fail closed and say so; `manage.py check` reports it too (realtime.origins.check_origins).
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


def origin_verdict(scope: dict[str, Any]) -> bool | None:
    """True: the handshake's Origin is one of the site's; False: refuse it (HTTP 403); None: it has no
    Origin (not a browser), so its cookies must not authenticate it (`without_cookies`)."""
    origins = [value for key, value in scope.get("headers") or () if key == b"origin"]
    if not origins:
        return None
    origin = parse_origin(origins[0].decode("latin-1")) if len(origins) == 1 else None
    # Settings are read per handshake, not at import, so override_settings works.
    return origin is not None and origin_allowed(origin, scope)


def without_cookies(headers: Any) -> Any:
    """The headers minus any Cookie; the same list when there is none (no copy per cookie-less socket)."""
    headers = headers or []
    if not any(key == b"cookie" for key, _ in headers):
        return headers
    return [(k, v) for k, v in headers if k != b"cookie"]


async def check_origin(scope: Scope, receive: Receive, send: Send) -> Send | None:
    """The handshake check (`realtime.handshake`): refuse (HTTP 403) a handshake whose Origin is not
    one of the site's; drop the cookies of one without an Origin (not a browser: only a ticket may
    authenticate it)."""
    verdict = origin_verdict(scope)
    if verdict is False:
        await WebsocketDenier()(scope, receive, send)
        return None
    if verdict is None:
        scope["headers"] = without_cookies(scope.get("headers", []))
    return send


class BrowserOriginValidator(CheckMiddleware):
    """`check_origin` as a middleware."""

    def __init__(self, inner: Any) -> None:
        super().__init__(check_origin, inner)
