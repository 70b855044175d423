"""`python -m realtime.client tail TOPIC`: print a topic's events as JSON lines, for ever.

    python -m realtime.client tail stream.1 --url ws://127.0.0.1:8000/ws/realtime/ \\
        --ticket-url http://127.0.0.1:8000/realtime/ticket/ --session <sessionid>
    python -m realtime.client tail broadcast.all --url ws://127.0.0.1:8000/ws/realtime/   # anonymous

One line per event, `{"topic", "event", "id", "at", "data", "history", "resumed"}`, flushed at once,
each stored event exactly once and in order across reconnects. Connection changes go to stderr.
Exits 0 after --count events, 1 when the subscription is refused or the server stops us.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from typing import Any

from . import Client, HttpTickets, RealtimeError
from .tickets import TicketSource


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m realtime.client", description=__doc__.split("\n\n")[0])
    commands = root.add_subparsers(dest="command", required=True)
    tail = commands.add_parser("tail", help="print a topic's events as JSON lines")
    tail.add_argument("topic", help="e.g. stream.1, broadcast.all, user.7")
    tail.add_argument("--url", required=True, help="the WebSocket URL, e.g. ws://127.0.0.1:8000/ws/realtime/")
    auth = tail.add_mutually_exclusive_group()
    auth.add_argument("--ticket", help="one ticket (manage.py realtime_ticket USER): one connection only")
    auth.add_argument("--ticket-url", help="POST here for a fresh ticket per connection (/realtime/ticket/)")
    tail.add_argument("--session", help="with --ticket-url: a Django session key to authenticate as")
    tail.add_argument("--header", action="append", default=[], help="with --ticket-url: 'Name: value'")
    tail.add_argument("--since", type=int, help="start after this event id")
    tail.add_argument("--event", action="append", help="print only events of this name (repeatable)")
    tail.add_argument("--count", type=int, help="exit after printing this many events")
    tail.add_argument("--no-history", action="store_true", help="skip the recent events a subscribe replays")
    return root


def ticket_source(args: argparse.Namespace) -> TicketSource | str | None:
    if args.ticket_url:
        headers = dict(h.split(":", 1) for h in args.header)
        return HttpTickets(
            args.ticket_url, headers={k.strip(): v.strip() for k, v in headers.items()}, session=args.session
        )
    ticket: str | None = args.ticket
    return ticket


async def tail(args: argparse.Namespace) -> int:
    def report(state: str, reason: str | None) -> None:
        print(f"realtime: {state}" + (f" ({reason})" if reason else ""), file=sys.stderr, flush=True)

    printed = 0
    async with Client(args.url, tickets=ticket_source(args), on_state=report) as client:
        subscription = client.subscribe(args.topic, since=args.since)
        try:
            async for event in subscription:
                if (args.no_history and event.history) or (args.event and event.event not in args.event):
                    continue
                line: dict[str, Any] = {"topic": event.topic, "event": event.event, "id": event.id}
                line.update(at=event.at, data=event.data, history=event.history, resumed=event.resumed)
                print(json.dumps(line, ensure_ascii=False), flush=True)
                printed += 1
                if args.count is not None and printed >= args.count:
                    return 0
        except RealtimeError as exc:
            print(f"realtime: {exc}", file=sys.stderr, flush=True)
            return 1
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return asyncio.run(tail(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
