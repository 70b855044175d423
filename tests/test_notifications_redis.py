"""Notifications with two daphne processes on Redis: one user's tabs on different processes, a
notify() from a third process (a shell) reaching both through Redis at once (the hubs' database sync is
a minute away here), a read on one process updating the tab on the other, and a deactivation from the
shell closing the user's sockets on both (the core's job, checked here for this topic)."""

from __future__ import annotations

import asyncio
import time

from websockets.exceptions import ConnectionClosed

from tests.announcekit import Browser, people
from tests.test_notifications_daphne import notify_elsewhere, tab
from tests.wsclient import WsClient

DEACTIVATE = (
    "from django.contrib.auth import get_user_model; "
    "u = get_user_model().objects.get(username='rhea'); u.is_active = False; u.save()"
)


async def closed_with(client, timeout: float = 5.0) -> int | None:
    try:
        while True:
            await client.receive(timeout=timeout)
    except ConnectionClosed:
        return client.socket.close_code


async def test_two_processes_deliver_notify_and_read_to_every_tab_and_deactivation_closes_them(redis_site):
    one, two = redis_site.server(), redis_site.server()
    who = await asyncio.to_thread(people, redis_site, {"rhea": {}})
    topic = f"notify.{who['rhea']['id']}"
    browser = await asyncio.to_thread(Browser(one.url).login, "rhea")
    on_one = await tab(one, browser, topic, None)
    on_two = await tab(two, browser, topic, None)
    try:
        started = time.monotonic()
        pk = await asyncio.to_thread(notify_elsewhere, redis_site, "rhea", "Build finished")
        stored = time.monotonic()
        for page in (on_one, on_two):
            event = await page.receive_where(type="event", event="notification", timeout=10)
            assert event["data"]["id"] == pk and event["data"]["unread"] == 1
        # Through Redis, not the sync (SYNC_INTERVAL is 60 s on this site): within the shell's run.
        assert time.monotonic() - stored < 3, (stored - started, time.monotonic() - stored)
        ack = await on_two.request(
            {"type": "publish", "topic": topic, "event": "read", "data": {"all": True}}
        )
        assert (ack["marked"], ack["unread"]) == (1, 0)
        read = await on_one.receive_where(type="event", event="read", timeout=5)
        assert read["data"] == {"upto": pk, "unread": 0}
        await asyncio.to_thread(redis_site.manage, "shell", "-c", DEACTIVATE)
        assert await closed_with(on_one) == 4003
        assert await closed_with(on_two) == 4003
    finally:
        await on_one.__aexit__()
        await on_two.__aexit__()
    async with WsClient(two.ws_url, **{**browser.ws_options(), "origin": two.url}) as again:
        refused = await again.subscribe(topic)
        assert (refused["type"], refused["code"]) == ("error", "auth_required")
    logs = one.output() + two.output()
    assert "Traceback" not in logs
