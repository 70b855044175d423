"""Helpers for testing realtime features in your own project's test suite.

from realtime.testing import RealtimeClient

async with RealtimeClient(user=alice) as client:
    await client.subscribe("stream.1")
    ack = await client.publish("stream.1", "comment", {"text": "hi", "client_id": "c1"})
    event = await client.receive_event("comment")
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import Iterator
from typing import Any

from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from .hub import Hub, bound_hub, reset_hub

__all__ = ["RealtimeClient", "bound_to", "events", "make_hub", "override_realtime", "reset_realtime"]


def override_realtime(**changes: Any) -> Any:
    """`override_settings` for a few REALTIME keys, keeping the others as configured."""
    from django.conf import settings
    from django.test import override_settings

    return override_settings(REALTIME={**getattr(settings, "REALTIME", {}), **changes})


class RealtimeClient:
    """A protocol-level client over `WebsocketCommunicator`, always disconnected on exit.

    `batch` frames are unpacked, so tests see one message per event whatever the coalescing window.
    """

    def __init__(
        self,
        *,
        user: Any = None,
        headers: list[tuple[bytes, bytes]] | None = None,
        path: str = "/ws/realtime/",
        application: Any = None,
        hub: Hub | None = None,
        timeout: float = 3.0,
    ) -> None:
        from django.contrib.auth.models import AnonymousUser

        from .consumer import RealtimeConsumer

        self.timeout = timeout
        self.user = user if user is not None else AnonymousUser()
        app = application or RealtimeConsumer.as_asgi()
        # asgiref runs the application in an empty contextvars.Context, so the hub binding (an
        # argument, or `bound_to()` around this constructor) is set again inside the application task.
        self.hub = hub or bound_hub.get()
        if self.hub is not None:
            app = _on_hub(app, self.hub)
        self.communicator = WebsocketCommunicator(app, path, headers=headers)
        if application is None:
            self.communicator.scope["user"] = self.user
        self.inbox: list[dict[str, Any]] = []
        self.skipped: list[dict[str, Any]] = []
        self.refs = itertools.count(1)
        self.hello: dict[str, Any] | None = None
        self.close_code: int | None = None

    async def __aenter__(self) -> RealtimeClient:
        connected, _ = await self.communicator.connect(timeout=self.timeout)
        assert connected, "the handshake was refused"
        self.hello = await self.receive()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.communicator.disconnect(timeout=self.timeout)

    async def send(self, message: dict[str, Any] | str) -> None:
        text = message if isinstance(message, str) else json.dumps(message)
        await self.communicator.send_to(text_data=text)

    async def receive(self, timeout: float | None = None) -> dict[str, Any]:
        """The next message (events inside a `batch` come one at a time)."""
        if not self.inbox:
            frame = await self.communicator.receive_output(timeout or self.timeout)
            if frame["type"] == "websocket.close":
                self.close_code = frame.get("code")
                return {"type": "closed", "code": self.close_code}
            message = json.loads(frame["text"])
            self.inbox.extend(message["messages"] if message["type"] == "batch" else [message])
        return self.inbox.pop(0)

    async def receive_type(self, kind: str, *, timeout: float | None = None) -> dict[str, Any]:
        """Skip messages until one of `kind` arrives (e.g. skip `viewers` events), or the socket closes."""
        return await self._receive_until(lambda m: m["type"] == kind, f"{kind!r} message", timeout)

    async def receive_event(self, event: str, *, timeout: float | None = None) -> dict[str, Any]:
        """Skip messages until an `event` named `event` arrives, or the socket closes."""
        return await self._receive_until(
            lambda m: m["type"] == "event" and m.get("event") == event, f"{event!r} event", timeout
        )

    async def _receive_until(self, wanted: Any, what: str, timeout: float | None) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (timeout or self.timeout)
        while (remaining := deadline - loop.time()) > 0:
            message = await self.receive(timeout=remaining)
            if wanted(message) or message["type"] == "closed":
                return message
        raise TimeoutError(f"no {what} arrived")

    async def nothing_more(self, timeout: float = 0.3, *, ignore: tuple[str, ...] = ("viewers",)) -> bool:
        """True if no message (other than events named in `ignore`) arrives within `timeout`."""
        deadline = asyncio.get_running_loop().time() + timeout
        while (remaining := deadline - asyncio.get_running_loop().time()) > 0:
            if self.inbox:
                message = self.inbox.pop(0)
            elif await self.communicator.receive_nothing(timeout=remaining):
                return True
            else:
                message = await self.receive()
            if not (message["type"] == "event" and message.get("event") in ignore):
                self.inbox.insert(0, message)
                return False
        return True

    async def collect(self, quiet: float = 0.1) -> list[dict[str, Any]]:
        """Every message received until nothing new arrives for `quiet` seconds.

        Starts with the events `request` set aside in `skipped` while awaiting a reply (and empties it),
        then anything already unpacked, then new frames. Waiting never times out the application
        (`receive_output` would cancel it), so the connection stays usable afterwards.
        """
        messages, self.skipped[:] = list(self.skipped), []
        while True:
            if self.inbox:
                messages.append(self.inbox.pop(0))
            elif await self.communicator.receive_nothing(timeout=quiet):
                return messages
            else:
                messages.append(await self.receive())

    async def request(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send a request with a fresh `ref`; return its reply (or its error)."""
        ref = str(next(self.refs))
        await self.send({**message, "ref": ref})
        deadline = asyncio.get_running_loop().time() + self.timeout
        while True:
            message = await self.receive(timeout=max(deadline - asyncio.get_running_loop().time(), 0.01))
            if message.get("ref") == ref or message["type"] == "closed":
                return message
            self.skipped.append(message)  # events arriving meanwhile, kept for the test to inspect

    async def subscribe(self, topic: str, since: int | None = None) -> dict[str, Any]:
        request: dict[str, Any] = {"type": "subscribe", "topic": topic}
        if since is not None:
            request["since"] = since
        return await self.request(request)

    async def publish(self, topic: str, event: str, data: dict[str, Any]) -> dict[str, Any]:
        return await self.request({"type": "publish", "topic": topic, "event": event, "data": data})


def events(messages: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """The `event` messages named `name`, in order (e.g. `events(await client.collect(), "comment")`)."""
    return [m for m in messages if m["type"] == "event" and m["event"] == name]


def _on_hub(application: Any, hub: Hub) -> Any:
    async def bound(scope: dict[str, Any], receive: Any, send: Any) -> Any:
        bound_hub.set(hub)
        return await application(scope, receive, send)

    return bound


async def make_hub(layer_config: dict[str, Any] | None = None) -> Hub:
    """A separate, started hub with its own layer instance: a stand-in for another daphne process."""
    hub = Hub(get_channel_layer() if layer_config is None else _make_layer(layer_config))
    await hub.start()
    return hub


def _make_layer(config: dict[str, Any]) -> Any:
    from django.utils.module_loading import import_string

    return import_string(config["BACKEND"])(**config.get("CONFIG", {}))


@contextlib.contextmanager
def bound_to(hub: Hub) -> Iterator[None]:
    """`RealtimeClient`s created (and `broadcast` calls made) inside this block use `hub`."""
    token = bound_hub.set(hub)
    try:
        yield
    finally:
        bound_hub.reset(token)


async def reset_realtime() -> None:
    """Stop this loop's hub and empty the in-memory layer, so tests do not see each other."""
    await reset_hub()
    layer = get_channel_layer()
    if layer is not None and hasattr(layer, "flush"):
        await layer.flush()
