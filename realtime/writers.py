"""The two ways to write frames to a socket: straight to daphne's protocol, or through ASGI `send`.

`make_writer` picks one per connection. Both bound a slow client's backlog with `transport.Backlog`
and close with `CLOSE_TOO_SLOW` (realtime.transport has the rules and the constants).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from . import compat, shutdown
from .transport import CLOSE_TIMEOUT, CLOSE_TOO_SLOW, Backlog, FlowWatch, Frame, Writer

logger = logging.getLogger("realtime.transport")


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

    Only for a transport proven to be plain TCP: `buffered_tcp()` below. A TLS transport forwards unknown
    attributes to the TCP transport under it, so anything duck-typed would write plaintext into the
    TLS stream (issue 18). Everything else goes through autobahn's public `sendMessage`.
    """

    __slots__ = (
        "protocol",
        "backlog",
        "on_overflow",
        "classified",
        "raw",
        "socket",
        "plain",
        "buffered",
        "watch",
        "partial",
    )

    def __init__(self, protocol: Any, max_pending: int, on_overflow: Callable[[], None]) -> None:
        self.protocol = protocol
        self.backlog = Backlog(max_pending)
        self.on_overflow = on_overflow
        self.classified = False  # the transport is looked at on the first write, after the handshake
        self.raw = False  # write `Frame.wire` to the TCP transport rather than through `sendMessage`
        self.socket: Any = None
        self.plain: Any = None  # the plain TCP transport, when `write`'s fast path may use it
        self.buffered: Any = None  # the Twisted TCP transport whose buffer is this socket's backlog
        self.watch: FlowWatch | None = None  # the backlog through public flow control, where not `buffered`
        # The tail of a frame the kernel took only part of: the one chunk in Twisted's buffer that does
        # not start a frame, so the one `_drop_backlog` must keep.
        self.partial: bytes | None = None

    def _classify(self) -> None:
        self.classified = True
        transport = self.protocol.transport
        self.buffered = buffered_tcp(transport)
        if self.buffered is None:
            self.watch = watch_flow(self.protocol)
        # Prebuilt frames only on Twisted's plain TCP transport, and only the frames autobahn would build.
        self.raw = self.buffered is transport and self._raw_allowed()
        self.socket = transport.socket if self.raw else None
        self.plain = transport if self.socket is not None else None

    def _raw_allowed(self) -> bool:
        protocol = self.protocol
        return (
            getattr(protocol, "_perMessageCompress", None) is None
            and not getattr(protocol, "maskServerFrames", False)
            and not getattr(protocol, "autoFragmentSize", 0)
        )

    def pending_bytes(self) -> int:
        """The bytes written to this socket that the kernel has not taken yet.

        Plain TCP: Twisted's buffer. TLS on daphne: the buffer of the TCP transport under the TLS layer
        (encrypted bytes; the TLS layer itself holds at most 64 KB more for one loop pass). Any other
        transport, or releases outside the tested range: what `FlowWatch` saw written since Twisted
        asked to pause (a lower bound).
        """
        if not self.classified:
            self._classify()
        tcp = self.buffered
        if tcp is None:
            return self.watch.pending if self.watch is not None else 0
        return len(tcp.dataBuffer) - tcp.offset + tcp._tempDataLen

    def write(self, frame: Frame) -> bool:
        protocol = self.protocol
        if protocol.state != protocol.STATE_OPEN:
            return False
        plain = self.plain
        if plain is not None and not protocol.send_queue:
            # The common case, once per viewer per frame: plain TCP with nothing held back anywhere,
            # so hand the kernel the frame and Twisted whatever it leaves. The steps below for this
            # case, without the generic lookups, in one function: each call and lookup saved is
            # multiplied by every delivery (`pending_bytes` and `stalled` were 6% of a steady room's
            # CPU samples in bench/).
            if not (len(plain.dataBuffer) - plain.offset + plain._tempDataLen or plain.disconnecting):
                backlog = self.backlog
                if backlog.over_since is not None:
                    backlog.over_since = None  # what `stalled(0)` records: not over the bound
                wire = frame._wire or frame.wire
                self.partial = None  # any earlier tail has gone out
                try:
                    sent = self.socket.send(wire)
                except (BlockingIOError, InterruptedError):
                    sent = 0
                except OSError:
                    return False  # the connection is going away; Twisted notices and daphne disconnects
                if sent < len(wire):
                    self.partial = wire[sent:]
                    plain.write(self.partial)
                return True
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
        if not self.raw or protocol.send_queue:
            protocol.sendMessage(frame.data, False)
            if self.watch is not None:
                self.watch.wrote(len(frame.data))
            return True
        transport = protocol.transport
        if pending or self.socket is None or transport.disconnecting:
            transport.write(frame.wire)  # keep the order behind what Twisted already holds
            return True
        # Only a socket's first write gets here (it was classified just now): the direct path above.
        return self.write(frame)

    def _drop_backlog(self) -> int:
        """Forget the frames Twisted holds that no byte of has been sent; the number of bytes dropped.

        Every chunk in Twisted's pending list is one whole frame (ours or autobahn's), except a
        `partial` tail of ours, which only ever comes first; the bytes already joined for sending
        (`dataBuffer`) end on a frame boundary and stay. Plain TCP only: TLS records cannot be cut
        apart, so under TLS (or any other transport) nothing is dropped and the close waits behind the
        backlog until CLOSE_TIMEOUT aborts the connection.
        """
        transport = self.buffered
        if transport is None or transport is not self.protocol.transport:
            return 0
        chunks = transport._tempDataBuffer
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

    __slots__ = ("send", "backlog", "on_overflow", "queue", "queued_bytes", "open", "wakeup", "task")

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


def buffered_tcp(transport: Any) -> Any | None:
    """The Twisted TCP transport that holds `transport`'s unsent bytes, when its buffer may be read.

    `transport` itself when it is exactly Twisted's TCP server transport (plain TCP: the fast path may
    write to its socket); the TCP transport under it when it is exactly Twisted's TLS layer (its buffer
    measures the backlog, nothing more); None for anything else (subclasses and wrappers included,
    whatever attributes they forward) or when Twisted or autobahn is outside the tested range.
    """
    if not compat.allows("direct_writes"):
        return None
    from twisted.internet import tcp
    from twisted.protocols import tls

    kind = type(transport)
    if kind is tcp.Server:
        return transport
    tls_layers = (tls.TLSMemoryBIOProtocol, getattr(tls, "BufferingTLSTransport", tls.TLSMemoryBIOProtocol))
    if kind in tls_layers and type(transport.transport) is tcp.Server:
        return transport.transport
    return None


def watch_flow(protocol: Any) -> FlowWatch | None:
    """A `FlowWatch` registered as the connection's streaming producer, in front of the producer already
    there (daphne leaves the HTTP channel the socket was upgraded from); None if Twisted refuses it, and
    the backlog is then not bounded. Public calls only: autobahn's `registerProducer` and
    `unregisterProducer`, and the `producer` a Twisted transport documents."""
    try:
        previous = getattr(protocol.transport, "producer", None)
        if previous is not None:
            protocol.unregisterProducer()
        watch = FlowWatch(previous)
        protocol.registerProducer(watch, True)
        return watch
    except Exception:
        logger.debug("No flow control for this connection's backlog", exc_info=True)
        return None


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
        shutdown.track(protocol)
        return DaphneWriter(protocol, max_pending, on_overflow)
    return QueueWriter(send, max_pending, on_overflow)
