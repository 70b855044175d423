"""Notifications in one process: who may subscribe to `notify.<id>`, what a tab is sent on notify and
on read (and what everyone else is not), what a fresh and a resuming subscription get, marking read
over the socket with its error codes, and the Python API. Pages and views are in
test_notifications_pages.py; real daphne processes in test_notifications_daphne.py and _redis.py;
Chromium in test_notifications_browser.py."""

from __future__ import annotations

import pytest
from django.db import transaction

from realtime.models import Event
from realtime.notifications import amark_read, anotify, aunread_count, mark_read, notify, unread_count
from realtime.notifications.models import Notification
from realtime.notifications.signals import notification_sent, notifications_read
from realtime.testing import RealtimeClient, events
from tests.announcekit import call, subscribed

pytestmark = pytest.mark.django_db(transaction=True)


def topic(user) -> str:
    return f"notify.{user.pk}"


# -- who may subscribe ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, who, code",
    [
        ("notify.1", None, "auth_required"),
        ("notify.999", "alice", "forbidden"),
        ("notify.01", "alice", "not_found"),
        ("notify.x", "alice", "not_found"),
    ],
)
async def test_only_the_user_may_subscribe_to_their_notifications(name, who, code, alice):
    async with RealtimeClient(user=alice if who else None) as client:
        reply = await client.subscribe(name)
        assert (reply["type"], reply["code"]) == ("error", code), reply


async def test_another_users_topic_is_refused_and_sends_nothing(alice, bob):
    async with RealtimeClient(user=bob) as snoop:
        reply = await snoop.subscribe(topic(alice))
        assert reply["code"] == "forbidden"
        await call(notify, alice, "Secret", body="for alice only")
        assert await snoop.nothing_more(0.5)


# -- delivery -------------------------------------------------------------------------------------
async def test_notify_reaches_every_tab_of_the_recipient_and_nobody_else(alice, bob):
    async with (
        RealtimeClient(user=alice) as tab1,
        RealtimeClient(user=alice) as tab2,
        RealtimeClient(user=bob) as other,
    ):
        for client, user in ((tab1, alice), (tab2, alice), (other, bob)):
            await subscribed(client, topic(user))
        (row,) = await call(notify, alice, "Order shipped", body="1Z999", url="/orders/7/", level="success")
        for tab in (tab1, tab2):
            message = await tab.receive_event("notification")
            assert message["data"] == {
                "id": row.pk,
                "title": "Order shipped",
                "body": "1Z999",
                "url": "/orders/7/",
                "level": "success",
                "data": {},
                "created": row.created.isoformat(),
                "read": False,
                "unread": 1,
            }
        assert await other.nothing_more(0.4)


async def test_the_count_in_each_event_is_the_users_unread_count_after_it(alice):
    async with RealtimeClient(user=alice) as tab:
        await subscribed(tab, topic(alice))
        for n in range(3):
            await call(notify, alice, f"n{n}")
        got = events(await tab.collect(0.3), "notification")
        assert [m["data"]["unread"] for m in got] == [1, 2, 3]
        assert [m["id"] for m in got] == sorted(m["id"] for m in got)


async def test_notify_inside_a_transaction_sends_on_commit_and_nothing_on_rollback(alice):
    def rolled_back():
        with transaction.atomic():
            notify(alice, "never")
            raise RuntimeError("rollback")

    async with RealtimeClient(user=alice) as tab:
        await subscribed(tab, topic(alice))
        with pytest.raises(RuntimeError):
            await call(rolled_back)
        assert await tab.nothing_more(0.4)
        assert not await Notification.objects.filter(title="never").aexists()

        def committed():
            with transaction.atomic():
                notify(alice, "after commit")
                assert Event.objects.filter(topic=topic(alice)).count() == 1  # stored in the transaction

        await call(committed)
        assert (await tab.receive_event("notification"))["data"]["title"] == "after commit"


async def test_anotify_and_amark_read_from_async_code(alice):
    async with RealtimeClient(user=alice) as tab:
        await subscribed(tab, topic(alice))
        rows = await anotify([alice], "async hello")
        assert (await tab.receive_event("notification"))["data"]["id"] == rows[0].pk
        assert await aunread_count(alice) == 1
        assert await amark_read(alice, [rows[0].pk]) == 1
        read = await tab.receive_event("read")
        assert read["data"] == {"ids": [rows[0].pk], "unread": 0}


async def test_several_recipients_each_get_their_own(alice, bob, make_user):
    carol = await call(make_user, "carol")
    async with RealtimeClient(user=alice) as a, RealtimeClient(user=carol) as c:
        await subscribed(a, topic(alice))
        await subscribed(c, topic(carol))
        rows = await call(lambda: notify(type(alice).objects.filter(pk__in=[alice.pk, bob.pk]), "team"))
        assert sorted(r.recipient_id for r in rows) == sorted([alice.pk, bob.pk])
        assert (await a.receive_event("notification"))["data"]["title"] == "team"
        assert await c.nothing_more(0.4)


# -- fresh and resuming subscriptions -------------------------------------------------------------
async def test_a_fresh_subscription_gets_the_count_and_newest_in_its_state_and_no_replay(alice):
    for n in range(10):
        await call(notify, alice, f"old {n}")
    await call(mark_read, alice, [(await Notification.objects.order_by("id").afirst()).pk])
    async with RealtimeClient(user=alice) as tab:
        reply = await subscribed(tab, topic(alice))
        state = reply["state"]
        assert state["unread"] == 9 and state["seq"] == 11 and reply["history"] == 0
        assert [n["title"] for n in state["latest"]] == [f"old {n}" for n in range(9, 1, -1)]
        assert await tab.nothing_more(0.3)


async def test_a_resuming_tab_is_replayed_what_it_missed(alice):
    await call(notify, alice, "seen before")
    async with RealtimeClient(user=alice) as tab:
        since = (await subscribed(tab, topic(alice)))["state"]["seq"]
    (missed,) = await call(notify, alice, "missed")
    await call(mark_read, alice)
    async with RealtimeClient(user=alice) as tab:
        reply = await subscribed(tab, topic(alice), since)
        got = await tab.collect(0.3)
        assert [m["event"] for m in got] == ["notification", "read"]
        assert got[0]["data"]["id"] == missed.pk and got[1]["data"]["unread"] == 0
        assert reply["state"]["unread"] == 0 and reply["state"]["seq"] == got[-1]["id"]


# -- marking read over the socket -----------------------------------------------------------------
async def test_marking_read_on_one_tab_updates_every_tab(alice):
    rows = [(await call(notify, alice, f"n{n}"))[0] for n in range(3)]
    async with RealtimeClient(user=alice) as tab1, RealtimeClient(user=alice) as tab2:
        await subscribed(tab1, topic(alice))
        await subscribed(tab2, topic(alice))
        ack = await tab1.publish(topic(alice), "read", {"ids": [rows[0].pk, rows[0].pk]})
        assert (ack["type"], ack["marked"], ack["unread"]) == ("ack", 1, 2)
        read = await tab2.receive_event("read")
        assert read["data"] == {"ids": [rows[0].pk], "unread": 2}
        ack = await tab2.publish(topic(alice), "read", {"all": True})
        assert (ack["marked"], ack["unread"]) == (2, 0)
        read = await tab1.receive_event("read")
        assert read["data"] == {"upto": rows[2].pk, "unread": 0}
    assert await call(unread_count, alice) == 0


async def test_marking_read_again_answers_and_broadcasts_nothing(alice):
    (row,) = await call(notify, alice, "once")
    await call(mark_read, alice)
    async with RealtimeClient(user=alice) as tab1, RealtimeClient(user=alice) as tab2:
        await subscribed(tab1, topic(alice))
        await subscribed(tab2, topic(alice))
        ack = await tab1.publish(topic(alice), "read", {"ids": [row.pk]})
        assert (ack["marked"], ack["unread"]) == (0, 0)
        assert await tab2.nothing_more(0.4)


async def test_nobody_can_mark_another_users_notifications_read(alice, bob):
    (theirs,) = await call(notify, bob, "bob's")
    async with RealtimeClient(user=alice) as tab:
        await subscribed(tab, topic(alice))
        ack = await tab.publish(topic(alice), "read", {"ids": [theirs.pk]})
        assert ack["marked"] == 0
        refused = await tab.publish(topic(bob), "read", {"all": True})
        assert refused["code"] == "not_subscribed"
    assert await call(unread_count, bob) == 1


@pytest.mark.parametrize(
    "event, data, code",
    [
        ("read", {}, "bad_read"),
        ("read", {"ids": []}, "bad_read"),
        ("read", {"ids": "1"}, "bad_read"),
        ("read", {"ids": [0]}, "bad_read"),
        ("read", {"ids": [True]}, "bad_read"),
        ("read", {"ids": [1.5]}, "bad_read"),
        ("read", {"ids": list(range(1, 102))}, "bad_read"),
        ("read", {"all": "yes"}, "bad_read"),
        ("read", {"all": True, "ids": [1]}, "bad_read"),
        ("delete", {"ids": [1]}, "publish_not_allowed"),
    ],
)
async def test_malformed_reads_get_a_stable_code_and_the_socket_lives_on(alice, event, data, code):
    async with RealtimeClient(user=alice) as tab:
        await subscribed(tab, topic(alice))
        reply = await tab.publish(topic(alice), event, data)
        assert (reply["type"], reply["code"]) == ("error", code), reply
        assert (await tab.request({"type": "ping"}))["type"] == "pong"


# -- the Python API -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs",
    [
        {"title": ""},
        {"title": "   "},
        {"title": "x" * 201},
        {"url": "javascript:alert(1)"},
        {"url": "JavaScript:alert(1)"},
        {"url": "data:text/html,<script>alert(1)</script>"},
        {"url": "//evil.example/"},
        {"url": "/\\evil.example/"},
        {"url": "https:/nohost"},
        {"url": "/a b"},
        {"level": "critical"},
        {"body": "x" * 2001},
    ],
)
def test_notify_refuses_what_it_cannot_show_safely(alice, kwargs):
    with pytest.raises(ValueError):
        notify(alice, **{"title": "t", **kwargs})
    assert not Notification.objects.exists()


def test_notify_refuses_bad_recipients_and_data(alice):
    with pytest.raises(TypeError):
        notify("alice", "t")
    with pytest.raises(TypeError):
        notify(alice, "t", data=["not", "a", "dict"])
    with pytest.raises(TypeError):
        notify(alice, "t", data={"when": object()})
    with pytest.raises(ValueError):
        notify(alice, "t", data={"big": "x" * 5000})


def test_accepted_links_and_recipients_by_id(alice):
    for url in ("", "/orders/7/", "https://example.com/a?b=c#d", "http://example.com"):
        notify(alice.pk, "t", url=url)
    assert unread_count(alice) == 4


def test_unread_count_mark_read_and_the_signals(alice, bob):
    sent, read = [], []

    def on_sent(sender, notifications, **kwargs):
        sent.append([n.title for n in notifications])

    def on_read(sender, user_id, ids, unread, **kwargs):
        read.append((user_id, ids, unread))

    notification_sent.connect(on_sent)
    notifications_read.connect(on_read)
    try:
        first, second = notify(alice, "a")[0], notify(alice, "b")[0]
        notify(bob, "c")
        assert sent == [["a"], ["b"], ["c"]]
        assert (unread_count(alice), unread_count(bob)) == (2, 1)
        assert mark_read(alice, [second.pk]) == 1
        assert mark_read(alice, [second.pk]) == 0
        assert mark_read(alice) == 1
        assert read == [(alice.pk, [second.pk], 1), (alice.pk, [first.pk], 0)]
        assert unread_count(bob) == 1
    finally:
        notification_sent.disconnect(on_sent)
        notifications_read.disconnect(on_read)


def test_unread_count_of_an_anonymous_visitor_is_zero(db):
    from django.contrib.auth.models import AnonymousUser

    assert unread_count(AnonymousUser()) == 0
