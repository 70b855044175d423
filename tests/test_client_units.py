"""realtime.client's parts that the protocol table and the daphne tests do not reach: ticket sources
over HTTP, the missing-websockets message, the connection loop's own closes (heartbeat, 4003) against
a small in-process WebSocket server, unsubscribing, and the engine's edge cases."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from websockets.asyncio.server import serve

from realtime.client import Client, FixedTicket, HttpTickets, RealtimeError
from realtime.client import connection as client_connection
from realtime.client.__main__ import parser, ticket_source
from realtime.client.session import Session
from realtime.client.tickets import SUBPROTOCOL, TICKET_PROTOCOL_PREFIX


# -- tickets --------------------------------------------------------------------------------------
class TicketEndpoint(BaseHTTPRequestHandler):
    answers: list[tuple[int, bytes]] = []
    seen: list[dict[str, str]] = []

    def do_POST(self):  # noqa: N802 (the http.server API)
        TicketEndpoint.seen.append({k.lower(): v for k, v in self.headers.items()})
        status, body = TicketEndpoint.answers.pop(0)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def endpoint():
    server = ThreadingHTTPServer(("127.0.0.1", 0), TicketEndpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    TicketEndpoint.answers, TicketEndpoint.seen = [], []
    yield f"http://127.0.0.1:{server.server_address[1]}/realtime/ticket/"
    server.shutdown()
    server.server_close()


async def test_http_tickets_post_with_the_session_and_a_csrf_pair_and_name_each_failure(endpoint):
    TicketEndpoint.answers = [
        (200, json.dumps({"ticket": "t" * 43, "expires_in": 60}).encode()),
        (401, b'{"error": "auth_required"}'),
        (500, b"oops"),
        (200, b"not json"),
        (200, b'{"no": "ticket"}'),
    ]
    source = HttpTickets(endpoint, session="abc123")
    assert await source.ticket() == "t" * 43
    headers = TicketEndpoint.seen[0]
    csrf = headers["x-csrftoken"]
    assert headers["cookie"] == f"sessionid=abc123; csrftoken={csrf}" and len(csrf) == 32
    codes = []
    for _ in range(4):
        with pytest.raises(RealtimeError) as failed:
            await source.ticket()
        codes.append(failed.value.code)
    assert codes == ["auth_failed", "ticket_unavailable", "ticket_unavailable", "ticket_unavailable"]


async def test_a_ticket_url_that_does_not_answer_is_unavailable_not_a_crash():
    with pytest.raises(RealtimeError) as failed:
        await HttpTickets("http://127.0.0.1:1/realtime/ticket/", timeout=2).ticket()
    assert failed.value.code == "ticket_unavailable"


async def test_a_fixed_ticket_works_once():
    source = FixedTicket("t" * 43)
    assert await source.ticket() == "t" * 43
    with pytest.raises(RealtimeError, match="HttpTickets"):
        await source.ticket()


def test_the_ticket_subprotocol_is_the_servers():
    from realtime import tickets

    assert (SUBPROTOCOL, TICKET_PROTOCOL_PREFIX) == (tickets.SUBPROTOCOL, tickets.TICKET_PROTOCOL_PREFIX)


def test_without_websockets_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "websockets.asyncio.client", None)
    with pytest.raises(ImportError, match=r"pip install '.+\[client\]'"):
        client_connection._websockets_connect()


def test_the_tail_command_line():
    args = parser().parse_args(
        [
            "tail",
            "stream.1",
            "--url",
            "ws://x/",
            "--ticket-url",
            "http://x/t/",
            "--header",
            "Authorization: Token k",
        ]
    )
    source = ticket_source(args)
    assert isinstance(source, HttpTickets) and source.headers == {"Authorization": "Token k"}
    assert ticket_source(parser().parse_args(["tail", "t.1", "--url", "ws://x/", "--ticket", "abc"])) == "abc"


# -- the connection loop against a small server ---------------------------------------------------
async def eventually(condition, within: float = 5.0) -> None:
    async with asyncio.timeout(within):
        while not condition():
            await asyncio.sleep(0.05)
            continue


async def test_a_silent_server_is_given_up_by_the_heartbeat_and_4003_stops_the_client():
    behaviour = {"mode": "silent"}
    connections = []

    async def handler(socket):
        connections.append(socket)
        await socket.send(json.dumps({"type": "hello", "user": None, "heartbeat": 0.2, "max_frame": 16384}))
        if behaviour["mode"] == "revoke":
            await socket.close(4003, "signed out")
            return
        await socket.wait_closed()  # never answers a ping

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        states = []
        client = Client(
            f"ws://127.0.0.1:{port}/", random=lambda: 0.0, on_state=lambda s, r: states.append((s, r))
        )
        async with client:
            await eventually(lambda: client.connections >= 2)
            assert connections[0].close_code == 4000  # we closed it: no frame for two intervals
            behaviour["mode"] = "revoke"
            await connections[-1].close()  # 1000: reconnect, this time to a server that revokes us
            await eventually(lambda: client.state == "offline")
            assert client.reason == "signed_out"
            with pytest.raises(RealtimeError) as stopped:
                await client.publish("stream.1", "comment", {"text": "x"})
            assert stopped.value.code == "signed_out"
        assert ("live", None) in states and ("reconnecting", None) in states


async def test_unsubscribe_ends_the_iteration_and_tells_the_server():
    frames = []

    async def handler(socket):
        await socket.send(json.dumps({"type": "hello", "user": None, "heartbeat": 25}))
        async for raw in socket:
            frame = json.loads(raw)
            frames.append(frame)
            if frame["type"] == "subscribe":
                reply = {"type": "subscribed", "ref": frame["ref"], "topic": frame["topic"], "history": 0}
                await socket.send(json.dumps({**reply, "last_id": 3, "state": {"viewers": 2}}))
                await socket.send(
                    json.dumps({"type": "event", "topic": frame["topic"], "event": "e", "id": 4})
                )

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with Client(f"ws://127.0.0.1:{port}/") as client:
            subscription = client.subscribe("broadcast.all", since=3)
            await subscription.ready(5)
            assert subscription.state == {"viewers": 2}
            event = await subscription.next(5)
            assert (event.id, event.resumed, subscription.last_id) == (4, False, 4)
            with pytest.raises(TypeError):
                await client.publish("broadcast.all", "x", {"when": object()})
            subscription.unsubscribe()
            assert [e async for e in subscription] == []
            await eventually(lambda: any(f["type"] == "unsubscribe" for f in frames))
    assert frames[0] == {"type": "subscribe", "topic": "broadcast.all", "ref": frames[0]["ref"], "since": 3}


# -- the engine's edge cases ----------------------------------------------------------------------
def test_the_engine_refuses_a_second_subscription_and_drops_queued_publishes_on_unsubscribe():
    session = Session(random=lambda: 0.5)
    outcomes = []
    hooks = {"deliver": lambda f, i: None, "on_subscribed": lambda f: None, "on_refused": lambda e: None}
    session.subscribe("stream.1", since=None, **hooks)
    with pytest.raises(ValueError, match="already subscribed"):
        session.subscribe("stream.1", since=None, **hooks)
    session.connection_made(0.0)
    session.frame_received({"type": "hello", "heartbeat": "soon", "max_in_flight": True}, 0.0)
    assert session.outbox.max_in_flight == 64 and session.heartbeat == 25.0
    session.publish(
        "stream.1",
        "comment",
        {"text": "x"},
        retry=False,
        timeout=0,
        settle=lambda a, e: outcomes.append(e),
        now=0,
    )
    session.unsubscribe("stream.1")
    session.unsubscribe("stream.1")  # twice is harmless
    assert [e.code for e in outcomes] == ["unsubscribed"]
    assert session.take()[-1]["type"] == "unsubscribe"
    # Frames that are not ours to act on change nothing and raise nothing.
    for frame in (
        {"type": "batch", "messages": [1, None]},
        {"type": "error", "ref": "nope", "code": "x"},
        {},
    ):
        session.frame_received(frame, 1.0)
    assert RealtimeError("x", frame={"retry_after": True}).retry_after is None
    assert RealtimeError("x", frame={"retry_after": 2}).retry_after == 2.0


async def test_a_publish_the_server_could_not_take_yet_is_sent_again_and_resolves_with_the_ack():
    publishes = []

    async def handler(socket):
        await socket.send(json.dumps({"type": "hello", "user": None, "heartbeat": 25, "max_in_flight": 1}))
        async for raw in socket:
            frame = json.loads(raw)
            publishes.append(frame)
            if len(publishes) == 1:
                refusal = {
                    "type": "error",
                    "ref": frame["ref"],
                    "code": "too_many_in_flight",
                    "retry_after": 0.2,
                }
                await socket.send(json.dumps(refusal))
            else:
                await socket.send(
                    json.dumps({"type": "ack", "ref": frame["ref"], "topic": frame["topic"], "id": 9})
                )

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with Client(f"ws://127.0.0.1:{port}/") as client:
            ack = await asyncio.wait_for(
                client.publish("stream.9", "comment", {"text": "x", "client_id": "c"}), 5
            )
    assert ack["id"] == 9
    assert len(publishes) == 2 and publishes[0] == publishes[1]  # the same frame: same ref, same client_id
