"""`manage.py notify alice bob "Your export is ready" --url /exports/12/`"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from realtime.notifications.api import notify
from realtime.notifications.models import LEVELS


class Command(BaseCommand):
    help = "Notify users (by username): stored, and shown on every open tab of theirs."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("usernames", nargs="+", metavar="USERNAME", help="who to notify")
        parser.add_argument("--title", required=True, help="the notification's plain-text title")
        parser.add_argument("--body", default="", help="more plain text")
        parser.add_argument("--url", default="", help="an http(s) address or a path on this site")
        parser.add_argument("--level", default="info", choices=LEVELS)

    def handle(self, *args: Any, **options: Any) -> None:
        users = get_user_model()._default_manager
        field = get_user_model().USERNAME_FIELD
        found = list(users.filter(**{f"{field}__in": options["usernames"]}))
        missing = sorted(set(options["usernames"]) - {user.get_username() for user in found})
        if missing:
            raise CommandError(f"No user named {', '.join(missing)}: nobody was notified.")
        try:
            rows = notify(found, options["title"], options["body"], options["url"], options["level"])
        except (ValueError, TypeError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(" ".join(str(row.pk) for row in rows))
