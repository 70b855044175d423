"""realtime.client: a Python client for realtime servers, for bots, services and tests (asyncio).

    from realtime.client import Client, HttpTickets, new_client_id

    async with Client("wss://example.com/ws/realtime/",
                      tickets=HttpTickets("https://example.com/realtime/ticket/", headers=auth)) as client:
        subscription = client.subscribe("stream.1")
        await client.publish("stream.1", "comment", {"text": "hi", "client_id": new_client_id()})
        async for event in subscription:
            print(event.id, event.event, event.data)

It follows the same rules as the browser's realtime.js (tests/protocol_cases.json holds them for
both): reconnects with backoff, heartbeat, resume with `since`, the in-flight window, retries. Needs
the `websockets` package (the `client` extra). `python -m realtime.client tail TOPIC` prints a topic's
events as JSON lines. docs/client-python.md has the guide.
"""

from __future__ import annotations

from .backoff import Decision, Reconnect, backoff_delay
from .connection import Client
from .errors import RealtimeError
from .outbox import new_client_id
from .subscription import Event, Subscription
from .tickets import FixedTicket, HttpTickets, TicketSource

__all__ = [
    "Client",
    "Decision",
    "Event",
    "FixedTicket",
    "HttpTickets",
    "RealtimeError",
    "Reconnect",
    "Subscription",
    "TicketSource",
    "backoff_delay",
    "new_client_id",
]
