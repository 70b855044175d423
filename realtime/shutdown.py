"""A planned shutdown of daphne (SIGTERM: a deploy, a rolling restart) closes every WebSocket it serves
(realtime's, and any other app's on the same daphne) with 1001 "going away", so clients reconnect soon and without a backoff penalty (docs/protocol.md).

Without this, daphne cancels the applications and the reactor then drops every TCP connection: the
client sees 1006, the code of a network failure. Here a Twisted "before shutdown" trigger, installed
the first time a socket is served by daphne, sends the close frame on every open socket and lets the
reactor go on once each has finished its closing handshake, or after `SHUTDOWN_GRACE` seconds.

autobahn's public `sendClose` refuses 1001 (only 1000 and 3000-4999 are for applications); autobahn
itself sends 1001 through `sendCloseFrame`, as daphne does for 1011. That is a private method, so it is
used only with a tested autobahn (`realtime.compat`); any other autobahn gets `sendClose(1000)`, which
clients treat as "reconnect with backoff".
"""

from __future__ import annotations

import logging
import weakref
from typing import Any

from . import compat
from .ops import metrics

logger = logging.getLogger("realtime.transport")

CLOSE_GOING_AWAY = 1001
#: Seconds the shutdown waits for clients to answer the close; then daphne drops what is left.
SHUTDOWN_GRACE = 2.0

# The daphne servers realtime serves sockets from (one per process): at shutdown, daphne's own table of
# connections names the sockets, so nothing is kept per socket (a weak set of sockets cost each idle
# one ~0.1 KB). Sockets of a server that has no such table are kept one by one.
_servers: weakref.WeakSet[Any] = weakref.WeakSet()
_open: weakref.WeakSet[Any] = weakref.WeakSet()
_installed = False


def track(protocol: Any) -> None:
    """Close `protocol` (daphne's WebSocket protocol) with 1001 when the reactor shuts down, and with it
    every other WebSocket its daphne serves (they would be dropped with 1006 all the same)."""
    server = getattr(protocol, "server", None)
    if isinstance(getattr(server, "connections", None), dict):
        if server not in _servers:
            _servers.add(server)
    else:
        _open.add(protocol)
    if not _installed:
        _install()


def _sockets() -> list[Any]:
    """Every WebSocket protocol to close: daphne's open WebSocket connections, and those kept singly."""
    found = dict.fromkeys(_open)
    for server in list(_servers):
        found.update((p, None) for p in list(server.connections) if hasattr(p, "STATE_OPEN"))
    return list(found)


def _reactor() -> Any:
    from twisted.internet import reactor  # daphne's (it installs the asyncio reactor first)

    return reactor


def _install() -> None:
    global _installed
    _reactor().addSystemEventTrigger("before", "shutdown", going_away)
    _installed = True


def close_going_away(protocol: Any) -> None:
    """Send 1001 on `protocol` if it is open (1000 outside autobahn's tested range)."""
    if protocol.state != protocol.STATE_OPEN:
        return
    if compat.allows("going_away_close"):
        protocol.sendCloseFrame(code=CLOSE_GOING_AWAY, reasonUtf8=b"server restarting", isReply=False)
    else:
        protocol.sendClose(code=1000)


def going_away() -> Any:
    """The shutdown trigger: close every open socket; a Deferred that fires once all are closed (or
    SHUTDOWN_GRACE has passed), so the reactor writes the close frames before it drops connections."""
    from twisted.internet import defer

    reactor = _reactor()
    closing = [protocol for protocol in _sockets() if protocol.state == protocol.STATE_OPEN]
    for protocol in closing:
        try:
            close_going_away(protocol)
        except Exception:  # one broken socket must not keep the others from their close
            logger.exception("Could not send the going-away close to %s", getattr(protocol, "peer", "?"))
    if not closing:
        return None
    metrics.close(CLOSE_GOING_AWAY, count=len(closing))
    logger.info("Shutting down: closing %d WebSocket(s) with %d", len(closing), CLOSE_GOING_AWAY)
    done: defer.Deferred[None] = defer.Deferred()
    deadline = reactor.seconds() + SHUTDOWN_GRACE

    def check() -> None:
        if reactor.seconds() >= deadline or all(
            protocol.state == protocol.STATE_CLOSED for protocol in closing
        ):
            done.callback(None)
        else:
            reactor.callLater(0.05, check)

    check()
    return done
