"""Which class handles which topic kind: the core's kinds, those installed features register (e.g.
`realtime.streams` registers `stream` when its app is ready), and `REALTIME["TOPICS"]` over both."""

from __future__ import annotations

import sys
from functools import cache

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from ..conf import realtime_settings
from ..exceptions import ProtocolError
from .base import Topic
from .names import parse_topic

BUILTIN_KINDS: dict[str, str | type[Topic]] = {
    "broadcast": "realtime.topics.builtin.BroadcastTopic",
    "user": "realtime.topics.builtin.UserTopic",
    "group": "realtime.topics.builtin.GroupTopic",
    "ops": "realtime.ops.topic.StatusTopic",
    "page": "realtime.presence.pages.PageTopic",
}
_registered: dict[str, str | type[Topic]] = {}
# topic_kinds() is asked on every subscribe (1% of a connect storm's samples rebuilding it): kept until
# REALTIME["TOPICS"] is another object (settings changed) or a kind is registered.
_kinds: tuple[object, int, dict[str, type[Topic]]] | None = None
_registrations = 0  # bumped by register_kind, which may also replace a kind's class


def register_kind(kind: str, topic_class: str | type[Topic]) -> None:
    """Add a topic kind for an installed app (call it from `AppConfig.ready()`).

    `REALTIME["TOPICS"]` still wins, so a project can replace a feature's kind with a subclass.
    """
    global _registrations
    _registered[kind] = topic_class
    _registrations += 1


@cache
def _import(path: str) -> type[Topic]:
    try:
        cls = import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"REALTIME['TOPICS'] names {path!r}, which cannot be imported: {exc}"
        ) from exc
    if not (isinstance(cls, type) and issubclass(cls, Topic)):
        raise ImproperlyConfigured(
            f"{path!r} in REALTIME['TOPICS'] must be a subclass of realtime.topics.Topic."
        )
    return cls


def topic_kinds() -> dict[str, type[Topic]]:
    """Every kind and its class (the same dict until the settings change: do not modify it)."""
    global _kinds
    configured = realtime_settings.TOPICS
    if _kinds is not None and _kinds[0] is configured and _kinds[1] == _registrations:
        return _kinds[2]
    kinds = {**BUILTIN_KINDS, **_registered, **configured}
    built = {kind: (path if isinstance(path, type) else _import(path)) for kind, path in kinds.items()}
    _kinds = (configured, _registrations, built)
    return built


def topic_class(kind: str) -> type[Topic]:
    cls = topic_kinds().get(kind)
    if cls is None:
        raise ProtocolError(
            "unknown_topic",
            _("Unknown topic kind %(kind)s; known: %(known)s.")
            % {"kind": repr(kind), "known": ", ".join(sorted(topic_kinds()))},
        )
    return cls


async def load_topic(name: object) -> Topic:
    """Parse and load a topic named by a client, or raise the error to send back."""
    kind, key = parse_topic(name)
    assert isinstance(name, str)
    # Interned: every subscriber's topic object (and the hub's tables keyed by it) then holds the one
    # copy of `stream.42` instead of the copy parsed from its own request (~0.1 KB per idle socket).
    # Interned strings are freed with their last reference, so names clients make up do not pile up.
    return await topic_class(kind).load(sys.intern(name), sys.intern(key))
