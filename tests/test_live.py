"""realtime.live in one process: capture on commit (declared fields only), last value wins, resume,
access (refused, kicked on permission loss, audience), views rendered once per change per audience."""

from __future__ import annotations

import asyncio
import json

import pytest
from django.contrib.auth.models import Permission
from django.db import transaction

from realtime import live
from realtime.hub import get_hub
from realtime.live.render import Renderer
from realtime.testing import RealtimeClient, events, override_realtime
from tests.liveapp.models import Gauge
from tests.livekit import MODEL_TOPIC, aperson, call, frames, set_value, subscribed

pytestmark = pytest.mark.django_db(transaction=True)


def changes(messages):
    return [m["data"] for m in events(messages, "change")]


async def test_creates_updates_and_deletes_reach_a_subscriber_with_declared_fields_only():
    viewer = await aperson("vee")
    async with RealtimeClient(user=viewer) as client:
        await subscribed(client, MODEL_TOPIC)
        gauge = await call(Gauge.objects.create, name="boiler", value=1, secret="s3cret")
        await asyncio.sleep(0.3)
        await call(set_value, gauge.pk, 2)
        await asyncio.sleep(0.3)
        await call(Gauge.objects.filter(pk=gauge.pk).delete)
        got = changes(await client.collect(0.5))
    assert got == [
        {"op": "create", "pk": gauge.pk, "fields": {"name": "boiler", "value": 1, "open": True}},
        {"op": "update", "pk": gauge.pk, "fields": {"name": "boiler", "value": 2, "open": True}},
        {"op": "delete", "pk": gauge.pk, "fields": {}},
    ]


async def test_nothing_is_sent_for_a_rolled_back_change_and_changed_covers_update():
    viewer = await aperson("vee")
    gauge = await call(Gauge.objects.create, name="a", value=1)

    def rolled_back():
        with transaction.atomic():
            set_value(gauge.pk, 99)
            transaction.set_rollback(True)

    def bulk():
        Gauge.objects.filter(pk=gauge.pk).update(value=7)
        live.changed(Gauge, pks=[gauge.pk, 123456])

    async with RealtimeClient(user=viewer) as client:
        await subscribed(client, MODEL_TOPIC)
        await client.collect(0.3)  # the replay of the create
        await call(rolled_back)
        await call(bulk)
        got = changes(await client.collect(0.5))
    assert got == [
        {"op": "update", "pk": gauge.pk, "fields": {"name": "a", "value": 7, "open": True}},
        {"op": "delete", "pk": 123456, "fields": {}},
    ]


async def test_a_hot_row_reaches_a_socket_as_few_frames_with_its_latest_value_and_resume_jumps_to_it():
    viewer = await aperson("vee")
    gauge = await call(Gauge.objects.create, name="hot", value=0)
    other = await call(Gauge.objects.create, name="cold", value=0)

    def hammer(count):
        for n in range(1, count + 1):
            set_value(gauge.pk, n)
        set_value(other.pk, 5)

    with override_realtime(LIVE_INTERVAL=0.15):
        async with RealtimeClient(user=viewer) as client:
            reply = await subscribed(client, MODEL_TOPIC)
            loop = asyncio.get_running_loop()
            start = loop.time()
            work = asyncio.ensure_future(call(hammer, 1000))
            got = await frames(client, quiet=1.0)
            await work
            elapsed = loop.time() - start
        seen = [m["data"] for frame in got for m in frame if m.get("event") == "change"]
        # One frame per LIVE_INTERVAL at most (plus the leading edge), each with one change per row.
        assert len(got) <= elapsed / 0.15 + 2, (len(got), elapsed)
        assert len(seen) <= 2 * len(got), (len(seen), len(got))  # two rows: one change each per frame at most
        assert [d["fields"]["value"] for d in seen if d["pk"] == gauge.pk][-1] == 1000
        for frame in got:
            pks = [m["data"]["pk"] for m in frame]
            assert len(pks) == len(set(pks)), pks
        # A resume from before all that is one change per row: the present, not a backlog.
        async with RealtimeClient(user=viewer) as client:
            resumed = await subscribed(client, MODEL_TOPIC, since=reply["last_id"])
            replay = changes(await client.collect(0.3))
        assert resumed["history"] == len(replay) == 2
        assert {d["pk"]: d["fields"]["value"] for d in replay} == {gauge.pk: 1000, other.pk: 5}


async def test_a_user_without_the_permission_is_refused_and_one_who_loses_it_is_kicked():
    nobody = await aperson("nob", may_view=False)
    viewer = await aperson("vee")
    async with RealtimeClient(user=nobody) as client:
        reply = await client.subscribe(MODEL_TOPIC)
        assert reply["type"] == "error" and reply["code"] == "forbidden"
        reply = await client.subscribe("livev.open-gauges_all")
        assert reply["type"] == "error" and reply["code"] == "forbidden"
    async with RealtimeClient() as client:
        reply = await client.subscribe(MODEL_TOPIC)
        assert reply["type"] == "error" and reply["code"] == "auth_required"
    async with RealtimeClient(user=viewer) as client:
        await subscribed(client, MODEL_TOPIC)
        await subscribed(client, "livev.open-gauges_all")
        await call(viewer.user_permissions.remove, await call(Permission.objects.get, codename="view_gauge"))
        kicked = [
            await client.receive_type("kicked", timeout=2),
            await client.receive_type("kicked", timeout=2),
        ]
        assert {k["topic"] for k in kicked} == {MODEL_TOPIC, "livev.open-gauges_all"}
        await call(Gauge.objects.create, name="after", value=1)
        assert not [m for m in await client.collect(0.4) if m.get("type") == "event"]


async def test_a_view_topic_of_another_audience_is_refused():
    viewer = await aperson("vee")  # audience "all"; staff see "staff"
    staff = await aperson("sam", is_staff=True)
    async with RealtimeClient(user=viewer) as client:
        reply = await client.subscribe("livev.open-gauges_staff")
        assert reply["type"] == "error" and reply["code"] == "forbidden"
    async with RealtimeClient(user=staff) as client:
        assert (await client.subscribe("livev.open-gauges_all"))["code"] == "forbidden"
        assert (await subscribed(client, "livev.open-gauges_staff"))["state"]["form"] == "rows"


@pytest.mark.parametrize(
    "topic",
    [
        "livev.nope_all",
        "livev.gauge-card_all",
        "livev.open-gauges_all_1",
        "livev.gauge-card_all_01",
        "live.nope",
    ],
)
async def test_malformed_live_topics_are_not_found(topic):
    viewer = await aperson("vee")
    async with RealtimeClient(user=viewer) as client:
        reply = await client.subscribe(topic)
        assert reply["type"] == "error" and reply["code"] == "not_found", reply


async def test_views_render_once_per_change_per_audience_not_per_viewer():
    people = [await aperson(f"v{n}") for n in range(4)] + [
        await aperson(f"s{n}", is_staff=True) for n in range(3)
    ]
    gauge = await call(Gauge.objects.create, name="g", value=1)
    clients = [RealtimeClient(user=user) for user in people]
    with override_realtime(LIVE_INTERVAL=0.05):
        for client in clients:
            await client.__aenter__()
        try:
            for client, user in zip(clients, people, strict=True):
                audience = "staff" if user.is_staff else "all"
                await subscribed(client, f"livev.gauge-card_{audience}_{gauge.pk}")
            renderer = (await get_hub()).service(Renderer)
            assert renderer.renders == 2  # the two audiences' states, once each
            await call(set_value, gauge.pk, 2)
            got = [await client.receive_event("render") for client in clients]
            await asyncio.sleep(0.2)
            assert renderer.renders == 4
            assert {m["data"]["html"].strip() for m in got} == {
                '<p class="gauge">g: 2 (all)</p>',
                '<p class="gauge">g: 2 (staff)</p>',
            }
        finally:
            for client in clients:
                await client.__aexit__(None, None, None)


async def test_rows_insert_move_and_remove_with_the_cap_sending_only_new_or_changed_rows():
    viewer = await aperson("vee")
    a, b, c = [
        await call(Gauge.objects.create, name=n, value=v) for n, v in (("a", 30), ("b", 20), ("c", 10))
    ]
    with override_realtime(LIVE_INTERVAL=0.01):
        async with RealtimeClient(user=viewer) as client:
            state = (await subscribed(client, "livev.open-gauges_all"))["state"]
            assert state["order"] == [str(a.pk), str(b.pk), str(c.pk)]
            assert state["html"][str(a.pk)] == f'<li data-live-key="{a.pk}">a = 30</li>\n'
            d = await call(Gauge.objects.create, name="d", value=25)  # in at 2nd; c falls off the cap
            rows = (await client.receive_event("rows"))["data"]
            assert rows == {
                "order": [str(a.pk), str(d.pk), str(b.pk)],
                "html": {str(d.pk): f'<li data-live-key="{d.pk}">d = 25</li>\n'},
            }
            await call(set_value, b.pk, 40)  # moves to the top, its row changed
            rows = (await client.receive_event("rows"))["data"]
            assert rows["order"] == [str(b.pk), str(a.pk), str(d.pk)] and list(rows["html"]) == [str(b.pk)]
            await call(set_value, a.pk, 30, open=False)  # leaves the filter: c comes back
            rows = (await client.receive_event("rows"))["data"]
            assert rows["order"] == [str(b.pk), str(d.pk), str(c.pk)] and list(rows["html"]) == [str(c.pk)]
            await call(set_value, a.pk, 31)  # not in the list: nothing to send
            assert not events(await client.collect(0.3), "rows")


async def test_a_value_is_sent_when_it_changes_and_every_recomputes_while_watched():
    viewer = await aperson("vee")
    await call(Gauge.objects.create, name="a", value=3)
    with override_realtime(LIVE_INTERVAL=0.01):
        async with RealtimeClient(user=viewer) as client:
            state = (await subscribed(client, "livev.gauge-total_all"))["state"]
            assert state == {
                "form": "value",
                "value": {"open": 1, "total": 3, "names": ["a"], "audience": "all"},
            }
            await call(Gauge.objects.create, name="b", value=4)
            assert (await client.receive_event("value"))["data"] == {
                "value": {"open": 2, "total": 7, "names": ["a", "b"], "audience": "all"}
            }


async def test_script_in_a_field_stays_escaped_in_fragments_and_rows():
    viewer = await aperson("vee")
    gauge = await call(Gauge.objects.create, name="<script>alert(1)</script>", value=1)
    async with RealtimeClient(user=viewer) as client:
        card = (await subscribed(client, f"livev.gauge-card_all_{gauge.pk}"))["state"]["html"]
        rows = (await subscribed(client, "livev.open-gauges_all"))["state"]["html"][str(gauge.pk)]
    for html in (card, rows):
        assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "secret" not in json.dumps([card, rows])


async def test_every_recomputes_a_value_while_watched_and_stops_after(monkeypatch):
    from realtime.hub import hub as hub_module
    from tests.liveapp.live import TICKS

    monkeypatch.setattr(hub_module, "ROOM_LINGER", 0.1)

    TICKS.update(now=1, computed=0)
    with override_realtime(LIVE_INTERVAL=0.01):
        async with RealtimeClient() as client:
            assert (await subscribed(client, "livev.gauge-tick_all"))["state"]["value"] == {"now": 1}
            await asyncio.sleep(0.5)
            assert not events(await client.collect(0.1), "value")  # recomputed, unchanged: nothing sent
            assert TICKS["computed"] >= 2
            TICKS["now"] = 2
            assert (await client.receive_event("value", timeout=1))["data"] == {"value": {"now": 2}}
        await asyncio.sleep(0.3)  # the room's linger (shortened here) is over: it closed
        assert "livev.gauge-tick_all" not in (await get_hub()).rooms
        computed = TICKS["computed"]
        await asyncio.sleep(0.5)
        assert TICKS["computed"] == computed


async def test_a_page_that_comes_back_gets_the_present_in_its_state():
    viewer = await aperson("vee")
    gauge = await call(Gauge.objects.create, name="g", value=1)
    topic = f"livev.gauge-card_all_{gauge.pk}"
    async with RealtimeClient(user=viewer) as client:
        assert "g: 1" in (await subscribed(client, topic))["state"]["html"]
    for value in (2, 3, 4):
        await call(set_value, gauge.pk, value)
    await asyncio.sleep(0.3)
    async with RealtimeClient(user=viewer) as client:
        state = (await subscribed(client, topic))["state"]
        assert state == {"form": "fragment", "html": '<p class="gauge">g: 4 (all)</p>\n', "deleted": False}
        assert not events(await client.collect(0.3), "render")


async def test_a_fragment_queryset_keeps_each_audience_to_its_own_objects():
    vee, bee = await aperson("vee"), await aperson("bee")
    mine = await call(Gauge.objects.create, name=f"u{vee.pk}", value=1)
    theirs = await call(Gauge.objects.create, name=f"u{bee.pk}", value=2)
    async with RealtimeClient(user=vee) as client:
        state = (await subscribed(client, f"livev.own-card_u{vee.pk}_{mine.pk}"))["state"]
        assert f"u{vee.pk}: 1" in state["html"]
        state = (await subscribed(client, f"livev.own-card_u{vee.pk}_{theirs.pk}"))["state"]
        assert state == {"form": "fragment", "html": "", "deleted": True}
        reply = await client.subscribe(f"livev.own-card_u{bee.pk}_{theirs.pk}")
        assert reply["type"] == "error" and reply["code"] == "forbidden"
