"""Per-connection work and memory in daphne and its WebSocket library that nobody asked for.

`lighten_autobahn`: autobahn builds a debug line for every new connection by pretty-printing its whole
configuration (`pformat` of ~60 settings) before it calls the logger, even with debug logging off; in a
connect storm that was about a tenth of the process's CPU (a py-spy profile of `bash bench/run --scenarios storm
--profile`). The logger only formats the line when debug logging is on, so handing it an object that
pretty-prints when formatted gives the same line then, and costs nothing otherwise.

`lighten_daphne`: daphne's receive queue per WebSocket connection, made small (`Inbox`); and, as a
daphne server starts to run, the start-up heap frozen out of the garbage collector's sight
(`freeze_startup_heap`).

Both replace private parts of those libraries, so both apply only to the releases they were tested on
(`realtime.compat`); any other release is left exactly as it ships.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import pprint
from functools import partial
from typing import Any

from . import compat


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
    """Make autobahn's per-connection configuration dump lazy (idempotent; no-op without autobahn or
    with an autobahn outside the tested range)."""
    if not compat.allows("lazy_autobahn_log"):
        return
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


class Inbox:
    """What daphne hands a WebSocket application as `receive` (`Inbox.get`): asyncio.Queue's get and
    put_nowait, without the rest.

    Why: daphne makes an `asyncio.Queue` per connection, and an empty Queue is four 760-byte deques
    (items, getters, putters, and its join Event's waiters) plus its dict: ~3.5 KB of every idle
    socket (tracemalloc: `bash bench/run --scenarios idle --memprofile`, `daphne/server.py:214`), for
    a queue daphne only ever `put_nowait`s into and the application only `get`s from. This one holds
    a list of waiting getters and a deque of messages only while there are some. Getters are served in
    order, and a getter cancelled after being woken passes the wake-up on, as asyncio.Queue does.
    """

    __slots__ = ("_items", "_getters")

    def __init__(self) -> None:
        self._items: collections.deque[Any] | None = None
        self._getters: list[asyncio.Future[None]] | None = None

    def qsize(self) -> int:
        return len(self._items) if self._items else 0

    def empty(self) -> bool:
        return not self._items

    def put_nowait(self, item: Any) -> None:
        if self._items is None:
            self._items = collections.deque()
        self._items.append(item)
        self._wake_next()

    def get_nowait(self) -> Any:
        items = self._items
        if not items:
            raise asyncio.QueueEmpty
        item = items.popleft()
        if not items:
            self._items = None
        return item

    async def get(self) -> Any:
        while not self._items:
            getter = asyncio.get_running_loop().create_future()
            if self._getters is None:
                self._getters = []
            self._getters.append(getter)
            try:
                await getter
            except BaseException:
                getter.cancel()
                if self._getters is not None and getter in self._getters:
                    self._getters.remove(getter)
                elif self._items:  # woken, then cancelled: the message is someone else's now
                    self._wake_next()
                raise
        return self.get_nowait()

    def _wake_next(self) -> None:
        getters = self._getters
        while getters:
            getter = getters.pop(0)
            if not getter.done():
                getter.set_result(None)
                break
        if not getters:
            self._getters = None


def lighten_daphne() -> None:
    """Give daphne's WebSocket connections an `Inbox` instead of an asyncio.Queue (idempotent; no-op
    without daphne, outside daphne's tested range, or with a daphne whose `Server.create_application` is
    not the one copied here)."""
    if not compat.allows("daphne_inbox"):
        return
    try:
        from daphne.server import Server  # type: ignore[import-untyped]
        from daphne.ws_protocol import WebSocketProtocol  # type: ignore[import-untyped]
    except ImportError:  # another ASGI server
        return
    original = Server.create_application
    if getattr(original, "realtime_inbox", False) or original.__code__.co_names != _DAPHNE_NAMES:
        return

    def create_application(self: Any, protocol: Any, scope: dict[str, Any]) -> Any:
        if not isinstance(protocol, WebSocketProtocol):
            return original(self, protocol, scope)
        # daphne 4's body, but for the queue.
        assert "application_instance" not in self.connections[protocol]
        input_queue = Inbox()
        scope.setdefault("asgi", {"version": "3.0"})
        application_instance = self.application(
            scope=scope, receive=input_queue.get, send=partial(self.handle_reply, protocol)
        )
        if protocol not in self.connections:
            return None
        self.connections[protocol]["application_instance"] = asyncio.ensure_future(
            application_instance, loop=asyncio.get_event_loop()
        )
        return input_queue

    create_application.realtime_inbox = True  # type: ignore[attr-defined]
    Server.create_application = create_application

    run = Server.run

    def run_frozen(self: Any) -> Any:
        freeze_startup_heap()  # before the reactor runs: no pause once connections arrive
        return run(self)

    Server.run = run_frozen


_frozen = False


def freeze_startup_heap() -> None:
    """Move every object alive now (Django, the project's modules, URL patterns, models: what start-up
    made and the process keeps) out of the garbage collector's generations (`gc.freeze`), once.

    Why: every full collection walks every tracked object. A connect storm makes dozens of objects per
    connection, so collections run often, and each full one walked the ~hundreds of thousands of
    objects start-up left behind, which never become garbage. The in-process connect harness measured
    the collector at ~60 us of a ~200 us connect, half of it gone once frozen. Garbage is collected
    first (~30 ms, once, before daphne listens), so nothing unreachable is kept; what is frozen is
    still freed by reference counting. Only in a daphne that runs (`Server.run`), never in a process
    that merely imports the application (tests, management commands).
    """
    global _frozen
    if _frozen:
        return
    _frozen = True
    gc.collect()
    gc.freeze()


# The names daphne 4's create_application uses: another body (a daphne that changed it) is left alone.
_DAPHNE_NAMES = (
    "connections",
    "asyncio",
    "Queue",
    "setdefault",
    "application",
    "get",
    "partial",
    "handle_reply",
    "ensure_future",
    "get_event_loop",
)
