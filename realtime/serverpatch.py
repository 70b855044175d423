"""Per-connection work in daphne's WebSocket library that nobody asked for, made lazy.

Why: autobahn builds a debug line for every new connection by pretty-printing its whole configuration
(`pformat` of ~60 settings) before it calls the logger, even with debug logging off; in a connect storm
that was about a tenth of the process's CPU (a py-spy profile of `bash bench/run --scenarios storm
--profile`). The logger only formats the line when debug logging is on, so handing it an object that
pretty-prints when formatted gives the same line then, and costs nothing otherwise.
"""

from __future__ import annotations

import pprint
from typing import Any


class _Pretty:
    """`pprint.pformat(obj)`, computed only when the log line is actually formatted."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def __str__(self) -> str:
        return pprint.pformat(self.obj)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def lighten_autobahn() -> None:
    """Make autobahn's per-connection configuration dump lazy (idempotent; no-op without autobahn)."""
    try:
        from autobahn.websocket import protocol
    except ImportError:  # another ASGI server: nothing to lighten
        return
    if getattr(protocol, "pformat", None) is pprint.pformat:
        protocol.pformat = _Pretty  # type: ignore[assignment]
        # The module's one other use returns pformat's result from __str__, which must be a real str.
        timings = getattr(protocol, "Timings", None)
        if timings is not None:
            timings.__str__ = lambda self: pprint.pformat(self._timings)
