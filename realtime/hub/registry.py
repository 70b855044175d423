"""One hub per event loop (daphne runs one loop per process), found with `await get_hub()`."""

from __future__ import annotations

import asyncio
import contextvars
import weakref

from channels.layers import get_channel_layer
from django.conf import settings
from django.utils import translation

from ..outage import Outage
from .hub import Hub

_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()
# Tests bind a connection to another hub to stand in for a second process (realtime.testing).
bound_hub: contextvars.ContextVar[Hub | None] = contextvars.ContextVar("realtime_bound_hub", default=None)


async def get_hub() -> Hub:
    """This process's hub (one per event loop), started on first use."""
    hub = bound_hub.get()
    if hub is not None:
        await hub.start()
        return hub
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        layer = get_channel_layer()
        if layer is None:
            raise RuntimeError("realtime needs a channel layer: set CHANNEL_LAYERS (see `manage.py check`).")
        hub = _hubs[loop] = Hub(layer)
        # Its tasks copy the context they start in: not the first connection's language.
        with translation.override(settings.LANGUAGE_CODE):
            await hub.start()
        return hub
    await hub.start()
    return hub


def current_hub() -> Hub | None:
    """The hub of the running loop if one was started, without starting one."""
    try:
        return _hubs.get(asyncio.get_running_loop())
    except RuntimeError:
        return None


async def reset_hub() -> None:
    """Stop and forget this loop's hub (tests)."""
    global _before_any_hub
    hub = _hubs.pop(asyncio.get_running_loop(), None)
    if hub is not None:
        await hub.stop()
    # An outage recorded before any hub existed would otherwise leak into the next test's log checks.
    _before_any_hub = Outage(_before_any_hub.what, _before_any_hub.consequence)


# Handshakes are authenticated before the first connection starts this process's hub.
_before_any_hub = Outage("Database", "what needs it is refused as `unavailable` (clients retry)")


def database_outage(exc: BaseException | None, during: str = "") -> None:
    """For code outside the hub (handshake authentication, requests): report a database failure
    (`exc`) or a success (None) to this process's hub, so an outage is logged once per process."""
    hub = current_hub()
    outage = hub.database if hub is not None else _before_any_hub
    if exc is not None:
        outage.failed(exc, during)
    elif outage.down:
        outage.answered()
