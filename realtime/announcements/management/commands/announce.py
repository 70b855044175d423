"""`manage.py announce "Back at 22:00" --level warning --audience staff --ends-in 30m`"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from realtime.announcements.api import AnnouncementError, announce
from realtime.announcements.models import Audience, Level

DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
AUDIENCES = {
    "everyone": Audience.EVERYONE,
    "signed-in": Audience.SIGNED_IN,
    "signed_in": Audience.SIGNED_IN,
    "staff": Audience.STAFF,
    "groups": Audience.GROUPS,
    "users": Audience.USERS,
    "stream": Audience.STREAM,
}


def duration(text: str) -> timedelta:
    """`90s`, `30m`, `2h`, `1d`, `1h30m`."""
    match = DURATION.match(text.strip().lower())
    if not text.strip() or match is None or not any(match.groups()):
        raise CommandError(f"{text!r} is not a duration; write e.g. 90s, 30m, 2h, 1d or 1h30m.")
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


class Command(BaseCommand):
    help = (
        "Send an announcement banner now (or schedule it with --starts-in) to everyone, signed-in users, "
        "staff, groups, chosen users or one stream's viewers."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("text", help="the banner's headline")
        parser.add_argument("--body", default="", help="more plain text under the headline")
        parser.add_argument("--link", default="", help="an http(s) address the banner links to")
        parser.add_argument("--level", default="info", choices=Level.values)
        parser.add_argument("--audience", default="everyone", choices=sorted(AUDIENCES))
        parser.add_argument(
            "--group", action="append", default=[], help="group name (--audience groups); repeat"
        )
        parser.add_argument("--user", action="append", default=[], help="username (--audience users); repeat")
        parser.add_argument("--stream", type=int, help="stream id (--audience stream)")
        parser.add_argument("--starts-in", type=duration, help="schedule it, e.g. 10m (default: now)")
        parser.add_argument("--ends-in", type=duration, help="end it this long after it starts, e.g. 30m")
        parser.add_argument("--dismissible", choices=["yes", "no"], help="default: yes, except critical")
        parser.add_argument("--by", help="username recorded as its author (and in the admin history)")
        parser.add_argument("--draft", action="store_true", help="store it without sending")

    def handle(self, *args: Any, **options: Any) -> None:
        author = None
        if options["by"]:
            User = get_user_model()
            author = User._default_manager.filter(**{User.USERNAME_FIELD: options["by"]}).first()
            if author is None:
                raise CommandError(f"No user {options['by']!r}.")
        dismissible = {"yes": True, "no": False}.get(options["dismissible"] or "")
        try:
            notice = announce(
                options["text"],
                options["body"],
                level=options["level"],
                audience=AUDIENCES[options["audience"]],
                groups=options["group"],
                users=options["user"],
                stream=options["stream"],
                link=options["link"],
                starts_in=options["starts_in"],
                ends_in=options["ends_in"],
                dismissible=dismissible,
                created_by=author,
                draft=options["draft"],
            )
        except ValidationError as exc:
            errors = exc.message_dict if hasattr(exc, "error_dict") else {"": exc.messages}
            raise CommandError(
                "; ".join(
                    f"{k}: {' '.join(v)}" if k and k != "__all__" else " ".join(v) for k, v in errors.items()
                )
            ) from None
        except AnnouncementError as exc:
            raise CommandError(str(exc)) from None
        when = {
            "live": "is live",
            "scheduled": f"is scheduled for {notice.starts_at:%Y-%m-%d %H:%M:%S %Z}",
            "draft": "is saved as a draft",
        }.get(notice.state, f"is {notice.state}")
        ends = f", ends at {notice.ends_at:%Y-%m-%d %H:%M:%S %Z}" if notice.ends_at else ""
        self.stdout.write(
            f"Announcement {notice.pk} {when} (audience: {notice.get_audience_display()}){ends}"
        )
