"""The handshake's security checks: one matrix of handshakes (origins, session cookies, tickets, the
database down, the language) run over both ways a handshake goes, the fast path (`realtime.asgi.
Handshake`: one coroutine, one copy of the scope, for memory per idle socket) and the middleware chain
(every other path), which are built from the same check functions (`realtime.handshake`). Also:
daphne's per-socket receive queue is small."""

from __future__ import annotations

import asyncio
import gc
import inspect
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import OperationalError
from django.test import override_settings
from django.urls import re_path
from django.utils import timezone

from realtime.asgi import websocket_application
from realtime.models import Ticket
from realtime.security import SessionAuthWhenCookies, anonymous_user
from realtime.serverpatch import Inbox, lighten_daphne
from realtime.testing import override_realtime
from realtime.tickets import issue_ticket, redeem_ticket, ticket_subprotocol

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

    async def send(message):
        pass

    middleware = SessionAuthWhenCookies(inner)
    for _ in range(2):
        await middleware({"type": "websocket", "headers": []}, None, send)
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


# -- one matrix, both ways in ---------------------------------------------------------------------
SITE = b"http://localhost:8000"
CHINESE = [(b"accept-language", b"zh-CN,zh;q=0.9")]


def fast_path() -> Any:
    """The handshake as daphne hands it over for realtime's own path; the chain must not be used."""
    app = websocket_application()

    async def not_here(scope, receive, send):
        raise AssertionError("the fast path handed the handshake to the middleware chain")

    app.inner = not_here
    return app


def middleware_chain() -> Any:
    """The middlewares themselves, as the fast path leaves them every other path."""
    return websocket_application().inner


ENTRY_POINTS = {"fast path": fast_path, "middleware chain": middleware_chain}


@dataclass
class Outcome:
    refused: bool = False  # HTTP 403 before accepting
    user: str | None = None  # the username `hello` names
    error: str | None = None  # the error sent instead of `hello`
    close: int | None = None
    message: str = ""
    subprotocol: str | None = None


async def attempt(app: Any, headers: list, subprotocols: list[str] | None = None, query: str = "") -> Outcome:
    communicator = WebsocketCommunicator(
        app,
        "/ws/realtime/" + query,
        headers=[(b"host", b"localhost:8000"), *headers],
        subprotocols=subprotocols,
    )
    connected, subprotocol = await communicator.connect(timeout=5)
    if not connected:
        await communicator.disconnect()
        return Outcome(refused=True)
    first = await communicator.receive_json_from(timeout=5)
    outcome = Outcome(subprotocol=subprotocol)
    if first["type"] == "hello":
        outcome.user = (first["user"] or {}).get("username")
    else:
        outcome.error, outcome.message = first["code"], first["message"]
        outcome.close = (await communicator.receive_output(timeout=5))["code"]
    await communicator.disconnect()
    return outcome


class World:
    """What a case needs: alice (logged in over HTTP: `cookie`), bob, tickets."""

    def __init__(self, client: Any, alice: Any, bob: Any) -> None:
        self.client, self.alice, self.bob = client, alice, bob

    def cookie(self, user: Any = None) -> tuple[bytes, bytes]:
        self.client.force_login(user or self.alice)
        return (b"cookie", f"sessionid={self.client.cookies['sessionid'].value}".encode())

    def ticket(self, user: Any = None) -> str:
        return issue_ticket(user or self.alice)

    def used_ticket(self) -> str:
        ticket = issue_ticket(self.alice)
        redeem_ticket(ticket)
        return ticket

    def expired_ticket(self) -> str:
        ticket = issue_ticket(self.alice)
        Ticket.objects.filter(used_at__isnull=True).update(created=timezone.now() - timedelta(seconds=61))
        return ticket

    def revoked_ticket(self) -> str:
        ticket = issue_ticket(self.alice)
        self.alice.is_active = False
        self.alice.save()
        self.alice.is_active = True
        self.alice.save()
        return ticket

    def logged_out_ticket(self) -> str:
        self.client.force_login(self.alice)
        ticket = self.client.post("/realtime/ticket/").json()["ticket"]
        self.client.post("/accounts/logout/")
        return ticket


def origin(value: bytes = SITE) -> tuple[bytes, bytes]:
    return (b"origin", value)


def offered(ticket: str) -> list[str]:
    return ["realtime", ticket_subprotocol(ticket)]


def knock(headers: list, subprotocols: list[str] | None = None, query: str = "") -> tuple[list, Any, str]:
    """A handshake: its headers (besides Host), the subprotocols it offers, its query string."""
    return headers, subprotocols, query


# Each case: how to knock (built from a World), and what must happen.
CASES: dict[str, tuple[Any, Outcome]] = {
    # Origins: the whole origin (scheme, host, port) must be the site's.
    "same origin, session": (lambda w: knock([origin(), w.cookie()]), Outcome(user="alice")),
    "same origin, no cookie": (lambda w: knock([origin()]), Outcome()),
    "another port": (lambda w: knock([origin(b"http://localhost:8001"), w.cookie()]), Outcome(refused=True)),
    "another scheme": (
        lambda w: knock([origin(b"https://localhost:8000"), w.cookie()]),
        Outcome(refused=True),
    ),
    "another host": (lambda w: knock([origin(b"http://evil.example"), w.cookie()]), Outcome(refused=True)),
    "null origin": (lambda w: knock([origin(b"null"), w.cookie()]), Outcome(refused=True)),
    "two origins": (lambda w: knock([origin(), origin(), w.cookie()]), Outcome(refused=True)),
    "not latin-1 text": (lambda w: knock([origin(b"\xff"), w.cookie()]), Outcome(refused=True)),
    "a trusted origin": (
        lambda w: knock([origin(b"https://trusted.example"), w.cookie()]),
        Outcome(user="alice"),
    ),
    "ALLOWED_ORIGINS replaces the site's": (
        lambda w: knock([origin(b"https://app.example"), w.cookie()]),
        Outcome(user="alice"),
    ),
    "ALLOWED_ORIGINS leaves out the site": (lambda w: knock([origin(), w.cookie()]), Outcome(refused=True)),
    # Session cookies: only from a browser page of the site.
    "no origin: cookie ignored": (lambda w: knock([w.cookie()]), Outcome()),
    "invalid session": (lambda w: knock([origin(), (b"cookie", b"sessionid=nonsense")]), Outcome()),
    "missing session": (lambda w: knock([origin(), (b"cookie", b"csrftoken=x")]), Outcome()),
    # Tickets: single use, expiring, revoked; they win over the session; never over the origin check.
    "ticket": (lambda w: knock([], offered(w.ticket())), Outcome(user="alice", subprotocol="realtime")),
    "ticket in the query": (lambda w: knock([], None, f"?ticket={w.ticket()}"), Outcome(user="alice")),
    "ticket over bob's session": (
        lambda w: knock([origin(), w.cookie(w.bob)], offered(w.ticket())),
        Outcome(user="alice", subprotocol="realtime"),
    ),
    "used ticket": (
        lambda w: knock([], offered(w.used_ticket())),
        Outcome(error="auth_failed", close=4001, message="already used", subprotocol="realtime"),
    ),
    "expired ticket": (
        lambda w: knock([], offered(w.expired_ticket())),
        Outcome(error="auth_failed", close=4001, message="expired", subprotocol="realtime"),
    ),
    "revoked ticket (deactivated, reactivated)": (
        lambda w: knock([], offered(w.revoked_ticket())),
        Outcome(error="auth_failed", close=4001, message="revoked", subprotocol="realtime"),
    ),
    "revoked ticket (logged out)": (
        lambda w: knock([], None, f"?ticket={w.logged_out_ticket()}"),
        Outcome(error="auth_failed", close=4001, message="not valid"),
    ),
    "garbage ticket": (
        lambda w: knock([], offered("short")),
        Outcome(error="auth_failed", close=4001, message="not valid", subprotocol="realtime"),
    ),
    "two tickets": (
        lambda w: knock([], offered(w.ticket()), f"?ticket={w.ticket()}"),
        Outcome(error="auth_failed", close=4001, message="one ticket", subprotocol="realtime"),
    ),
    "ticket from a foreign page": (
        lambda w: knock([origin(b"http://evil.example")], offered(w.ticket())),
        Outcome(refused=True),
    ),
    # The database down: "try again" (4013), never an HTTP 500 or a 1011.
    "database down, session": (
        lambda w: knock([origin(), w.cookie()]),
        Outcome(error="unavailable", close=4013, message="reconnect shortly", subprotocol=None),
    ),
    "database down, ticket": (
        lambda w: knock([], offered(w.ticket())),
        Outcome(error="unavailable", close=4013, message="reconnect shortly", subprotocol="realtime"),
    ),
    # The language: the refusal is explained in the viewer's language, from the browser or the menu.
    "language from the browser": (
        lambda w: knock(CHINESE, offered("short")),
        Outcome(error="auth_failed", close=4001, message="票据无效", subprotocol="realtime"),
    ),
    "language from the menu's cookie": (
        lambda w: knock([origin(), (b"cookie", b"django_language=zh-hans")], offered("short")),
        Outcome(error="auth_failed", close=4001, message="票据无效", subprotocol="realtime"),
    ),
    "the menu's cookie over the browser": (
        lambda w: knock([*CHINESE, origin(), (b"cookie", b"django_language=en")], offered("short")),
        Outcome(error="auth_failed", close=4001, message="The ticket is not valid", subprotocol="realtime"),
    ),
}


@pytest.fixture(params=list(ENTRY_POINTS))
def entry(request):
    return ENTRY_POINTS[request.param]


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.django_db(transaction=True)
async def test_every_handshake_has_the_same_outcome_on_both_paths(
    case, entry, client, alice, bob, monkeypatch
):
    build, expected = CASES[case]
    world = World(client, alice, bob)
    headers, subprotocols, query = await sync_to_async(build)(world)
    if case.startswith("database down"):
        import channels.auth

        from realtime import security

        async def session_down(scope):
            raise OperationalError("the database is down")

        def tickets_down(ticket):
            raise OperationalError("the database is down")

        monkeypatch.setattr(channels.auth, "get_user", session_down)
        monkeypatch.setattr(security, "_redeem", tickets_down)
    with (
        override_settings(CSRF_TRUSTED_ORIGINS=["https://trusted.example"]),
        override_realtime(ALLOWED_ORIGINS=["https://app.example"] if "ALLOWED_ORIGINS" in case else None),
    ):
        outcome = await attempt(entry(), list(headers), subprotocols, query)
    assert outcome.message.find(expected.message) >= 0, outcome
    outcome.message = expected.message
    assert outcome == expected


@pytest.mark.parametrize(
    "case", ["same origin, session", "another port", "no origin: cookie ignored", "ticket", "used ticket"]
)
@pytest.mark.django_db(transaction=True)
async def test_the_named_middlewares_stacked_by_a_project_give_the_same_outcomes(case, client, alice, bob):
    """A project that mounts the consumer in its own router stacks the same checks by name."""
    from channels.routing import URLRouter

    from realtime.language import LanguageMiddleware
    from realtime.origins import BrowserOriginValidator
    from realtime.routing import get_websocket_urlpatterns
    from realtime.security import ServerSendMiddleware, SessionAuthWhenCookies, TicketAuthMiddleware

    app = LanguageMiddleware(
        ServerSendMiddleware(
            BrowserOriginValidator(
                SessionAuthWhenCookies(TicketAuthMiddleware(URLRouter(get_websocket_urlpatterns())))
            )
        )
    )
    build, expected = CASES[case]
    headers, subprotocols, query = await sync_to_async(build)(World(client, alice, bob))
    outcome = await attempt(app, list(headers), subprotocols, query)
    assert expected.message in outcome.message, outcome
    outcome.message = expected.message
    assert outcome == expected
