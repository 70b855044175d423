"""`manage.py realtime_demo`: demo users and a live stream, so the example site has something to show."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from realtime.streams.models import Stream

PASSWORD = "demo"
USERS = [("admin", True), ("alice", False), ("bob", False), ("mod", False)]


class Command(BaseCommand):
    help = "Create demo users (password 'demo') and a live stream. Safe to run again."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--no-input", action="store_true", help="accepted for scripts; never prompts")

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        users = {}
        for username, staff in USERS:
            user, created = User.objects.get_or_create(
                username=username, defaults={"is_staff": staff, "is_superuser": staff}
            )
            if created:
                user.set_password(PASSWORD)
                user.save()
            users[username] = user
        stream, _ = Stream.objects.get_or_create(
            slug="demo",
            defaults={
                "title": "Demo live stream",
                "owner": users["admin"],
                "description": "Open this page in two browsers and comment.",
            },
        )
        stream.moderators.add(users["mod"])
        Stream.objects.get_or_create(
            slug="members-only",
            defaults={"title": "Members-only stream", "owner": users["admin"], "allow_anonymous": False},
        )
        self.stdout.write(
            "Demo logins (password 'demo'): admin (superuser), alice, bob, mod (moderator of 'demo')"
        )
