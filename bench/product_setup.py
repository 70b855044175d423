"""Prepare the product for a benchmark run (run by the runner with DJANGO_SETTINGS_MODULE=bench.settings).

python -m bench.product_setup migrate          create the bench's SQLite database
python -m bench.product_setup round N LEAD     N staff users and an announcement to staff scheduled
                                               LEAD s from now (the round scenario); prints
                                               {"announcement", "starts_at" (epoch s), "recipients"}
python -m bench.product_setup stream "<title>" [N]
                                               a stream allowing anonymous viewers, plus N single-use
                                               poster tickets (one per poster connection; default 1);
                                               prints {"topic", "stream", "tickets", ...}
python -m bench.product_setup presence N       N signed-in viewers (`bench-viewer-<n>`), one single-use
                                               ticket each (the presence scenario); prints {"tickets"}
"""

import json
import sys

import django


def main(argv: list[str]) -> None:
    django.setup()
    from django.core.management import call_command

    if argv[0] == "migrate":
        call_command("migrate", verbosity=0, interactive=False)
        print(json.dumps({"ok": True}))
        return
    if argv[0] == "presence":
        print(json.dumps({"tickets": viewer_tickets(int(argv[1]))}))
        return
    if argv[0] == "round":
        print(json.dumps(schedule_round(int(argv[1]), float(argv[2]))))
        return

    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils.text import slugify

    from realtime.streams.models import Stream
    from realtime.tickets import issue_ticket

    title = argv[1] if len(argv) > 1 else "bench"
    count = int(argv[2]) if len(argv) > 2 else 1
    user_model = get_user_model()
    owner, _ = user_model.objects.get_or_create(username="bench-owner")
    poster, _ = user_model.objects.get_or_create(username="bench-poster")
    slug = slugify(title)
    n = Stream.objects.filter(slug__startswith=slug).count()
    stream = Stream.objects.create(
        title=title, slug=f"{slug}-{n}" if n else slug, owner=owner, allow_anonymous=True
    )
    # One commit for all of them: SQLite syncs once, not once per ticket.
    with transaction.atomic():
        tickets = [issue_ticket(poster) for _ in range(count)]
    print(
        json.dumps(
            {
                "topic": f"stream.{stream.pk}",
                "stream": stream.pk,
                "tickets": tickets,
                "poster": {"id": poster.pk, "username": poster.username},
            }
        )
    )


def viewer_tickets(count: int) -> list[str]:
    """`count` new users (one INSERT) and a ticket for each: viewers the roster lists by name."""
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from realtime.tickets import issue_ticket

    user_model = get_user_model()
    start = user_model.objects.filter(username__startswith="bench-viewer-").count()
    names = [f"bench-viewer-{n}" for n in range(start, start + count)]
    user_model.objects.bulk_create(
        [user_model(username=name, password="!") for name in names], batch_size=1000
    )
    with transaction.atomic():  # one commit: SQLite syncs once, not once per ticket
        return [issue_ticket(user) for user in user_model.objects.filter(username__in=names)]


def schedule_round(recipients: int, lead: float) -> dict:
    """N staff users (one INSERT) and an announcement to staff that the daphne process's scheduler
    starts `lead` seconds from now."""
    from datetime import timedelta

    from django.contrib.auth import get_user_model

    from realtime.announcements import announce

    user_model = get_user_model()
    start = user_model.objects.filter(username__startswith="bench-staff-").count()
    user_model.objects.bulk_create(
        [
            user_model(username=f"bench-staff-{n}", is_staff=True, password="!")
            for n in range(start, start + recipients)
        ],
        batch_size=1000,
    )
    notice = announce(
        "Bench round", "One event per recipient", audience="staff", starts_in=timedelta(seconds=lead)
    )
    return {
        "announcement": notice.pk,
        "starts_at": notice.starts_at.timestamp(),
        "recipients": user_model.objects.filter(is_staff=True, is_active=True).count(),
    }


if __name__ == "__main__":
    main(sys.argv[1:])
