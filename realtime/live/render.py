"""Each process renders the views its own sockets watch: once per change per audience, never per viewer.

A view topic's room (`livev.<view>_<audience>[_<pk>]`) is one audience: everyone in it is sent the same
frame, so one render serves them all, however many they are. The renderer listens (`Hub.listen`) to
the model topics the views depend on, so a change arrives however it was made (another process, a
shell, the database sync), marks the rooms it concerns, and renders each at most once per
`LIVE_INTERVAL` (leading and trailing edge: the first change after a quiet spell at once, the last one
always). Renders run in a thread (templates and queries are synchronous) one at a time per room, and
only what changed goes out: a fragment whose HTML is the same sends nothing, rows send the new order
and the HTML of new or changed rows only.

The room's current state is kept for the `subscribed` reply, so a subscriber (or a reconnecting page)
gets the present without a render of its own. It is dropped with the room.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import translation

from ..conf import realtime_settings
from ..eventlog import StoredEvent
from ..hub.listeners import Listening
from ..topics import load_topic
from . import forms, registry
from .registry import Fragment, Rows, Value

if TYPE_CHECKING:
    from ..hub import Hub
    from .topics import ViewTopic

logger = logging.getLogger("realtime.live")


class Watched:
    """One view topic watched in this process: its state and its render schedule."""

    def __init__(self, topic: ViewTopic) -> None:
        self.topic = topic
        # Where this room is filed in the renderer's index: (model topic, object key or "").
        self.slots = tuple((registry.ensure_model(m).topic, topic.pk or "") for m in topic.view.models)
        self.state: dict[str, Any] | None = None
        self.changed: set[str] = set()  # rows: keys of changed objects since the last render
        self.lock = asyncio.Lock()
        self.last = float("-inf")
        self.handle: asyncio.TimerHandle | None = None
        self.running = False
        self.again = False
        self.ticker: asyncio.Task | None = None


class Renderer:
    """A hub's service (`hub.service(Renderer)`): the view topics of this process and their renders."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.watched: dict[str, Watched] = {}
        self.listening: dict[str, Listening] = {}  # model topic -> the hub's listener
        # (model topic, object key) -> rooms a change of it concerns; key "" for rows and values (any
        # object). A change looks up two slots, whatever the number of rooms watched in the process.
        self.index: dict[tuple[str, str], set[str]] = {}
        self.joining = asyncio.Lock()
        self.renders = 0  # renders done in this process (tests, figures)
        hub.closed_observers.append(self._closed)

    # -- subscribing ------------------------------------------------------------------------------
    async def state(self, topic: ViewTopic) -> dict[str, Any]:
        """The view's current state for a `subscribed` reply (rendered once for the room)."""
        watched = self.watched.get(topic.name)
        if watched is None:
            watched = self.watched[topic.name] = Watched(topic)
            for slot in watched.slots:
                self.index.setdefault(slot, set()).add(topic.name)
            for model_topic, _key in watched.slots:
                await self._listen(model_topic)
            every = getattr(topic.view, "every", None)
            if every:
                watched.ticker = self.hub.spawn(self._tick(watched, float(every)))
        async with watched.lock:
            if watched.state is None:
                watched.state = await self._render(topic, None)
                watched.last = asyncio.get_running_loop().time()
            return {"form": topic.view.form, **watched.state}

    async def _listen(self, model_topic: str) -> None:
        async with self.joining:  # two first subscribers at once: one listener, not two
            if model_topic not in self.listening:
                handle = await self.hub.listen(await load_topic(model_topic), self._changed)
                self.listening[model_topic] = handle

    def _closed(self, name: str) -> None:
        watched = self.watched.pop(name, None)
        if watched is None:
            return
        for task in (watched.handle, watched.ticker):
            if task is not None:
                task.cancel()
        for slot in watched.slots:
            names = self.index.get(slot)
            if names is not None:
                names.discard(name)
                if not names:
                    del self.index[slot]
        needed = {model_topic for model_topic, _key in self.index}
        for model_topic in [t for t in self.listening if t not in needed]:
            self.listening.pop(model_topic).close()

    # -- changes ----------------------------------------------------------------------------------
    def _changed(self, event: StoredEvent) -> None:
        key = str(event.data.get("pk"))
        names = self.index.get((event.topic, key), set()) | self.index.get((event.topic, ""), set())
        for name in names:
            watched = self.watched.get(name)
            if watched is not None:
                watched.changed.add(key)
                self._wake(watched)

    async def _tick(self, watched: Watched, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            self._wake(watched)

    def _wake(self, watched: Watched) -> None:
        """Render soon: now if the last render is older than LIVE_INTERVAL, else when it will be."""
        if watched.running:
            watched.again = True
            return
        if watched.handle is not None or self.watched.get(watched.topic.name) is not watched:
            return
        loop = asyncio.get_running_loop()
        delay = watched.last + float(realtime_settings.LIVE_INTERVAL or 0) - loop.time()
        if delay <= 0:
            self._start(watched)
        else:
            watched.handle = loop.call_later(delay, self._start, watched)

    def _start(self, watched: Watched) -> None:
        watched.handle = None
        watched.running = True
        watched.last = asyncio.get_running_loop().time()
        self.hub.spawn(self._update(watched))

    async def _update(self, watched: Watched) -> None:
        try:
            async with watched.lock:
                changed, watched.changed = watched.changed, set()
                if watched.state is None:  # the first subscriber's state is still being rendered
                    return
                new = await self._render(watched.topic, (watched.state, changed))
                event = diff(watched.topic.view, watched.state, new)
                watched.state = new
                if event is not None:
                    name, data = event
                    self.hub.deliver(StoredEvent(watched.topic.name, name, data))
        except Exception:
            logger.exception("Could not render the live view %s", watched.topic.name)
        finally:
            watched.running = False
            if watched.again:
                watched.again = False
                self._wake(watched)

    async def _render(
        self, topic: ViewTopic, before: tuple[dict[str, Any], set[str]] | None
    ) -> dict[str, Any]:
        self.renders += 1
        return await database_sync_to_async(render)(topic, before)


def render(topic: ViewTopic, before: tuple[dict[str, Any], set[str]] | None) -> dict[str, Any]:
    """The view's state now; for rows, re-rendering only new rows and those changed since `before`."""
    view, audience = topic.view, topic.audience
    with translation.override(topic.language or settings.LANGUAGE_CODE):
        if isinstance(view, Fragment):
            assert topic.pk is not None
            return forms.fragment_state(view, topic.pk, audience)
        if isinstance(view, Value):
            return forms.value_state(view, audience)
        assert isinstance(view, Rows)
        if before is None:
            return forms.rows_state(view, audience)
        state, changed = before
        order = forms.rows_order(view, audience)
        old = state["html"]
        fresh = forms.rows_html(view, audience, [k for k in order if k not in old or k in changed])
        html = {key: fresh.get(key, old.get(key)) for key in order}
        return {
            "order": [k for k in order if html[k] is not None],
            "html": {k: v for k, v in html.items() if v is not None},
        }


def diff(view: Any, old: dict[str, Any], new: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The event that takes a page from `old` to `new`, or None when nothing it shows changed."""
    if isinstance(view, Rows):
        changed = {k: v for k, v in new["html"].items() if old["html"].get(k) != v}
        if not changed and new["order"] == old["order"]:
            return None
        return "rows", {"order": new["order"], "html": changed}
    if new == old:
        return None
    return ("render", new) if isinstance(view, Fragment) else ("value", new)
