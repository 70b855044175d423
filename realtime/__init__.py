"""realtime: live, two-way WebSocket features for Django.

The public API (`broadcast`, `abroadcast`, ...) is imported lazily so that importing the package (as
Django does while loading apps) touches neither models nor settings.
"""

from __future__ import annotations

from typing import Any

__all__ = ["abroadcast", "adisconnect_user", "akick", "areauthorize", "broadcast", "disconnect_user", "kick",
           "reauthorize"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'realtime' has no attribute {name!r}")
