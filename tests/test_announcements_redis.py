"""Scheduled announcements with two daphne processes on Redis: each process runs a scheduler, both
wake at the start and at the end, and exactly one sends each (the other loses the claim). Pages on
both processes see the banner appear and go at the server's times."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime

from tests.wsclient import WsClient

COUNT_SCRIPT = """
import json
from realtime.models import Event
from realtime.announcements.models import Announcement
a = Announcement.objects.get(pk={pk})
names = [e.name for e in Event.objects.filter(topic="announcements.all") if e.data.get("id") == {pk}]
print(json.dumps({{"state": a.state, "round": a.round, "starts_at": a.starts_at.isoformat(),
                  "ends_at": a.ends_at.isoformat(), "events": names}}))
"""


async def test_scheduled_start_and_end_fire_on_time_once_across_two_processes(redis_site):
    one, two = redis_site.server(), redis_site.server()
    async with WsClient(one.ws_url) as first, WsClient(two.ws_url) as second:
        for page in (first, second):  # a page on each process: each starts its scheduler
            assert (await page.subscribe("announcements.all"))["type"] == "subscribed"
        output = await asyncio.to_thread(
            redis_site.manage, "announce", "Starts soon", "--starts-in", "4s", "--ends-in", "3s"
        )
        pk = int(output.split()[1])
        assert "is scheduled" in output
        shown, gone = {}, {}
        for name, page in (("one", first), ("two", second)):
            event = await page.receive_where(type="event", event="announcement", timeout=15)
            shown[name] = (time.time(), event)
        for name, page in (("one", first), ("two", second)):
            event = await page.receive_where(type="event", event="announcement.ended", timeout=15)
            gone[name] = (time.time(), event)
    facts = json.loads(
        (await asyncio.to_thread(redis_site.manage, "shell", "-c", COUNT_SCRIPT.format(pk=pk)))
        .strip()
        .splitlines()[-1]
    )
    # Exactly one process sent it and exactly one ended it: one stored event of each.
    assert facts["events"] == ["announcement", "announcement.ended"]
    assert (facts["state"], facts["round"]) == ("ended", 1)
    start = datetime.fromisoformat(facts["starts_at"]).timestamp()
    end = datetime.fromisoformat(facts["ends_at"]).timestamp()
    for name in ("one", "two"):
        assert shown[name][1]["data"]["id"] == pk and gone[name][1]["data"]["reason"] == "expired"
        # On time by the server's clock: not before, and within a loaded machine's margin after.
        assert start <= shown[name][0] < start + 2.5, (name, shown[name][0] - start)
        assert end <= gone[name][0] < end + 2.5, (name, gone[name][0] - end)
    logs = one.output() + two.output()
    assert logs.count(f"Announcement {pk} went live as scheduled") == 1
    assert logs.count(f"Announcement {pk} ended at its end time") == 1
    assert "Traceback" not in logs
