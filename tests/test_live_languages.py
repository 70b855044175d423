"""A view room renders in one language: the page's, kept after its first update (the renderer has no
request, so the language is part of the room's name; `realtime.live.languages`)."""

from __future__ import annotations

import pytest
from django.template import Context, Template
from django.utils import translation

from realtime.testing import RealtimeClient, override_realtime
from tests.liveapp.models import Gauge
from tests.livekit import aperson, call, person, set_value, subscribed

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_zh_hans_room_renders_in_zh_hans_at_subscribe_and_after_a_change():
    viewer = await aperson("vee")
    gauge = await call(Gauge.objects.create, name="g", value=1)
    with override_realtime(LIVE_INTERVAL=0.05):
        async with RealtimeClient(user=viewer) as zh, RealtimeClient(user=viewer) as en:
            state = (await subscribed(zh, f"livev.gauge-word_all-zh-hans_{gauge.pk}"))["state"]
            assert "是: 1" in state["html"]
            assert "Yes: 1" in (await subscribed(en, f"livev.gauge-word_all_{gauge.pk}"))["state"]["html"]
            await call(set_value, gauge.pk, 2)
            assert "是: 2" in (await zh.receive_event("render"))["data"]["html"]
            assert "Yes: 2" in (await en.receive_event("render"))["data"]["html"]


@pytest.mark.parametrize("suffix", ["-fr", "-en", "-zh-hans-x", "-"])
async def test_a_language_the_site_does_not_have_or_the_default_spelled_out_names_no_room(suffix):
    # Rooms only for the site's LANGUAGES, and one spelling per room (the default has no suffix).
    viewer = await aperson("vee")
    gauge = await call(Gauge.objects.create, name="g", value=1)
    async with RealtimeClient(user=viewer) as client:
        reply = await client.subscribe(f"livev.gauge-word_all{suffix}_{gauge.pk}")
        assert reply["type"] == "error" and reply["code"] == "not_found", reply


def test_the_tag_names_the_room_of_the_pages_language(rf):
    gauge = Gauge.objects.create(name="g", value=3)
    request = rf.get("/")
    request.user = person("vee")
    page = Template('{% load realtime_live %}{% live_fragment "gauge-word" gauge %}')
    with translation.override("zh-hans"):
        html = page.render(Context({"request": request, "gauge": gauge}))
    assert f'data-live-topic="livev.gauge-word_all-zh-hans_{gauge.pk}"' in html and "是: 3" in html
    with translation.override("en"):
        html = page.render(Context({"request": request, "gauge": gauge}))
    assert f'data-live-topic="livev.gauge-word_all_{gauge.pk}"' in html and "Yes: 3" in html
