"""Prepare the product for a benchmark run (run by the runner with DJANGO_SETTINGS_MODULE=bench.settings).

python -m bench.product_setup migrate          create the bench's SQLite database
python -m bench.product_setup stream "<title>" [N]
                                               a stream allowing anonymous viewers, plus N single-use
                                               poster tickets (one per poster connection; default 1);
                                               prints {"topic", "stream", "tickets", ...}
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


if __name__ == "__main__":
    main(sys.argv[1:])
