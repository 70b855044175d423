"""Writing already-encoded frames to one WebSocket, as cheaply as the server allows.

The hub writes the same frame to thousands of sockets. Going through the ASGI `send` coroutine costs an
await, a dict and a UTF-8 encode per viewer; under daphne we can hand the frame's bytes (encoded once per
frame) straight to the Twisted protocol, which is what daphne's own `send` does in the end, and on plain
TCP (never TLS) straight to the socket, on the Twisted and autobahn releases that was tested with
(`realtime.compat`). Any other server gets a per-connection queue drained by one task (both in
`realtime.writers`).

Both bound what a slow client can pin in memory (`Backlog`): a backlog over `max_pending` bytes is
allowed for a short grace period (a burst a healthy client is still reading), never beyond
`HARD_LIMIT_FACTOR` times that; then the connection is closed with 4008 and the client resumes from
history when it reconnects. The backlog is dropped first, so the close frame goes out right behind what
is already on the wire instead of behind megabytes nobody reads; a peer that does not complete the
closing handshake within `CLOSE_TIMEOUT` seconds (it has stopped reading) has its TCP connection
aborted. docs/protocol.md says what each kind of slow client sees.
"""

from __future__ import annotations

import logging
import time
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

    __slots__ = ()  # one writer per socket: subclasses keep theirs in slots, not a __dict__

    def write(self, frame: Frame) -> bool:  # pragma: no cover - interface
        raise NotImplementedError

    def write_close(self, code: int) -> None:
        """Close the socket after the frames already written (ordering matters: an error, then 4429)."""
        raise NotImplementedError  # pragma: no cover - interface

    def release(self) -> None:
        """Free resources once the connection is gone."""


class FlowWatch:
    """A slow client's backlog seen through Twisted's public flow control, for transports whose buffers
    may not be read (an unknown transport, or releases outside the tested range: `realtime.compat`).

    Registered as the connection's streaming producer, it is told `pauseProducing()` when the transport
    holds more than its high-water mark (64 KB for TCP) and `resumeProducing()` once that has drained.
    `pending` counts the bytes written since the pause: a lower bound of the real backlog, exact enough
    for `Backlog` to cut off a client that stopped reading. The producer registered before it (under
    daphne, the HTTP channel the socket was upgraded from) is told everything it would have been told.
    """

    __slots__ = ("paused", "pending", "previous")

    def __init__(self, previous: Any = None) -> None:
        self.paused = False
        self.pending = 0
        self.previous = previous

    def wrote(self, size: int) -> None:
        if self.paused:
            self.pending += size

    # Twisted's IPushProducer
    def pauseProducing(self) -> None:
        self.paused = True
        if self.previous is not None:
            self.previous.pauseProducing()

    def resumeProducing(self) -> None:
        self.paused = False
        self.pending = 0
        if self.previous is not None:
            self.previous.resumeProducing()

    def stopProducing(self) -> None:
        self.paused = False
        self.pending = 0
        if self.previous is not None:
            self.previous.stopProducing()
