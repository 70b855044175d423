"""The language of a WebSocket connection: the words the server sends it are in the viewer's language.

A page is translated by Django's LocaleMiddleware; a socket has no request, so `LanguageMiddleware`
picks the language from the handshake the same way (the language menu's cookie,
`settings.LANGUAGE_COOKIE_NAME`, then the browser's Accept-Language, limited to `settings.LANGUAGES`,
else `settings.LANGUAGE_CODE`) and runs the rest of the connection under `translation.override()`.
Django's active language is context-local (asgiref's Local), so it holds for the connection's task and
its database threads, and for no other connection.

Error codes never change with the language: clients switch on `code`; `message` is for people.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

from django.http.cookie import parse_cookie
from django.utils import translation
from django.utils.translation import gettext, pgettext

SCOPE_KEY = "realtime.language"


class _Handshake:
    """The two parts of a request that `translation.get_language_from_request` reads."""

    def __init__(self, scope: dict[str, Any]) -> None:
        headers = {name.lower(): value for name, value in scope.get("headers", ())}
        self.COOKIES = parse_cookie(headers.get(b"cookie", b"").decode("latin-1"))
        self.META = {"HTTP_ACCEPT_LANGUAGE": headers.get(b"accept-language", b"").decode("latin-1")}


def language_of(scope: dict[str, Any]) -> str:
    """The language code (one of settings.LANGUAGES) a handshake asks for, as LocaleMiddleware picks it."""
    return translation.get_language_from_request(_Handshake(scope))  # type: ignore[arg-type]


def connection_language(scope: dict[str, Any]) -> str:
    """The handshake's language, kept in `scope["realtime.language"]` (the caller's own copy) for work
    done on the connection's behalf outside its task (re-checks run by the hub). The caller runs the
    rest of the connection under `translation.override()` of it: `LanguageMiddleware` and
    `realtime.asgi.Handshake` alike."""
    language = scope[SCOPE_KEY] = language_of(scope)
    return language


_AS_IS = nullcontext()  # holds no state: one for every connection


def speaking(language: str) -> AbstractContextManager[Any]:
    """`translation.override(language)` for the rest of a connection, or nothing when `language` is
    already the active one (the site's own language, with no other active): what it would set is what
    every translation already reads, and an override held for a socket's whole life costs each idle
    socket ~0.6 KB (a context-local value and the override object; bench/, idle scenario)."""
    active = translation.get_language()
    try:
        # LANGUAGE_CODE "en-us" reads as "en" when LANGUAGES lists "en": the same catalogs and formats.
        already = active is not None and translation.get_supported_language_variant(active) == language
    except LookupError:
        already = False
    return _AS_IS if already else translation.override(language)


class LanguageMiddleware:
    """Run the connection in its viewer's language (`connection_language`)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope.get("type") != "websocket":
            return await self.inner(scope, receive, send)
        scope = dict(scope)
        with speaking(connection_language(scope)):
            return await self.inner(scope, receive, send)


def badge_labels() -> dict[str, str]:
    """The words realtime.js shows on a connection badge, by state and offline reason, in the active
    language: as `data-label-<key>` attributes (on the badge, as realtime/badge.html renders them, or
    on the `{% realtime_client %}` script tag for every badge of the page)."""
    return {
        "connecting": gettext("Connecting…"),
        "live": pgettext("connection state", "Live"),
        "reconnecting": gettext("Reconnecting…"),
        "offline": gettext("Offline"),
        "signed-out": gettext("Signed out"),
        "auth-failed": gettext("Not signed in"),
        "policy": gettext("Paused"),
        "too-many-connections": gettext("Too many tabs open"),
    }
