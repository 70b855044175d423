"""The language a view topic is rendered in: part of its room, like the audience.

Why: a view is rendered once per change for everyone in its room, so everyone in a room must read the
same language. The page's first render comes from the request (in the viewer's language); every later
render comes from a process's renderer, which has no request. The room's name carries the language
when it is not `LANGUAGE_CODE` (`livev.<view>_<audience>-zh-hans`), so a zh-hans page stays zh-hans
after its first update, and names in the default language stay as they were.
"""

from __future__ import annotations

from django.conf import settings
from django.utils import translation


def default() -> str:
    """LANGUAGE_CODE as one of the site's languages (`en-us` is `en` when LANGUAGES lists `en`)."""
    try:
        return translation.get_supported_language_variant(settings.LANGUAGE_CODE).lower()
    except LookupError:
        return settings.LANGUAGE_CODE.lower()


def supported(code: str) -> bool:
    """Only the site's languages make rooms: a client cannot open rooms for made-up ones."""
    return code in {lang.lower() for lang, _name in settings.LANGUAGES}


def current() -> str:
    """The active language as one of the site's (the request's, inside a template)."""
    active = translation.get_language()
    try:
        return translation.get_supported_language_variant(active).lower() if active else default()
    except LookupError:
        return default()


def audience_part(audience: str, language: str | None) -> str:
    """The audience part of a topic name: `all`, or `all-zh-hans` in a language other than the default."""
    return audience if language is None or language == default() else f"{audience}-{language}"


def split(part: str) -> tuple[str, str | None]:
    """(audience, language or None) from the audience part; audiences hold no `-`, languages may."""
    audience, sep, language = part.partition("-")
    return audience, (language if sep else None)  # "all-" gives "": no such language, not the default
