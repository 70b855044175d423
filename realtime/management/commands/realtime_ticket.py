"""`manage.py realtime_ticket alice`: print a WebSocket ticket, for bots, scripts and load tests."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from realtime.conf import realtime_settings
from realtime.tickets import issue_ticket


class Command(BaseCommand):
    help = "Print a short-lived ticket that authenticates a WebSocket as USERNAME (?ticket=...)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args: Any, username: str, **options: Any) -> None:
        user = get_user_model()._default_manager.filter(**{get_user_model().USERNAME_FIELD: username}).first()
        if user is None or not user.is_active:
            raise CommandError(f"No active user {username!r}.")
        self.stdout.write(issue_ticket(user))
        self.stderr.write(f"valid for {realtime_settings.TICKET_MAX_AGE} s")
