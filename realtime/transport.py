"""Writing already-encoded frames to one WebSocket, as cheaply as the server allows.

The hub writes the same frame to thousands of sockets. Going through the ASGI `send` coroutine costs an
await, a dict and a UTF-8 encode per viewer; under daphne we can hand the frame's bytes (encoded once per
frame) straight to the Twisted protocol, which is what daphne's own `send` does in the end. Any other
server gets a per-connection queue drained by one task.

Both bound what a slow client can pin in memory (`Backlog`): a backlog over `max_pending` bytes is
allowed for a short grace period (a burst a healthy client is still reading), never beyond
`HARD_LIMIT_FACTOR` times that; then the connection is closed with 4008 and the client resumes from
history when it reconnects. The backlog is dropped first, so the close frame goes out right behind what
is already on the wire instead of behind megabytes nobody reads; a peer that does not complete the
closing handshake within `CLOSE_TIMEOUT` seconds (it has stopped reading) has its TCP connection
aborted. docs/protocol.md says what each kind of slow client sees.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

logger = logging.getLogger("realtime.transport")

# Close codes: daphne's WebSocket library (autobahn) only lets an application close with 1000 or a code
# in 3000-4999 (1008 raises inside the server and the client sees 1011), so ours are all 4xxx.
CLOSE_AUTH_FAILED = 4001  # bad or expired ticket: get a new one
CLOSE_REVOKED = 4003  # logged out, deactivated, password changed: stop
CLOSE_TOO_SLOW = 4008  # the client stopped reading: reconnect and resume
CLOSE_TOO_MANY_CONNECTIONS = 4029  # over MAX_CONNECTIONS_PER_USER/_ADDRESS: reconnect after a long pause
CLOSE_POLICY = 4429  # too many malformed requests: reconnect only after a long pause
SLOW_GRACE = 2.0  # seconds a backlog may stay over the bound before the client counts as stalled
HARD_LIMIT_FACTOR = 8
# Seconds a client has, after any close of ours, to read what is still in flight and answer the close;
# then its TCP connection is aborted. autobahn's own default (1 s) is too short for a slow reader to get
# through the socket buffers (several MB on a fast link) to its 4008, and for a client still busy
# sending (a flood) to reach its 4429: an abort then resets the connection and the client may lose
# the close frame, so the browser client would reconnect at once instead of pausing.
CLOSE_TIMEOUT = 5.0


class Backlog:
    """Decides when a connection's unwritten bytes mean "stalled" rather than "busy"."""

    __slots__ = ("limit", "over_since")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.over_since: float | None = None

    def stalled(self, pending: int) -> bool:
        if pending <= self.limit:
            self.over_since = None
            return False
        if pending > self.limit * HARD_LIMIT_FACTOR:
            return True
        now = time.monotonic()
        if self.over_since is None:
            self.over_since = now
        return now - self.over_since >= SLOW_GRACE


class Frame:
    """One outgoing text frame; encoded and framed at most once, however many sockets get it."""

    __slots__ = ("text", "_data", "_wire")

    def __init__(self, text: str) -> None:
        self.text = text
        self._data: bytes | None = None
        self._wire: bytes | None = None

    @property
    def data(self) -> bytes:
        if self._data is None:
            self._data = self.text.encode()
        return self._data

    @property
    def wire(self) -> bytes:
        """The complete RFC 6455 frame a server sends: FIN + text opcode, length, unmasked payload."""
        if self._wire is None:
            payload = self.data
            size = len(payload)
            if size < 126:
                header = bytes((0x81, size))
            elif size < 1 << 16:
                header = bytes((0x81, 126)) + size.to_bytes(2, "big")
            else:
                header = bytes((0x81, 127)) + size.to_bytes(8, "big")
            self._wire = header + payload
        return self._wire


class Writer:
    """Interface: `write()` never awaits and never raises; it returns False once the socket is gone."""

    def write(self, frame: Frame) -> bool:  # pragma: no cover - interface
        raise NotImplementedError

    def write_close(self, code: int) -> None:
        """Close the socket after the frames already written (ordering matters: an error, then 4429)."""
        raise NotImplementedError  # pragma: no cover - interface

    def release(self) -> None:
        """Free resources once the connection is gone."""


class DaphneWriter(Writer):
    """Writes through daphne's autobahn protocol, or straight to the socket when allowed.

    autobahn's `sendMessage` builds a new frame (header + a copy of the payload) for every socket. When
    the connection has no compression, no server-side masking or fragmenting, and nothing queued inside
    autobahn, the frame is the same bytes for everyone: `Frame.wire`.

    Those bytes then go to the socket with one `send()` when Twisted holds nothing for it. Twisted's
    `transport.write()` never sends at once: it buffers, registers the socket with the selector, sends on
    the next loop pass and unregisters (two `epoll_ctl` calls per delivery), which measured 3.7x the CPU
    of a direct send in bench/ (daphne-bare-transport vs daphne-bare-direct). Whatever the kernel does
    not take goes to Twisted's buffer, which keeps the order and counts toward the backlog bound.
    """

    def __init__(self, protocol: Any, max_pending: int, on_overflow: Callable[[], None]) -> None:
        self.protocol = protocol
        self.backlog = Backlog(max_pending)
        self.on_overflow = on_overflow
        self.raw: bool | None = None  # decided on the first write, once the handshake has finished
        self.socket: Any = None
        # The tail of a frame the kernel took only part of: the one chunk in Twisted's buffer that does
        # not start a frame, so the one `_drop_backlog` must keep.
        self.partial: bytes | None = None

    def _raw_allowed(self) -> bool:
        protocol = self.protocol
        return (
            getattr(protocol, "_perMessageCompress", None) is None
            and not getattr(protocol, "maskServerFrames", False)
            and not getattr(protocol, "autoFragmentSize", 0)
        )

    def pending_bytes(self) -> int:
        transport = self.protocol.transport
        # Twisted's FileDescriptor buffer (plain TCP). TLS and other transports report 0: unbounded
        # there, so terminate TLS in front of daphne (the usual deployment) to keep the bound.
        buffered = getattr(transport, "dataBuffer", b"")
        return len(buffered) - getattr(transport, "offset", 0) + getattr(transport, "_tempDataLen", 0)

    def write(self, frame: Frame) -> bool:
        protocol = self.protocol
        if protocol.state != protocol.STATE_OPEN:
            return False
        pending = self.pending_bytes()
        if self.backlog.stalled(pending):
            dropped = self._drop_backlog()
            logger.info(
                "Closing a connection that stopped reading (%s): %d bytes waiting, %d dropped",
                getattr(protocol, "client_addr", "?"),
                pending,
                dropped,
            )
            self.write_close(CLOSE_TOO_SLOW)
            self.on_overflow()
            return False
        if self.raw is None:
            self.raw = self._raw_allowed()
            self.socket = getattr(protocol.transport, "socket", None)
        if not self.raw or protocol.send_queue:
            protocol.sendMessage(frame.data, False)
            return True
        wire = frame.wire
        transport = protocol.transport
        if pending or self.socket is None or transport.disconnecting:
            transport.write(wire)  # keep the order behind what Twisted already holds
            return True
        self.partial = None  # Twisted holds nothing: any earlier tail has gone out
        try:
            sent = self.socket.send(wire)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            return False  # the connection is going away; Twisted notices and daphne disconnects
        if sent < len(wire):
            self.partial = wire[sent:]
            transport.write(self.partial)
        return True

    def _drop_backlog(self) -> int:
        """Forget the frames Twisted holds that no byte of has been sent; the number of bytes dropped.

        Every chunk in Twisted's pending list is one whole frame (ours or autobahn's), except a
        `partial` tail of ours, which only ever comes first; the bytes already joined for sending
        (`dataBuffer`) end on a frame boundary and stay. Anything else about the transport (TLS, another
        Twisted) and nothing is dropped: the close then waits behind the backlog until the timeout.
        """
        transport = self.protocol.transport
        chunks = getattr(transport, "_tempDataBuffer", None)
        if not isinstance(chunks, list) or not isinstance(getattr(transport, "_tempDataLen", None), int):
            return 0
        keep = chunks[:1] if chunks and chunks[0] is self.partial else []
        dropped = sum(len(chunk) for chunk in chunks) - sum(len(chunk) for chunk in keep)
        chunks[:] = keep
        transport._tempDataLen = sum(len(chunk) for chunk in keep)
        self.partial = None
        return dropped

    def write_close(self, code: int) -> None:
        if self.protocol.state == self.protocol.STATE_OPEN:
            self.protocol.closeHandshakeTimeout = CLOSE_TIMEOUT  # read by autobahn when it sends the close
            self.protocol.sendClose(code=code)


class QueueWriter(Writer):
    """Portable writer: a bounded queue per connection, drained by one task through ASGI `send`."""

    def __init__(
        self, send: Callable[[dict], Awaitable[None]], max_pending: int, on_overflow: Callable[[], None]
    ) -> None:
        self.send = send
        self.backlog = Backlog(max_pending)
        self.on_overflow = on_overflow
        self.queue: deque[Frame | int] = deque()
        self.queued_bytes = 0
        self.open = True
        self.wakeup = asyncio.Event()
        self.task = asyncio.get_running_loop().create_task(self._drain())

    def write(self, frame: Frame) -> bool:
        if not self.open:
            return False
        # Judged on what is already waiting, as for daphne: one large frame is not by itself "slow".
        if self.backlog.stalled(self.queued_bytes):
            self.queue.clear()
            self.queued_bytes = 0
            self.write_close(CLOSE_TOO_SLOW)
            self.on_overflow()
            return False
        self.queue.append(frame)
        self.queued_bytes += len(frame.text)
        self.wakeup.set()
        return True

    async def _drain(self) -> None:
        try:
            while True:
                await self.wakeup.wait()
                self.wakeup.clear()
                while self.queue:
                    item = self.queue.popleft()
                    if isinstance(item, int):
                        await self.send({"type": "websocket.close", "code": item})
                        self.open = False
                        return
                    self.queued_bytes -= len(item.text)
                    await self.send({"type": "websocket.send", "text": item.text})
        except asyncio.CancelledError:
            pass
        except Exception:  # the peer went away mid-send; the consumer's disconnect cleans up
            self.open = False

    def write_close(self, code: int) -> None:
        if self.open:
            self.queue.append(code)
            self.open = False
            self.wakeup.set()

    def release(self) -> None:
        self.open = False
        self.task.cancel()


def daphne_protocol(send: Any) -> Any | None:
    """The Twisted protocol behind daphne's ASGI `send` (a `partial(server.handle_reply, protocol)`)."""
    if isinstance(send, functools.partial) and send.args:
        protocol = send.args[0]
        if hasattr(protocol, "sendMessage") and hasattr(protocol, "STATE_OPEN"):
            return protocol
    return None


def make_writer(
    raw_send: Any,
    send: Callable[[dict], Awaitable[None]],
    *,
    max_pending: int,
    on_overflow: Callable[[], None],
) -> Writer:
    """The fastest safe writer for this connection: direct under daphne, queued elsewhere."""
    protocol = daphne_protocol(raw_send)
    if protocol is not None:
        return DaphneWriter(protocol, max_pending, on_overflow)
    return QueueWriter(send, max_pending, on_overflow)
