"""A small JSON client over the `websockets` library, for tests against real daphne processes."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

from websockets.asyncio.client import connect


class WsClient:
    def __init__(self, url: str, **options: Any) -> None:
        self.url = url
        self.options = options
        self.inbox: list[dict[str, Any]] = []
        self.refs = itertools.count(1)

    async def __aenter__(self) -> WsClient:
        self.socket = await connect(self.url, open_timeout=5, **self.options)
        self.hello = await self.receive()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.socket.close()

    async def send(self, message: dict[str, Any] | str) -> None:
        await self.socket.send(message if isinstance(message, str) else json.dumps(message))

    async def receive(self, timeout: float = 5.0) -> dict[str, Any]:
        if not self.inbox:
            message = json.loads(await asyncio.wait_for(self.socket.recv(), timeout))
            self.inbox.extend(message["messages"] if message["type"] == "batch" else [message])
        return self.inbox.pop(0)

    async def receive_where(self, timeout: float = 5.0, **fields: Any) -> dict[str, Any]:
        """Skip messages until one matches every field given (e.g. type="event", event="comment")."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            message = await self.receive(timeout=max(deadline - loop.time(), 0.01))
            if all(message.get(key) == value for key, value in fields.items()):
                return message

    async def request(self, message: dict[str, Any]) -> dict[str, Any]:
        ref = str(next(self.refs))
        await self.send({**message, "ref": ref})
        return await self.receive_where(ref=ref)

    async def subscribe(self, topic: str, since: int | None = None) -> dict[str, Any]:
        message: dict[str, Any] = {"type": "subscribe", "topic": topic}
        if since is not None:
            message["since"] = since
        return await self.request(message)
