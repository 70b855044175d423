"""`{% load realtime_live %}`: what a page is rendered with, for whom, and escaped."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.auth.models import AnonymousUser
from django.template import Context, Template
from django.test import RequestFactory

from tests.liveapp.models import Gauge
from tests.livekit import person

pytestmark = pytest.mark.django_db


def page(source: str, user, **context) -> str:
    request = RequestFactory().get("/")
    request.user = user
    return Template("{% load realtime_live %}" + source).render(Context({"request": request, **context}))


def test_a_fragment_is_rendered_in_its_topic_element_for_the_viewers_audience():
    gauge = Gauge.objects.create(name="g", value=4)
    html = page('{% live_fragment "gauge-card" gauge tag="section" %}', person("vee"), gauge=gauge)
    assert html == (
        f'<section data-live-topic="livev.gauge-card_all_{gauge.pk}" data-live-form="fragment">'
        '<p class="gauge">g: 4 (all)</p>\n</section>'
    )
    staff = page('{% live_fragment "gauge-card" gauge %}', person("sam", is_staff=True), gauge=gauge)
    assert f'data-live-topic="livev.gauge-card_staff_{gauge.pk}"' in staff and "(staff)" in staff


def test_rows_carry_their_keys_in_order_with_the_cap():
    gauges = [Gauge.objects.create(name=f"n{v}", value=v) for v in (1, 5, 3, 4)]
    html = page('{% live_rows "open-gauges" tag="ul" %}', person("vee"))
    keys = re.findall(r'<li data-live-key="(\d+)">', html)
    assert keys == [str(gauges[i].pk) for i in (1, 3, 2)]
    assert html.startswith('<ul data-live-topic="livev.open-gauges_all" data-live-form="rows">')


def test_a_value_is_json_a_script_cannot_break_out_of_and_a_field_is_text():
    Gauge.objects.create(name="</script><script>alert(1)</script>", value=2)
    html = page('{% live_value "gauge-total" %}', person("vee"))
    assert html.count("<script") == 1 and html.count("</script>") == 1
    body = re.search(r"<script[^>]*>(.*)</script>", html, re.S).group(1)
    assert json.loads(body)["names"] == ["</script><script>alert(1)</script>"]
    assert 'data-live-topic="livev.gauge-total_all" data-live-form="value"' in html
    field = page('{% live_value "gauge-total" field="total" %}', person("bee"))
    assert field == (
        '<span data-live-topic="livev.gauge-total_all" data-live-form="value" data-live-field="total">2</span>'
    )


def test_a_viewer_who_may_not_see_the_view_gets_nothing():
    gauge = Gauge.objects.create(name="g", value=1)
    for user in (AnonymousUser(), person("nob", may_view=False)):
        for source in (
            '{% live_fragment "gauge-card" gauge %}',
            '{% live_rows "open-gauges" %}',
            '{% live_value "gauge-total" %}',
        ):
            assert page(source, user, gauge=gauge) == ""


def test_a_field_holding_markup_is_escaped_in_the_page():
    gauge = Gauge.objects.create(name="<b>x</b>", value=1)
    html = page('{% live_fragment "gauge-card" gauge %}', person("vee"), gauge=gauge)
    assert "<b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html


def test_live_scripts_loads_the_client_and_live_js():
    html = page("{% live_scripts %}", AnonymousUser())
    assert "realtime/realtime.js" in html and "realtime/live.js" in html
    assert "realtime.js" not in page("{% live_scripts client=False %}", AnonymousUser())
