"""Live data: models and template fragments that keep themselves up to date (docs/live.md).

    from realtime import live
    live.register(Order, fields=["status", "total"])
    live.fragment("order-card", model=Order, template="shop/_order_card.html")

The functions are imported lazily so that importing the package (as Django does while loading apps)
touches no models.
"""

from __future__ import annotations

from typing import Any

__all__ = ["changed", "fragment", "register", "rows", "value"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'realtime.live' has no attribute {name!r}")
