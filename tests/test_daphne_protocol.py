"""The consumer's protocol behaviour against a real daphne process, where autobahn validates what
`WebsocketCommunicator` does not: close codes, UTF-8 of every frame, and what the server logs."""

from __future__ import annotations

import asyncio
import json
import signal

import pytest
from websockets.exceptions import ConnectionClosed

from tests.wsclient import WsClient

DEMO_STREAM = "stream.1"


async def closed_with(client: WsClient, timeout: float = 5.0) -> int | None:
    """Read until the server closes the socket; the close code it sent."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                await client.socket.recv()
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None


async def test_repeated_malformed_frames_end_in_a_policy_close_the_client_can_see(daphne_server):
    """Past ABUSE_LIMIT malformed frames the server closes with 4429: autobahn refuses 1008 from an
    application, which reached the client as 1011 with a traceback in the server's log."""
    async with WsClient(daphne_server.ws_url) as client:
        for _ in range(25):
            await client.socket.send("not json")
        assert await closed_with(client) == 4429
    log = daphne_server.output()
    assert "invalid close code" not in log and "Traceback" not in log


async def test_a_lone_surrogate_is_refused_without_crashing_or_leaving_a_phantom_viewer(daphne_server):
    """`"\\ud800"` as a JSON escape is valid JSON but not text: echoing it or storing it would fail as
    UTF-8. It is refused with bad_message; the socket lives on, and leaves its rooms when it goes."""
    async with WsClient(daphne_server.ws_url) as watcher:
        await watcher.subscribe(DEMO_STREAM)
        for field in ("ref", "topic"):
            async with WsClient(daphne_server.ws_url) as client:
                await client.subscribe(DEMO_STREAM)
                await client.socket.send(
                    '{"type":"ping","ref":"\\ud800"}'
                    if field == "ref"
                    else '{"type":"subscribe","topic":"stream.\\ud800"}'
                )
                error = await client.receive_where(type="error")
                assert error["code"] == "bad_message" and "ref" not in error
                assert (await client.request({"type": "ping"}))["type"] == "pong"
        # Both crashed-or-not clients are gone: the count comes back to the watcher alone.
        for _ in range(50):
            viewers = await watcher.receive_where(type="event", event="viewers", timeout=5)
            if viewers["data"]["count"] == 1:
                break
        assert viewers["data"]["count"] == 1
    log = daphne_server.output()
    assert "UnicodeEncodeError" not in log and "Traceback" not in log


async def test_realtime_log_lines_are_printed_once(daphne_server):
    """The example project's logging does not hand each line to daphne's root handler a second time."""
    async with WsClient(daphne_server.ws_url) as client:
        for _ in range(25):
            await client.socket.send(json.dumps({"type": "nope"}))
        await closed_with(client)
    await asyncio.sleep(0.3)
    lines = [line for line in daphne_server.output().splitlines() if "malformed requests" in line]
    assert len(lines) == 1, lines  # one close, one line


@pytest.fixture(autouse=True)
def _fresh_log(daphne_server):
    # Each test reads the log for its own lines: start from an empty file.
    daphne_server.log.write_text("")


async def test_sigterm_closes_every_socket_with_1001_going_away(site):
    """A planned restart (SIGTERM to daphne) closes every socket with 1001, which clients treat as
    "reconnect soon, no backoff penalty"; before, the reactor dropped the TCP connections: 1006."""
    server = site.server()
    try:
        clients = [WsClient(server.ws_url) for _ in range(3)]
        for client in clients:
            await client.__aenter__()
        await clients[0].subscribe(DEMO_STREAM)
        await clients[1].subscribe("broadcast.all")
        started = asyncio.get_running_loop().time()
        server.process.send_signal(signal.SIGTERM)
        codes = await asyncio.gather(*(closed_with(client, timeout=10) for client in clients))
        assert codes == [1001, 1001, 1001], server.output()[-2000:]
        assert await asyncio.to_thread(server.process.wait, 10) == 0
        print(f"closed with 1001 {asyncio.get_running_loop().time() - started:.2f} s after SIGTERM")
    finally:
        server.stop()
    log = server.output()
    assert "Traceback" not in log, log[-3000:]
