"""The handshake's checks run in one coroutine on one copy of the scope (memory per idle socket), with
the same outcomes as the middlewares they are made of; daphne's per-socket receive queue is small."""

from __future__ import annotations

import asyncio
import gc
import inspect

import pytest
from channels.testing import WebsocketCommunicator
from django.urls import re_path

from realtime.asgi import websocket_application
from realtime.security import SessionAuthWhenCookies, anonymous_user
from realtime.serverpatch import Inbox, lighten_daphne

HEADERS = [(b"host", b"localhost:8000")]  # no Origin: not a browser, as the bench's clients


def _scopes() -> list[dict]:
    gc.collect()
    return [o for o in gc.get_objects() if isinstance(o, dict) and "realtime.server_send" in o]


def _handshake_frames() -> list[str]:
    names = []
    for o in gc.get_objects():
        if inspect.iscoroutine(o) and o.cr_frame is not None:
            module = o.cr_frame.f_globals.get("__name__", "")
            if module.startswith(("realtime.asgi", "realtime.security", "realtime.origins")) or module in (
                "realtime.language",
                "channels.routing",
                "channels.consumer",
            ):
                names.append(o.cr_code.co_qualname)
    return names


@pytest.mark.django_db(transaction=True)
async def test_an_open_socket_keeps_one_scope_copy_and_one_handshake_frame():
    communicator = WebsocketCommunicator(websocket_application(), "/ws/realtime/", headers=HEADERS)
    connected, _ = await communicator.connect()
    assert connected and (await communicator.receive_json_from())["type"] == "hello"
    try:
        scopes = _scopes()
        # Each middleware's copy used to stay alive with its coroutine: five copies, plus the router's.
        assert len(scopes) == 1
        assert scopes[0]["user"] is anonymous_user() and "realtime.language" in scopes[0]
        assert _handshake_frames() == ["Handshake.__call__"]
    finally:
        await communicator.disconnect()


async def echo(scope, receive, send):
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": f"{scope['path']} {scope['user'].is_authenticated}"})
    await receive()


@pytest.mark.django_db(transaction=True)
async def test_your_routes_and_the_refusal_still_run_behind_the_same_checks():
    app = websocket_application([re_path(r"^echo/\Z", echo)])
    mine = WebsocketCommunicator(app, "/echo/", headers=HEADERS, subprotocols=["realtime"])
    connected, subprotocol = await mine.connect()
    assert connected and subprotocol == "realtime"  # selected for your routes too, as before
    assert await mine.receive_from() == "/echo/ False"
    await mine.disconnect()
    for path in ("/nope/", "/ws/realtime/x"):
        other = WebsocketCommunicator(app, path, headers=HEADERS)
        assert (await other.connect())[0] is False
        await other.disconnect()
    foreign = WebsocketCommunicator(
        app, "/ws/realtime/", headers=HEADERS + [(b"origin", b"https://evil.example")]
    )
    assert (await foreign.connect())[0] is False
    realtime = WebsocketCommunicator(app, "/ws/realtime/", headers=HEADERS, subprotocols=["realtime"])
    connected, subprotocol = await realtime.connect()
    assert connected and subprotocol == "realtime"  # the consumer selects it itself
    await realtime.disconnect()


async def test_cookie_less_connections_share_one_anonymous_user():
    seen = []

    async def inner(scope, receive, send):
        seen.append(scope["user"])

    middleware = SessionAuthWhenCookies(inner)
    for _ in range(2):
        await middleware({"type": "websocket", "headers": []}, None, None)
    assert seen[0] is seen[1] and not seen[0].is_authenticated


async def test_the_inbox_is_a_fifo_queue_that_survives_cancelled_getters():
    inbox = Inbox()
    inbox.put_nowait(1)
    inbox.put_nowait(2)
    assert inbox.qsize() == 2 and await inbox.get() == 1 and await inbox.get() == 2 and inbox.empty()
    first = asyncio.ensure_future(inbox.get())
    second = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    inbox.put_nowait("a")
    first.cancel()  # woken, then cancelled before it ran: the message goes to the next getter
    await asyncio.sleep(0)
    assert first.cancelled() and await asyncio.wait_for(second, 1) == "a"
    waiting = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    waiting.cancel()  # cancelled while waiting: forgotten
    await asyncio.sleep(0)
    inbox.put_nowait("b")
    assert inbox.get_nowait() == "b" and inbox._getters is None and inbox._items is None
    with pytest.raises(asyncio.QueueEmpty):
        inbox.get_nowait()


def test_daphne_gives_websockets_an_inbox_and_http_its_queue():
    from daphne.http_protocol import WebRequest
    from daphne.server import Server
    from daphne.ws_protocol import WebSocketProtocol

    lighten_daphne()
    lighten_daphne()  # idempotent
    assert Server.create_application.realtime_inbox

    async def app(scope, receive, send):
        pass

    async def both():
        server = Server.__new__(Server)
        server.application, server.connections = app, {}
        queues = []
        for protocol in (WebSocketProtocol.__new__(WebSocketProtocol), WebRequest.__new__(WebRequest)):
            server.connections[protocol] = {}
            queues.append(server.create_application(protocol, {"type": "websocket"}))
            await server.connections[protocol]["application_instance"]
        return queues

    websocket, http = asyncio.run(both())
    assert type(websocket) is Inbox and type(http) is asyncio.Queue
