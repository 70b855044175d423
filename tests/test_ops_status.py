"""The status page's parts in one process: the snapshot, the `ops.status` topic's access (and its
re-check when a permission is taken away), the exchange over the layer, the admin page, the command.

Across real daphne processes: tests/test_ops_status_daphne.py.
"""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client, override_settings
from django.utils import translation

from realtime.eventlog import store_event
from realtime.hub import get_hub
from realtime.layers import redis_layer
from realtime.management.commands.realtime_status import render
from realtime.ops.collect import Collected
from realtime.ops.exchange import STATUS_TOPIC, Peers, handle, request
from realtime.ops.status import StatusSource, status_of
from realtime.testing import RealtimeClient, override_realtime
from tests.conftest import free_port

pytestmark = pytest.mark.django_db(transaction=True)


def grant_status(user):
    user.is_staff = True
    user.save()
    user.user_permissions.add(
        Permission.objects.get(codename="view_status", content_type__app_label="realtime")
    )
    return user


@pytest.fixture
def staff(make_user):
    return grant_status(make_user("ops-staff"))


@pytest.fixture
def plain_staff(make_user):
    return make_user("ops-plain-staff", is_staff=True)


# -- the snapshot ----------------------------------------------------------------------------------
async def test_the_snapshot_counts_connections_rooms_errors_and_hot_topics(alice, stream):
    async with RealtimeClient(user=alice) as signed_in, RealtimeClient() as anonymous:
        topic = f"stream.{stream.pk}"
        assert (await signed_in.subscribe(topic))["type"] == "subscribed"
        assert (await anonymous.subscribe("nonsense.1"))["code"] == "unknown_topic"
        assert (await anonymous.subscribe("user.1"))["code"] == "auth_required"
        hub = await get_hub()
        source = status_of(hub)
        source.sample()  # where the topic stands
        for n in range(3):
            event = await sync_to_async(store_event)(topic, "comment", {"text": f"c{n}"})
            await hub.publish(event)
        await signed_in.receive_event("comment")
        await signed_in.receive_event("comment")
        await signed_in.receive_event("comment")
        source.sample()
        snap = source.snapshot()
    assert (snap["connections"], snap["signed_in"], snap["anonymous"]) == (2, 1, 1)
    assert (snap["rooms"], snap["subscriptions"]) == (1, 1)
    assert snap["errors"] == {"unknown_topic": 1, "auth_required": 1}
    assert [code for _, code in snap["recent_errors"]] == ["unknown_topic", "auth_required"]
    assert snap["hot_topics"] == [{"topic": topic, "rate": 0.05, "subscribers": 1}]  # 3 in a minute
    assert snap["history"]["events"][-1] == 3 and snap["history"]["connections"][-1] == 2
    assert snap["layer"] == {"up": True, "down_for": None} and snap["database"]["up"] is True
    assert snap["id"] == hub.channel and snap["uptime"] >= 0


async def test_an_outage_shows_how_long_the_dependency_has_been_down():
    hub = await get_hub()
    hub.database.failed(RuntimeError("gone"), "a test")
    await asyncio.sleep(0.15)
    database = status_of(hub).snapshot()["database"]
    assert database["up"] is False and database["down_for"] >= 0.1
    hub.database.answered()


async def test_hot_topics_are_the_top_n_by_rate_and_forget_closed_rooms():
    hub = await get_hub()
    source = hub.service(StatusSource)

    class FakeRoom:  # only what the sampler reads: the last stored id delivered, the subscribers
        def __init__(self, last_id):
            self.sequencer = type("S", (), {"last_id": last_id})()

        def __len__(self):
            return 1

    hub.rooms.update({f"t.{n}": FakeRoom(0) for n in range(4)})  # type: ignore[dict-item]
    source.sample()
    for n in range(4):
        hub.rooms[f"t.{n}"].sequencer.last_id = n * 10
    source.sample()
    with override_realtime(STATUS_TOP_TOPICS=2):
        assert [t["topic"] for t in source.snapshot()["hot_topics"]] == ["t.3", "t.2"]
    del hub.rooms["t.3"]
    source.sample()
    assert "t.3" not in source.per_topic
    hub.rooms.clear()


# -- the exchange ----------------------------------------------------------------------------------
async def test_a_status_request_is_answered_on_the_reply_channel_and_peers_are_heard():
    hub = await get_hub()
    reply_to = await hub.layer.new_channel("test.status.")
    handle(hub, {"type": "realtime.control", "action": "status_peer", "id": "other!x", "name": "h:1"})
    handle(hub, {"type": "realtime.control", "action": "status_peer", "id": hub.channel, "name": "me"})
    handle(hub, request(reply_to=reply_to))
    answer = await asyncio.wait_for(hub.layer.receive(reply_to), 2)
    assert answer["type"] == "realtime.ops.status"
    assert answer["snapshot"]["id"] == hub.channel
    assert [p["id"] for p in answer["snapshot"]["peers"]] == ["other!x"]  # never itself


async def test_a_peer_silent_for_too_long_is_forgotten(monkeypatch):
    hub = await get_hub()
    peers = hub.service(Peers)
    peers.heard("other!x", "h:1")
    monkeypatch.setattr("realtime.ops.exchange.FORGET_AFTER", -1.0)
    assert peers.known() == []


async def test_a_reply_channel_the_layer_refuses_is_logged_not_raised(caplog):
    hub = await get_hub()
    handle(hub, request(reply_to="not a valid channel name!"))
    await asyncio.sleep(0.1)
    assert "Could not answer a status request" in caplog.text


# -- the topic -------------------------------------------------------------------------------------
async def test_staff_with_the_permission_follow_every_process_live(staff):
    async with RealtimeClient(user=staff) as page:
        reply = await page.subscribe(STATUS_TOPIC)
        assert reply["type"] == "subscribed"
        (mine,) = reply["state"]["processes"]
        assert mine["connections"] == 1
        async with RealtimeClient():
            snapshot = await page.receive_event("snapshot", timeout=5)
            while snapshot["data"]["connections"] != 2:
                snapshot = await page.receive_event("snapshot", timeout=5)
        assert "id" not in snapshot  # ephemeral: never stored, no id to resume from


@pytest.mark.parametrize(
    "who, code",
    [("anonymous", "auth_required"), ("alice", "forbidden"), ("plain_staff", "forbidden")],
)
async def test_others_are_refused_the_status_topic(request, who, code):
    user = None if who == "anonymous" else await sync_to_async(request.getfixturevalue)(who)
    async with RealtimeClient(user=user) as client:
        reply = await client.subscribe(STATUS_TOPIC)
        assert (reply["type"], reply["code"]) == ("error", code)
        assert await client.nothing_more(0.3)


async def test_the_only_ops_topic_is_ops_status(staff):
    async with RealtimeClient(user=staff) as client:
        assert (await client.subscribe("ops.other"))["code"] == "not_found"


async def test_taking_the_permission_away_ends_the_subscription(staff):
    async with RealtimeClient(user=staff) as page:
        assert (await page.subscribe(STATUS_TOPIC))["type"] == "subscribed"
        await sync_to_async(staff.user_permissions.clear)()
        kicked = await page.receive_type("kicked", timeout=5)
    assert (kicked["topic"], kicked["code"]) == (STATUS_TOPIC, "forbidden")


# -- the admin page and the command ----------------------------------------------------------------
def test_the_admin_page_is_for_staff_with_the_permission(staff, plain_staff, alice):
    web = Client()
    web.force_login(staff)
    index = web.get("/admin/")
    assert b'href="/admin/realtime/statuspage/"' in index.content
    page = web.get("/admin/realtime/statuspage/")
    assert page.status_code == 200
    assert b'data-topic="ops.status"' in page.content and b"realtime/ops-status.js" in page.content
    web.force_login(plain_staff)
    assert web.get("/admin/realtime/statuspage/").status_code == 403
    assert b"/admin/realtime/statuspage/" not in web.get("/admin/").content
    web.force_login(alice)
    refused = web.get("/admin/realtime/statuspage/")
    assert refused.status_code == 302 and "/admin/login/" in refused["Location"]


def test_the_admin_page_speaks_chinese(staff):
    web = Client()
    web.force_login(staff)
    with translation.override("zh-hans"):
        page = web.get("/admin/realtime/statuspage/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    text = page.content.decode()
    assert "实时状态" in text and 'data-label-connections="连接数"' in text and "无应答" in text


def test_the_command_explains_that_the_in_memory_layer_cannot_reach_daphne():
    with pytest.raises(CommandError, match="in-memory layer does not reach"):
        call_command("realtime_status")
    with pytest.raises(CommandError, match="--timeout"):
        call_command("realtime_status", "--timeout", "0")


def test_the_human_form_names_a_silent_process():
    answer = {
        "id": "a!1",
        "name": "web-1:41",
        "uptime": 90061.0,
        "connections": 3,
        "signed_in": 2,
        "anonymous": 1,
        "rooms": 2,
        "subscriptions": 4,
        "layer": {"up": False, "down_for": 12.5},
        "database": {"up": True},
        "hot_topics": [{"topic": "stream.7", "rate": 1.5, "subscribers": 3}],
        "errors": {"forbidden": 2},
    }
    text = render(Collected(answers=[answer], silent={"b!2": "web-2:77"}, waited=2.0))
    assert "web-1:41  (a!1)\n  uptime         1 d 01:01:01\n" in text
    assert "  channel layer  DOWN for 12.5 s\n" in text and "  hot topics     stream.7 1.5/s\n" in text
    assert "web-2:77  (b!2)\n  NOT ANSWERING\n" in text
    assert text.endswith("1 process(es) answered, 1 not answering (2.0 s).")


def test_the_command_says_so_when_the_layer_does_not_answer():
    nowhere = redis_layer(f"redis://127.0.0.1:{free_port()}/0", prefix="rt-test-nowhere")
    with override_settings(CHANNEL_LAYERS={"default": nowhere}):
        with pytest.raises(CommandError, match="refused the status request"):
            call_command("realtime_status", "--timeout", "1")
