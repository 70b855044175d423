"""`manage.py broadcast broadcast.all broadcast --data '{"title": "Hi", "message": "..."}'`"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from realtime.api import broadcast


class Command(BaseCommand):
    help = "Send an event to every subscriber of a topic, on every process (stored, so offline clients catch up)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("topic", help="e.g. broadcast.all, stream.42, user.7, group.3")
        parser.add_argument("event", help="event name, e.g. broadcast")
        parser.add_argument("--data", default="{}", help="a JSON object")

    def handle(self, *args: Any, topic: str, event: str, data: str, **options: Any) -> None:
        try:
            payload = json.loads(data)
        except ValueError as exc:
            raise CommandError(f"--data must be a JSON object: {exc}") from None
        try:
            event_id = broadcast(topic, event, payload)
        except (ValueError, TypeError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Sent {event} to {topic}" + (f" as id {event_id}" if event_id is not None else ""))
