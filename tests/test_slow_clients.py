"""Clients that read too slowly, against real daphne: what they observe, and when they are cut off.

The rule (docs/protocol.md, close code 4008): a connection whose unsent backlog stays over
MAX_PENDING_BYTES for SLOW_GRACE seconds (or passes HARD_LIMIT_FACTOR times that at once) has the
backlog dropped and a close 4008 sent right behind what is already on the wire. A client still reading
gets that close frame; one that stopped reading has its TCP connection aborted CLOSE_TIMEOUT seconds
later. Meanwhile every other subscriber keeps receiving.

The stream is published straight onto the site's Redis layer as ephemeral events (no database), so the
test controls its rate exactly.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import struct
import time

import pytest
from websockets.exceptions import ConnectionClosed

from realtime.eventlog import StoredEvent
from realtime.layers import redis_layer
from realtime.topics.names import group_for_topic
from realtime.transport import CLOSE_TIMEOUT, SLOW_GRACE
from tests.conftest import DaphneServer
from tests.wsclient import WsClient

TOPIC = "broadcast.all"
EVENT_BYTES = 50_000
CLOSING_LINE = "Closing a connection that stopped reading"
TCP_ESTABLISHED = 1


@pytest.fixture(scope="module")
def server(redis_site):
    return redis_site.server()


@pytest.fixture
async def layer(redis_site):
    from channels_redis.core import RedisChannelLayer

    layer = RedisChannelLayer(**redis_layer(redis_site.env["REDIS_URL"])["CONFIG"])
    yield layer
    await layer.close_pools()


@pytest.fixture
def fresh_log(server):
    server.log.write_text("")


class Stream:
    """Publishes numbered events of EVENT_BYTES on TOPIC every `interval` seconds until stopped."""

    def __init__(self, layer, interval: float = 0.01) -> None:
        self.layer = layer
        self.interval = interval
        self.sent = 0
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            event = StoredEvent(topic=TOPIC, name="bulk", data={"n": self.sent, "pad": "x" * EVENT_BYTES})
            await self.layer.group_send(group_for_topic(TOPIC), event.as_message())
            self.sent += 1
            await asyncio.sleep(self.interval)

    async def stop(self) -> int:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        return self.sent


def small_buffer_socket(port: int) -> socket.socket:
    """A connected client socket with a small, fixed receive buffer (no autotuning to 32 MB), so a
    client that stops reading backs the server up within a second or two."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


def tcp_state(sock: socket.socket) -> int:
    return struct.unpack("B", sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[:1])[0]


async def when_logged(server, text: str, timeout: float) -> float:
    """The time (monotonic) at which `text` was first seen in the server's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in server.output():
            return time.monotonic()
        await asyncio.sleep(0.05)
    raise AssertionError(f"{text!r} not logged within {timeout} s:\n{server.output()[-2000:]}")


async def read_all(client: WsClient, until: asyncio.Event) -> list[int]:
    """What a healthy subscriber receives: the numbers of the bulk events, until told to stop."""
    seen: list[int] = []
    while not until.is_set() or client.inbox:
        try:
            message = await client.receive(timeout=0.5)
        except TimeoutError:
            continue
        if message.get("event") == "bulk":
            seen.append(message["data"]["n"])
    return seen


def assert_clean(server) -> None:
    log = server.output()
    assert "Traceback" not in log and "Exception inside application" not in log, log[-3000:]


async def test_a_client_that_stops_reading_is_cut_off_within_the_bound_while_others_keep_receiving(
    server, layer, fresh_log
):
    """Bound: SLOW_GRACE after its backlog passes MAX_PENDING_BYTES the server sends 4008, and
    CLOSE_TIMEOUT after that the TCP connection of a client that still reads nothing is aborted."""
    sock = small_buffer_socket(server.port)
    async with WsClient(server.ws_url) as reader, WsClient(server.ws_url, sock=sock, max_queue=1) as stalled:
        await reader.subscribe(TOPIC)
        await stalled.subscribe(TOPIC)
        raw = stalled.socket.transport.get_extra_info("socket")
        done = asyncio.Event()
        reading = asyncio.create_task(read_all(reader, done))
        stream = Stream(layer)
        started = time.monotonic()
        closing = await when_logged(server, CLOSING_LINE, timeout=30)
        # The kernel's view of the stalled socket, polled: nothing in the client library notices a
        # reset while it is not reading.
        while tcp_state(raw) == TCP_ESTABLISHED and time.monotonic() < closing + CLOSE_TIMEOUT + 5:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        cut = time.monotonic()
        sent = await stream.stop()
        await asyncio.sleep(0.5)
        done.set()
        seen = await reading
        assert tcp_state(raw) != TCP_ESTABLISHED, "the stalled client's connection is still open"
        print(
            f"backlog closed {closing - started:.1f} s after the stream started; connection aborted "
            f"{cut - closing:.1f} s after the close; {sent} events of {EVENT_BYTES} bytes sent"
        )
        # The close waits CLOSE_TIMEOUT for a reply that never comes (4 to 5 s: autobahn rounds its
        # timers down to whole seconds), then the connection is aborted.
        assert CLOSE_TIMEOUT - 1.5 <= cut - closing <= CLOSE_TIMEOUT + 3
        # The reader got every event, in order, while the other was stalled and after it was cut off.
        assert seen == list(range(sent))
    # What was waiting for it was freed at once rather than held until the abort.
    dropped = re.search(r"stopped reading .*: (\d+) bytes waiting, (\d+) dropped", server.output())
    assert dropped and int(dropped[2]) > 0, server.output()[-2000:]
    assert_clean(server)


async def test_a_slow_reader_that_is_still_reading_gets_the_4008_close_frame(server, layer, fresh_log):
    """A client that falls behind and then reads again gets the frames already on the wire and then
    close 4008, not a reset: the backlog is dropped so the close frame comes right behind them, and
    it is given CLOSE_TIMEOUT (not autobahn's 1 s) to get there. Before, the close frame sat behind
    megabytes of backlog and the connection was aborted 1 s later: the client saw 1006."""
    sock = small_buffer_socket(server.port)
    async with WsClient(server.ws_url, sock=sock, max_queue=1) as slow:
        await slow.subscribe(TOPIC)
        stream = Stream(layer)
        try:
            closing = await when_logged(server, CLOSING_LINE, timeout=30)
            # Longer than autobahn's default close timeout, well within ours: then read again.
            await asyncio.sleep(max(SLOW_GRACE, 2.0))
            assert time.monotonic() - closing < CLOSE_TIMEOUT - 1
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    message = json.loads(await asyncio.wait_for(slow.socket.recv(), CLOSE_TIMEOUT))
                    assert message["type"] in ("event", "batch")  # intact frames up to the close
        finally:
            await stream.stop()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4008
    assert_clean(server)


def test_dropping_the_backlog_keeps_the_frame_already_on_the_wire():
    """Only whole frames nobody has seen a byte of are dropped: the tail of a frame the kernel took
    part of stays, or the client would read the close frame's bytes as the rest of that frame."""
    from types import SimpleNamespace

    from realtime.writers import DaphneWriter

    def writer(chunks: list[bytes], partial: bytes | None) -> DaphneWriter:
        transport = SimpleNamespace(
            _tempDataBuffer=chunks, _tempDataLen=sum(map(len, chunks)), dataBuffer=b"joined", offset=2
        )
        made = DaphneWriter(SimpleNamespace(transport=transport), max_pending=10, on_overflow=lambda: None)
        made.buffered = transport  # as `buffered_tcp` finds Twisted's own TCP transport
        made.partial = partial
        return made

    tail = b"tail of a frame"
    kept = writer([tail, b"frame one", b"frame two"], tail)
    assert kept._drop_backlog() == len(b"frame one") + len(b"frame two")
    assert kept.protocol.transport._tempDataBuffer == [tail]
    assert kept.protocol.transport._tempDataLen == len(tail)
    assert kept.protocol.transport.dataBuffer == b"joined"  # being sent: stays

    # A tail that already went out (Twisted joined it into dataBuffer) is not mistaken for a new chunk.
    whole = writer([b"frame three"], tail)
    assert whole._drop_backlog() == len(b"frame three") and whole.protocol.transport._tempDataBuffer == []

    # Any other transport, even one with the same attributes (TLS forwards them to the TCP transport
    # under it): nothing dropped, the close waits behind the backlog until CLOSE_TIMEOUT.
    lookalike = writer([b"frame four"], None)
    lookalike._classify()
    assert lookalike.buffered is None and lookalike._drop_backlog() == 0
    assert lookalike.protocol.transport._tempDataBuffer == [b"frame four"]


async def test_on_untested_server_releases_a_stalled_client_is_still_cut_off(redis_site, layer, tmp_path):
    """With the version fence closed (Twisted and autobahn outside the tested range) nothing reads
    Twisted's buffers: the backlog is seen through Twisted's public flow control (`FlowWatch`), so a
    client that stops reading is still closed and aborted, and the reader still gets everything."""
    from tests.test_compat import untested_releases

    server = DaphneServer(untested_releases(redis_site.env, tmp_path / "fake")).start()
    redis_site.servers.append(server)
    try:
        sock = small_buffer_socket(server.port)
        async with (
            WsClient(server.ws_url) as reader,
            WsClient(server.ws_url, sock=sock, max_queue=1) as stalled,
        ):
            await reader.subscribe(TOPIC)
            await stalled.subscribe(TOPIC)
            raw = stalled.socket.transport.get_extra_info("socket")
            done = asyncio.Event()
            reading = asyncio.create_task(read_all(reader, done))
            stream = Stream(layer)
            closing = await when_logged(server, CLOSING_LINE, timeout=30)
            while tcp_state(raw) == TCP_ESTABLISHED and time.monotonic() < closing + CLOSE_TIMEOUT + 5:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            sent = await stream.stop()
            await asyncio.sleep(0.5)
            done.set()
            seen = await reading
            assert tcp_state(raw) != TCP_ESTABLISHED, "the stalled client's connection is still open"
            assert seen == list(range(sent))
    finally:
        server.stop()
    assert "realtime was not tested with" in server.output()
    assert_clean(server)


def test_the_flow_watch_counts_what_is_written_while_twisted_holds_too_much_and_passes_everything_on():
    from realtime.transport import FlowWatch

    calls = []

    class Previous:  # the HTTP channel daphne leaves registered
        def pauseProducing(self):
            calls.append("pause")

        def resumeProducing(self):
            calls.append("resume")

        def stopProducing(self):
            calls.append("stop")

    watch = FlowWatch(Previous())
    watch.wrote(100)
    assert watch.pending == 0  # below the transport's high-water mark: nothing counts
    watch.pauseProducing()
    watch.wrote(100)
    watch.wrote(50)
    assert watch.pending == 150
    watch.resumeProducing()
    assert watch.pending == 0 and not watch.paused
    watch.stopProducing()
    assert calls == ["pause", "resume", "stop"]
