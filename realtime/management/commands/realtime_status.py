"""`manage.py realtime_status [--json] [--timeout S]`: every daphne process's status, asked over the layer.

Prints, per process, what the admin's "Realtime status" page shows: uptime, connections, rooms, hot
topics, layer and database health, recent errors by code. A process that does not answer within the
timeout (frozen, overloaded, cut off from the layer) is listed as NOT ANSWERING, and the exit status is
1 then (scripts and monitors can test it). Needs a channel layer that crosses processes (Redis).
"""

from __future__ import annotations

import json
from typing import Any

from asgiref.sync import async_to_sync
from django.core.management.base import BaseCommand, CommandError, CommandParser

from realtime.conf import realtime_settings
from realtime.ops.collect import Collected, StatusUnavailable, collect


def _uptime(seconds: float) -> str:
    s = int(seconds)
    days, rest = divmod(s, 86400)
    clock = f"{rest // 3600:02d}:{rest // 60 % 60:02d}:{rest % 60:02d}"
    return f"{days} d {clock}" if days else clock


def _health(part: dict[str, Any]) -> str:
    return "up" if part.get("up") else f"DOWN for {part.get('down_for')} s"


def render(found: Collected) -> str:
    lines = []
    for process in found.as_json()["processes"]:
        if not process["answering"]:
            lines += [f"{process['name']}  ({process['id']})", "  NOT ANSWERING", ""]
            continue
        lines.append(f"{process['name']}  ({process['id']})")
        lines.append(f"  uptime         {_uptime(process['uptime'])}")
        lines.append(
            f"  connections    {process['connections']} "
            f"({process['signed_in']} signed in, {process['anonymous']} anonymous)"
        )
        lines.append(f"  rooms          {process['rooms']} ({process['subscriptions']} subscriptions)")
        lines.append(f"  channel layer  {_health(process['layer'])}")
        lines.append(f"  database       {_health(process['database'])}")
        hot = ", ".join(f"{t['topic']} {t['rate']}/s" for t in process["hot_topics"]) or "none"
        lines.append(f"  hot topics     {hot}")
        errors = ", ".join(f"{code} {count}" for code, count in process["errors"].items()) or "none"
        lines.append(f"  recent errors  {errors}")
        lines.append("")
    answering = len(found.answers)
    lines.append(
        f"{answering} process(es) answered, {len(found.silent)} not answering ({found.waited:.1f} s)."
    )
    return "\n".join(lines)


class Command(BaseCommand):
    help = "Show every daphne process's realtime status (connections, rooms, hot topics, health, errors)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print the status as one JSON object.")
        parser.add_argument(
            "--timeout",
            type=float,
            default=None,
            help="Seconds to wait for the processes' answers (default: twice REALTIME['LAYER_TIMEOUT']).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        timeout = options["timeout"]
        if timeout is None:
            timeout = 2 * float(realtime_settings.LAYER_TIMEOUT or 1.0)
        if timeout <= 0:
            raise CommandError("--timeout must be a number of seconds above 0, e.g. --timeout 3.")
        try:
            found = async_to_sync(collect)(timeout)
        except StatusUnavailable as exc:
            raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(found.as_json(), indent=2, sort_keys=True))
        else:
            self.stdout.write(render(found))
        if found.silent:
            raise SystemExit(1)
