"""Announcements against a real daphne process serving the example site (SQLite, in-memory layer):
real sockets, real page loads, the admin over HTTP as staff use it.

Sends go through the admin in the daphne process itself, so what the sockets get was published on the
layer, not found by the hubs' database sync."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest

from tests.announcekit import Browser, page_banners, page_config, people
from tests.wsclient import WsClient

ADD = "/admin/realtime_announcements/announcement/add/"
SPEC = {"ann": {}, "bea": {"groups": ["team"]}, "sam": {"is_staff": True}, "cid": {}}


def send_form(**changes: Any) -> list[tuple[str, Any]]:
    data: dict[str, Any] = {
        "title": "Hello",
        "body": "",
        "link": "",
        "level": "info",
        "dismissible": "",
        "audience": "everyone",
        "starts_at_0": "",
        "starts_at_1": "",
        "ends_at_0": "",
        "ends_at_1": "",
        "_send_now": "1",
    }
    lists = {k: v for k, v in changes.items() if isinstance(v, list)}
    data.update({k: v for k, v in changes.items() if k not in lists})
    return list(data.items()) + [(k, item) for k, values in lists.items() for item in values]


def sent_id(html: str) -> int:
    return int(re.search(r"announcement_stats\.(\d+)", html).group(1))


@pytest.fixture(scope="module")
def admin(site, daphne_server) -> Browser:
    return Browser(daphne_server.url).login("admin", path="/admin/login/")


async def admin_send(admin: Browser, **changes: Any) -> int:
    status, html = await asyncio.to_thread(admin.post, ADD, send_form(**changes))
    assert status == 200 and "it is live now" in html, html[:2000]
    return sent_id(html)


async def admin_action(admin: Browser, pk: int, action: str) -> str:
    status, html = await asyncio.to_thread(
        admin.post, f"/admin/realtime_announcements/announcement/{pk}/announce/{action}/", {}
    )
    assert status == 200
    return html


async def page_socket(url: str, topics: dict[str, int | None], **options: Any) -> WsClient:
    """A socket subscribed to what a page subscribes to."""
    client = await WsClient(url, **options).__aenter__()
    for topic, since in topics.items():
        reply = await client.subscribe(topic, since)
        assert reply["type"] == "subscribed", reply
    return client


async def drain(client: WsClient, quiet: float = 0.8) -> list[dict[str, Any]]:
    got = []
    while True:
        try:
            got.append(await client.receive(timeout=quiet))
        except TimeoutError:
            return got


def ids(messages: list[dict[str, Any]], event: str = "announcement") -> list[int]:
    return [m["data"]["id"] for m in messages if m.get("type") == "event" and m.get("event") == event]


async def test_each_audience_reaches_exactly_its_users_and_no_one_else(site, daphne_server, admin):
    who = await asyncio.to_thread(people, site, SPEC)
    url = daphne_server.ws_url
    sockets = {
        "anonymous": await page_socket(url, {"announcements.all": None}),
        "viewer": await page_socket(url, {"announcements.all": None, "announcements.stream-1": None}),
    }
    for name in ("ann", "bea", "sam", "cid"):
        topics = {
            "announcements.all": None,
            "announcements.users": None,
            f"announcements.user-{who[name]['id']}": None,
        }
        sockets[name] = await page_socket(f"{url}?ticket={who[name]['ticket']}", topics)
    try:
        everyone = {"anonymous", "viewer", "ann", "bea", "sam", "cid"}
        cases = [
            ({"audience": "everyone"}, everyone),
            ({"audience": "signed_in"}, {"ann", "bea", "sam", "cid"}),
            ({"audience": "staff"}, {"sam"}),
            ({"audience": "groups", "groups": [str(who["team"]["id"])]}, {"bea"}),
            ({"audience": "users", "users": [str(who["ann"]["id"]), str(who["cid"]["id"])]}, {"ann", "cid"}),
            ({"audience": "stream", "stream_id": "1"}, {"viewer"}),
        ]
        for index, (options, expected) in enumerate(cases):
            title = f"secret-title-{index}"
            pk = await admin_send(admin, title=title, **options)
            received = dict(
                zip(sockets, await asyncio.gather(*(drain(s) for s in sockets.values())), strict=True)
            )
            reached = {name for name, got in received.items() if pk in ids(got)}
            assert reached == expected, (options, reached)
            for name, got in received.items():
                assert ids(got).count(pk) == (1 if name in expected else 0)
                if name not in expected:  # not even the title, in any frame
                    assert title not in json.dumps(got), (name, options)
    finally:
        for client in sockets.values():
            await client.__aexit__(None, None, None)
    assert "Traceback" not in daphne_server.output()


async def test_cancel_and_end_remove_the_banner_from_every_connected_page(site, daphne_server, admin):
    who = await asyncio.to_thread(people, site, {"ann": {}, "sam": {"is_staff": True}})
    url = daphne_server.ws_url
    pages = [await page_socket(url, {"announcements.all": None}) for _ in range(3)]
    pages.append(await page_socket(f"{url}?ticket={who['ann']['ticket']}", {"announcements.all": None}))
    staff = await page_socket(
        f"{url}?ticket={who['sam']['ticket']}", {f"announcements.user-{who['sam']['id']}": None}
    )
    try:
        cancelled = await admin_send(admin, title="going away")
        ended = await admin_send(admin, title="staff notice", audience="staff")
        await asyncio.gather(*(drain(p, 0.5) for p in [*pages, staff]))
        await admin_action(admin, cancelled, "cancel")
        await admin_action(admin, ended, "end")
        for page in pages:
            gone = [m for m in await drain(page, 1.0) if m.get("event") == "announcement.ended"]
            assert [(m["data"]["id"], m["data"]["reason"]) for m in gone] == [(cancelled, "cancelled")]
        assert ids(await drain(staff, 1.0), "announcement.ended") == [ended]
    finally:
        for client in [*pages, staff]:
            await client.__aexit__(None, None, None)
    # And the next page load does not show either.
    html = await asyncio.to_thread(Browser(daphne_server.url).get, "/")
    assert cancelled not in page_banners(html)


async def test_an_offline_user_sees_it_on_the_next_page_and_by_socket_exactly_once(
    site, daphne_server, admin
):
    await asyncio.to_thread(people, site, {"ann": {}})
    pk = await admin_send(admin, title="while you were away", audience="signed_in")
    ann = await asyncio.to_thread(Browser(daphne_server.url).login, "ann")
    html = await asyncio.to_thread(ann.get, "/")
    assert pk in page_banners(html) and "while you were away" in html
    # The page's script subscribes from the ids it was rendered at: nothing is replayed twice...
    config = page_config(html)
    async with WsClient(daphne_server.ws_url, **ann.ws_options()) as page:
        assert page.hello["user"]["username"] == "ann"
        seen = 0
        for topic, since in config["topics"].items():
            reply = await page.subscribe(topic, since)
            assert reply["type"] == "subscribed" and reply["history"] == 0
            seen += [item["id"] for item in reply["state"]["live"]].count(pk)
        seen += ids(await drain(page, 0.8)).count(pk)
        assert seen == 1  # in the state of the topic that carries it, nowhere else
    # ...and a socket with no page at all is handed it once, in its subscription's state.
    async with WsClient(daphne_server.ws_url, **ann.ws_options()) as bare:
        reply = await bare.subscribe("announcements.users")
        got = await drain(bare, 0.8)
        assert [item["id"] for item in reply["state"]["live"]].count(pk) + ids(got).count(pk) == 1


async def test_a_dismissal_survives_reload_and_a_second_browser(site, daphne_server, admin):
    who = await asyncio.to_thread(people, site, {"ann": {}})
    pk = await admin_send(admin, title="dismiss me")
    laptop = await asyncio.to_thread(Browser(daphne_server.url).login, "ann")
    phone = await asyncio.to_thread(Browser(daphne_server.url).login, "ann")
    assert pk in page_banners(await asyncio.to_thread(phone.get, "/"))
    user_topic = f"announcements.user-{who['ann']['id']}"
    async with (
        WsClient(daphne_server.ws_url, **laptop.ws_options()) as on_laptop,
        WsClient(daphne_server.ws_url, **phone.ws_options()) as on_phone,
    ):
        for client in (on_laptop, on_phone):
            await client.subscribe("announcements.all")
            await client.subscribe(user_topic)
        ack = await on_laptop.request(
            {
                "type": "publish",
                "topic": "announcements.all",
                "event": "receipt",
                "data": {"announcement": pk, "round": 1, "kind": "dismissed"},
            }
        )
        assert ack["type"] == "ack" and ack["recorded"] is True
        # The phone's open page is told to close it at once.
        closed = await on_phone.receive_where(type="event", event="announcement.dismissed", timeout=5)
        assert closed["data"] == {"id": pk, "round": 1}
    for browser in (laptop, phone, await asyncio.to_thread(Browser(daphne_server.url).login, "ann")):
        assert pk not in page_banners(await asyncio.to_thread(browser.get, "/"))
    # Someone else still has it.
    assert pk in page_banners(await asyncio.to_thread(Browser(daphne_server.url).get, "/"))


async def test_receipts_are_counted_once_per_user_and_match_what_the_clients_did(site, daphne_server, admin):
    names = [f"r{n}" for n in range(5)]
    who = await asyncio.to_thread(people, site, {name: {} for name in names})
    pk = await admin_send(admin, title="count us", audience="signed_in")
    more = await asyncio.to_thread(
        people, site, {name: {} for name in names}
    )  # a second ticket each: two tabs
    url = daphne_server.ws_url
    tabs = {
        name: [
            await page_socket(f"{url}?ticket={who[name]['ticket']}", {"announcements.users": None}),
            await page_socket(f"{url}?ticket={more[name]['ticket']}", {"announcements.users": None}),
        ]
        for name in names
    }
    did = {"delivered": set(names), "seen": {"r0", "r1", "r2"}, "dismissed": {"r0"}}
    answers: dict[str, list[bool]] = {}
    try:
        for kind, users in did.items():
            for name in sorted(users):
                for tab in tabs[name]:  # both tabs report, twice: one counts
                    for _ in range(2):
                        ack = await tab.request(
                            {
                                "type": "publish",
                                "topic": "announcements.users",
                                "event": "receipt",
                                "data": {"announcement": pk, "round": 1, "kind": kind},
                            }
                        )
                        answers.setdefault(f"{name}:{kind}", []).append(ack["recorded"])
        # Dismissing implies seen, so r0's own "seen" came first above; everything counted exactly once.
        assert all(flags.count(True) == 1 for flags in answers.values()), answers
        async with WsClient(f"{url}?ticket={(await asyncio.to_thread(site.ticket, 'admin'))}") as panel:
            reply = await panel.subscribe(f"announcement_stats.{pk}")
            stats = reply["state"]
            assert (stats["delivered"], stats["seen"], stats["dismissed"]) == (5, 3, 1)
            for _ in range(20):  # the census needs one round trip to every hub
                if stats["connected"] >= 5:
                    break
                stats = (await panel.receive_where(type="event", event="stats", timeout=5))["data"]
            assert stats["connected"] == 5
    finally:
        for pair in tabs.values():
            for tab in pair:
                await tab.__aexit__(None, None, None)
    page = await asyncio.to_thread(admin.get, f"/admin/realtime_announcements/announcement/{pk}/change/")
    assert re.search(r'data-stat="delivered">5<', page) and re.search(r'data-stat="dismissed">1<', page)


async def test_outsiders_cannot_read_receipts_or_send_over_the_socket_or_http(site, daphne_server, admin):
    who = await asyncio.to_thread(people, site, {"ann": {}})
    pk = await admin_send(admin, title="guarded")
    async with WsClient(f"{daphne_server.ws_url}?ticket={who['ann']['ticket']}") as ann:
        assert (await ann.subscribe(f"announcement_stats.{pk}"))["code"] == "forbidden"
        await ann.subscribe("announcements.all")
        refused = await ann.request(
            {
                "type": "publish",
                "topic": "announcements.all",
                "event": "announcement",
                "data": {"title": "fake"},
            }
        )
        assert refused["code"] == "publish_not_allowed"
    ann_browser = await asyncio.to_thread(Browser(daphne_server.url).login, "ann")
    status, html = await asyncio.to_thread(
        ann_browser.post, f"/admin/realtime_announcements/announcement/{pk}/announce/end/", {}
    )
    assert "/admin/login/" in html or "Log in" in html  # sent to the admin login, nothing ended
    assert pk in page_banners(await asyncio.to_thread(Browser(daphne_server.url).get, "/"))
