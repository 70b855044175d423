"""The floor under any Channels app on daphne: a raw ASGI WebSocket app with no Channels, no Django and
no channel layer. It accepts every connection and relays every text frame to every open connection of
the process, the same text to each (the "fan-out straight to the process's sockets" probe).

Idle and connect-storm rows for it show what daphne, Twisted and autobahn cost per connection on their
own. `BENCH_BARE_WRITE` picks how the relay writes, to measure the cost of each layer of the write path:

- `asgi` (default): `await send({"type": "websocket.send", ...})` per socket, as any ASGI app does;
- `transport`: the frame encoded once, `protocol.transport.write(frame)` per socket (what
  realtime.writers.DaphneWriter does): Twisted buffers it and registers the socket for writability,
  so each write costs two epoll_ctl calls and a trip through the event loop before `send()`;
- `direct`: try `socket.send(frame)` at once and give Twisted only what the kernel did not take (what
  Node/libuv does), keeping order by going through Twisted whenever it already holds data.
"""

import os

MODE = os.environ.get("BENCH_BARE_WRITE", "asgi")
clients: dict[int, object] = {}


def _frame(text: str) -> bytes:
    payload = text.encode()
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 1 << 16:
        return bytes((0x81, 126)) + n.to_bytes(2, "big") + payload
    return bytes((0x81, 127)) + n.to_bytes(8, "big") + payload


def _write_transport(protocol, wire: bytes) -> None:
    if protocol.state == protocol.STATE_OPEN:
        protocol.transport.write(wire)


def _write_direct(protocol, wire: bytes) -> None:
    if protocol.state != protocol.STATE_OPEN:
        return
    transport = protocol.transport
    if len(transport.dataBuffer) - transport.offset + transport._tempDataLen:
        transport.write(wire)  # Twisted still holds earlier bytes: keep the order
        return
    try:
        sent = transport.socket.send(wire)
    except (BlockingIOError, InterruptedError):
        sent = 0
    except OSError:
        return  # the connection is going away; Twisted will notice
    if sent < len(wire):
        transport.write(wire[sent:])


async def application(scope, receive, send):
    if scope["type"] != "websocket":
        return
    key = id(send)
    try:
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "websocket.connect":
                await send({"type": "websocket.accept"})
                # daphne's send is functools.partial(server.handle_reply, protocol)
                clients[key] = send if MODE == "asgi" else send.args[0]
            elif kind == "websocket.receive" and message.get("text") is not None:
                if MODE == "asgi":
                    out = {"type": "websocket.send", "text": message["text"]}
                    for client_send in list(clients.values()):
                        await client_send(out)
                else:
                    wire = _frame(message["text"])
                    write = _write_direct if MODE == "direct" else _write_transport
                    for protocol in list(clients.values()):
                        write(protocol, wire)
            elif kind == "websocket.disconnect":
                return
    finally:
        clients.pop(key, None)
