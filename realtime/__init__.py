"""realtime: live, two-way WebSocket features for Django.

The public API (`broadcast`, `abroadcast`, ...) is imported lazily so that importing the package (as
Django does while loading apps) touches neither models nor settings.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "abroadcast",
    "adisconnect_user",
    "akick",
    "areauthorize",
    "asend_to_hubs",
    "broadcast",
    "disconnect_user",
    "kick",
    "reauthorize",
    "send_to_hubs",
]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("django-realtime-hub")
        except PackageNotFoundError:  # imported from a source tree that was never installed
            return "0+unknown"
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'realtime' has no attribute {name!r}")
