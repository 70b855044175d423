"""One way to the channel layer: every call bounded in time, and knowledge of whether the layer is up.

Why: `redis_layer()` sets `socket_timeout=None` (the layer's blocking BZPOPMIN must not be torn down
every few seconds, channels_redis issue 422), so nothing in redis-py bounds a call. A Redis that accepts
connections and never answers (a network partition, a frozen host) held every caller for as long as it
lasted: an acknowledgement waiting on its publish, a subscribe on its group_add, a new process on joining
the control group before its first `hello`.

So every call the app makes to the layer goes through a `LayerLink` (one per layer object, shared by the
hub and by code without one: `broadcast()` from a shell, a task worker):

- Each call gets `REALTIME["LAYER_TIMEOUT"]` seconds. A timeout or an error marks the layer down (one
  warning for the whole outage, `realtime.outage`), and the caller gets `LayerUnavailable` (or False).
  The seconds our own event loop was too busy to run anything do not count (`realtime.looplag`): a
  saturated loop that reads a prompt answer late is not the layer being down. An idle loop loses no
  time, so a frozen Redis is cut at the bound; on a loop saturated for ever, at `LATE_CEILING` bounds.
- While the layer is down, publishes and joins fail at once instead of each waiting out the bound:
  stored events reach viewers through the hubs' database sync, and rooms are joined on recovery.
- Only the hub's health probe (`realtime.hub.health`) keeps trying: its calls go through while the
  layer is down, and its success marks the layer up (after it has re-joined the hub's groups). A process
  with no hub probing (a shell, a worker, cron) has no one to do that: there one call at a time is let
  through as the probe (bounded like any other; calls made meanwhile fail at once), and its success
  marks the layer up, so such a process publishes again as soon as the layer answers.
- `receive()` is not bounded: it waits for the next message, as long as that takes. Whether the layer
  behind it still answers is the probe's question.

Cancelling a redis-py command on timeout leaves no broken connection in the pool: redis-py 8 closes a
connection whose command was interrupted mid-way (`send_packed_command` and `read_response` disconnect on
any BaseException, `connect` on a cancelled handshake) before the pool gets it back, so the next command
opens a fresh one instead of reading a stale reply. tests/test_redis.py freezes a real Redis, times calls
out, thaws it and checks the same layer works and keeps no connection in use.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import threading
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from .conf import realtime_settings
from .looplag import LagMeter
from .outage import Outage

__all__ = ["PROBE_INTERVAL", "LayerLink", "LayerUnavailable", "link_for"]

logger = logging.getLogger("realtime.hub")

# A call's bound does not count the time our own loop was too busy to run it (realtime.looplag), up to
# this many times LAYER_TIMEOUT of wall time.
LATE_CEILING = 5
PROBE_INTERVAL = 1.0  # seconds between the hub's probes of the layer; without a hub, between trial calls

# What the caller got wrong (a group name Channels refuses, a message msgpack cannot encode): raised, or
# for a publish logged, as it is. It says nothing about the layer, so it never marks the layer down.
CALLER_ERRORS: tuple[type[Exception], ...] = (TypeError, ValueError, AssertionError)

T = TypeVar("T")


class LayerUnavailable(ConnectionError):
    """The channel layer is known to be down, did not answer within `LAYER_TIMEOUT`, or failed
    (`__cause__` holds its error). Already noted by the link: the outage is logged once."""


class LayerLink:
    """The calls to one channel layer, and whether it answers. Get it with `link_for(layer)`."""

    def __init__(self, layer: Any) -> None:
        # Weak: links live in a table keyed by their layer, and a strong reference back would keep every
        # layer a test made (and its Redis pools) alive for ever.
        self._layer = weakref.ref(layer)
        self.outage = Outage(
            "Channel layer", "live delivery is paused, stored events still arrive through the database sync"
        )
        self.watched_at = -math.inf  # time.monotonic() of the health probe's last probe
        self.trying = (
            False  # a call is trying the layer while it is down, as the probe of a process with none
        )
        self._listeners: list[Callable[[], Callable[[bool], None] | None]] = []  # weak for methods

    @property
    def layer(self) -> Any:
        layer = self._layer()
        if layer is None:
            raise RuntimeError(
                "This LayerLink's channel layer is gone; get the current one's with link_for()."
            )
        return layer

    @property
    def down(self) -> bool:
        return self.outage.down

    @property
    def timeout(self) -> float | None:
        """`REALTIME["LAYER_TIMEOUT"]`, read on every call so `override_settings` applies at once."""
        value = realtime_settings.LAYER_TIMEOUT
        return None if value is None else float(value)

    # -- state ------------------------------------------------------------------------------------
    def watch(self) -> None:
        """Called by the hub's health before each probe: while it keeps probing, calls fail fast during
        an outage and only the probe tries the layer."""
        self.watched_at = time.monotonic()

    def listen(self, listener: Callable[[bool], None]) -> Callable[[], None]:
        """Call `listener(up)` when the layer goes down or comes back; returns the way to stop.

        A bound method is held weakly: a hub that was never stopped must not live as long as its layer.
        """
        ref: Callable[[], Callable[[bool], None] | None]
        ref = weakref.WeakMethod(listener) if inspect.ismethod(listener) else (lambda: listener)
        self._listeners.append(ref)
        return lambda: self._listeners.remove(ref) if ref in self._listeners else None

    def failed(self, exc: BaseException, during: str) -> None:
        """A call failed (here or in a caller that talks to the layer itself, like the hub's reader)."""
        if self.outage.failed(exc, during):
            self._tell(up=False)

    def answered(self, detail: str = "") -> None:
        """The layer answers again: end the outage (logged once with `detail`)."""
        if self.outage.answered(detail) is not None:
            self._tell(up=True)

    def _tell(self, *, up: bool) -> None:
        for ref in list(self._listeners):
            listener = ref()
            if listener is None:
                self._listeners.remove(ref)
                continue
            try:
                listener(up)
            except Exception:
                logger.exception("A channel-layer state listener failed")

    def _may_try(self) -> bool:
        """While the layer is down: may this call try it anyway, as the probe of a process with none?"""
        bound = self.timeout or 0.0
        if time.monotonic() - self.watched_at < PROBE_INTERVAL + bound + 1.0:
            return False  # the hub's probe is on it (a probe of a frozen layer takes up to the bound)
        if self.trying:
            return False
        self.trying = True
        return True

    # -- calls ------------------------------------------------------------------------------------
    async def call(self, during: str, operation: Callable[[], Awaitable[T]], *, probe: bool = False) -> T:
        """Run one layer operation within `LAYER_TIMEOUT`; `during` names it in the outage's log line.

        Raises `LayerUnavailable` at once while the layer is down (unless `probe`: the health probe's own
        calls, which are how it finds the layer back), and after marking it down when the operation
        times out or fails. Errors of the caller's making (`CALLER_ERRORS`) are raised as they are.
        """
        trial = False
        if probe:
            self.watch()
        elif self.outage.down:
            trial = self._may_try()
            if not trial:
                raise LayerUnavailable("the channel layer is down (the hub's probe is retrying it)")
        timeout = self.timeout
        bound = asyncio.timeout(None)
        try:
            async with bound:
                result = await _within(bound, timeout, operation)
        except CALLER_ERRORS:
            raise
        except Exception as exc:
            if isinstance(exc, TimeoutError) and bound.expired():
                exc = TimeoutError(f"no answer within {timeout:g} s (REALTIME['LAYER_TIMEOUT'])")
            self.failed(exc, during)
            raise LayerUnavailable(f"{during}: {exc or type(exc).__name__}") from exc
        finally:
            if trial:
                self.trying = False
        if trial:
            self.answered("a call went through")
        return result

    async def new_channel(self, prefix: str) -> str:
        """A channel name for this process's reader (no I/O on Channels' own layers, bounded anyway)."""
        return await self.call("creating a channel", lambda: self.layer.new_channel(prefix), probe=True)

    async def group_add(self, group: str, channel: str, *, during: str, probe: bool = False) -> bool:
        """Join `group`; False if the layer is down or failed (noted; the probe joins on recovery)."""
        try:
            await self.call(during, lambda: self.layer.group_add(group, channel), probe=probe)
        except LayerUnavailable:
            return False
        return True

    async def group_discard(self, group: str, channel: str, *, during: str) -> bool:
        """Leave `group`; False if the layer is down or failed (the membership expires there by itself)."""
        try:
            await self.call(during, lambda: self.layer.group_discard(group, channel))
        except LayerUnavailable:
            return False
        return True

    async def group_send(self, group: str, message: dict[str, Any], *, during: str) -> bool:
        """Send `message` to every member of `group`; False at once while the layer is down, and False
        (after at most `LAYER_TIMEOUT`) if it fails now. Never raises for the layer's sake."""
        try:
            await self.call(during, lambda: self.layer.group_send(group, message))
        except LayerUnavailable:
            return False
        except CALLER_ERRORS as exc:
            logger.warning(
                "The channel layer refused %s for %s (%s): messages must hold only plain values "
                "(str, int, float, bool, None, lists and dicts of them) and group names must be valid.",
                message.get("type"),
                group,
                exc,
            )
            return False
        return True

    async def receive(self, channel: str) -> dict[str, Any]:
        """The next message on `channel`, however long it takes: not bounded, by design (the reader
        waits here for as long as nothing is sent); the health probe watches the layer meanwhile."""
        return await self.layer.receive(channel)


async def _within(bound: asyncio.Timeout, timeout: float | None, operation: Callable[[], Awaitable[T]]) -> T:
    """Run `operation`, expiring `bound` once it has had `timeout` seconds on the wire: the seconds our
    own loop was too busy to run anything (`LagMeter`) do not count, up to `LATE_CEILING` x `timeout`
    of wall time in all (a frozen layer is still found while the loop is saturated for ever)."""
    if timeout is None:
        return await operation()
    loop = asyncio.get_running_loop()
    meter = LagMeter.of(loop)
    meter.acquire()
    start, late = loop.time(), meter.total()
    ceiling = start + timeout * LATE_CEILING
    handle: asyncio.TimerHandle | None = None

    def check() -> None:
        nonlocal handle
        due = min(start + timeout + (meter.total() - late), ceiling)
        if due - loop.time() > 0.001:
            handle = loop.call_at(due, check)  # the loop was late: the call gets that time back
        elif bound.when() is None:
            bound.reschedule(loop.time())  # expires now: the operation is cancelled

    handle = loop.call_at(start + timeout, check)
    try:
        return await operation()
    finally:
        handle.cancel()
        meter.release()


_links: weakref.WeakKeyDictionary[Any, LayerLink] = weakref.WeakKeyDictionary()
_links_lock = threading.Lock()  # sync code reaches the layer from threads (async_to_sync)


def link_for(layer: Any) -> LayerLink:
    """The link of `layer`: one per layer object, so the hub and `broadcast()` share what they know."""
    with _links_lock:
        link = _links.get(layer)
        if link is None:
            link = _links[layer] = LayerLink(layer)
        return link
