"""Notifications against a real daphne process serving the example site (SQLite, in-memory layer):
real sockets with a browser's session cookie, a notify() from another process (`manage.py shell`, so
the event reaches daphne through the database), reads over the socket and over HTTP."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.announcekit import Browser, page_config, people
from tests.wsclient import WsClient

NOTIFY_SCRIPT = """
import json
from django.contrib.auth import get_user_model
from realtime.notifications import notify
rows = notify(get_user_model().objects.get(username={name!r}), {title!r}, body={body!r}, url={url!r})
print(json.dumps([row.pk for row in rows]))
"""


def notify_elsewhere(site: Any, name: str, title: str, body: str = "", url: str = "") -> int:
    """notify() in a process of its own, as a task queue's worker would."""
    output = site.manage("shell", "-c", NOTIFY_SCRIPT.format(name=name, title=title, body=body, url=url))
    return json.loads(output.strip().splitlines()[-1])[0]


async def tab(server: Any, browser: Browser, topic: str, since: int | None) -> WsClient:
    # The browser's cookies, and the page's origin on that server (another port is another site).
    client = await WsClient(server.ws_url, **{**browser.ws_options(), "origin": server.url}).__aenter__()
    reply = await client.subscribe(topic, since)
    assert reply["type"] == "subscribed", reply
    return client


async def quiet(client: WsClient, seconds: float = 1.5) -> list[dict[str, Any]]:
    got = []
    try:
        while True:
            got.append(await client.receive(timeout=seconds))
    except TimeoutError:
        return got


async def test_notify_from_another_process_reaches_both_tabs_and_a_read_on_one_updates_the_other(
    site, daphne_server
):
    who = await asyncio.to_thread(people, site, {"nia": {}, "nob": {}})
    nia = await asyncio.to_thread(Browser(daphne_server.url).login, "nia")
    nob = await asyncio.to_thread(Browser(daphne_server.url).login, "nob")
    page = await asyncio.to_thread(nia.get, "/realtime/notifications/")
    config = page_config(page, of="data-rt-notifications")
    topic = f"notify.{who['nia']['id']}"
    assert config["topic"] == topic
    tabs = [await tab(daphne_server, nia, topic, config["since"]) for _ in range(2)]
    other = await tab(daphne_server, nob, f"notify.{who['nob']['id']}", None)
    try:
        pk = await asyncio.to_thread(notify_elsewhere, site, "nia", "<b>Export ready</b>", "body", "/x/")
        for each in tabs:
            event = await each.receive_where(type="event", event="notification", timeout=10)
            assert event["data"]["id"] == pk and event["data"]["title"] == "<b>Export ready</b>"
            unread = event["data"]["unread"]
        ack = await tabs[0].request(
            {"type": "publish", "topic": topic, "event": "read", "data": {"ids": [pk]}}
        )
        assert (ack["type"], ack["marked"], ack["unread"]) == ("ack", 1, unread - 1)
        read = await tabs[1].receive_where(type="event", event="read", timeout=5)
        assert read["data"] == {"ids": [pk], "unread": unread - 1}
        assert [m for m in await quiet(other, 0.5) if m.get("type") == "event"] == []
        refused = await other.subscribe(topic)
        assert (refused["type"], refused["code"]) == ("error", "forbidden")
        bad = await tabs[0].request(
            {"type": "publish", "topic": topic, "event": "read", "data": {"ids": "all"}}
        )
        assert (bad["type"], bad["code"]) == ("error", "bad_read")
        assert "Traceback" not in daphne_server.output()
    finally:
        for each in [*tabs, other]:
            await each.__aexit__()


async def test_mark_all_read_by_post_reaches_the_open_tabs(site, daphne_server):
    who = await asyncio.to_thread(people, site, {"pia": {}})
    pia = await asyncio.to_thread(Browser(daphne_server.url).login, "pia")
    topic = f"notify.{who['pia']['id']}"
    await asyncio.to_thread(notify_elsewhere, site, "pia", "one")
    await asyncio.to_thread(notify_elsewhere, site, "pia", "two")
    config = page_config(
        await asyncio.to_thread(pia.get, "/realtime/notifications/"), of="data-rt-notifications"
    )
    assert config["unread"] == 2
    page = await tab(daphne_server, pia, topic, config["since"])
    try:
        status, html = await asyncio.to_thread(pia.post, "/realtime/notifications/read/", {"all": "1"})
        assert status == 200 and "No new notifications" in html
        read = await page.receive_where(type="event", event="read", timeout=5)
        assert read["data"]["unread"] == 0 and "upto" in read["data"]
    finally:
        await page.__aexit__()


async def test_an_anonymous_socket_cannot_subscribe_to_notifications(site, daphne_server):
    who = await asyncio.to_thread(people, site, {"nia": {}})
    async with WsClient(daphne_server.ws_url, origin=daphne_server.url) as anonymous:
        reply = await anonymous.subscribe(f"notify.{who['nia']['id']}")
        assert (reply["type"], reply["code"]) == ("error", "auth_required")
