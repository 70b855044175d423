"""The floor under any Channels app on daphne: a raw ASGI WebSocket app with no Channels, no Django and
no channel layer. It accepts every connection and relays every text frame to every open connection of
the process, the same text to each (the "fan-out straight to the process's sockets" probe).

Idle and connect-storm rows for it show what daphne, Twisted and autobahn cost per connection on their
own; the product cannot go below that without changing server.
"""

clients: dict[int, object] = {}


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
                clients[key] = send
            elif kind == "websocket.receive" and message.get("text") is not None:
                out = {"type": "websocket.send", "text": message["text"]}
                for client_send in list(clients.values()):
                    await client_send(out)
            elif kind == "websocket.disconnect":
                return
    finally:
        clients.pop(key, None)
