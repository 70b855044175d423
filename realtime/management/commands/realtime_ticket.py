"""`manage.py realtime_ticket alice`: print a WebSocket ticket, for bots, scripts and load tests."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from realtime.conf import realtime_settings
from realtime.tickets import SUBPROTOCOL, issue_ticket, ticket_subprotocol


class Command(BaseCommand):
    help = (
        "Print a fresh single-use ticket that authenticates one WebSocket as USERNAME. It belongs to no "
        "session, so no logout revokes it: it expires, or dies with a password change or deactivation."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args: Any, username: str, **options: Any) -> None:
        user = get_user_model()._default_manager.filter(**{get_user_model().USERNAME_FIELD: username}).first()
        if user is None or not user.is_active:
            raise CommandError(f"No active user {username!r}.")
        token = issue_ticket(user)
        self.stdout.write(token)
        self.stderr.write(
            f"single use, valid for {realtime_settings.TICKET_MAX_AGE} s; present it as "
            f"'Sec-WebSocket-Protocol: {SUBPROTOCOL}, {ticket_subprotocol('<ticket>')}' "
            "or as ?ticket=<ticket>"
        )
