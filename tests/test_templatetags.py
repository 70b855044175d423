"""Template tags: config in data-* attributes, CSP nonces, settings read at render time."""

import pytest
from django.template import Context, Template
from django.test import RequestFactory, override_settings

from realtime.streams.models import Stream

pytestmark = pytest.mark.django_db


def render(source, **context):
    return Template("{% load realtime realtime_streams %}" + source).render(Context(context))


def test_client_tag_emits_script_with_config_in_data_attributes():
    html = render("{% realtime_client %}")
    assert "realtime/realtime.js" in html
    assert 'data-url="/ws/realtime/"' in html and 'data-heartbeat="25"' in html


def test_client_tag_follows_settings_at_render_time():
    with override_settings(REALTIME={"WEBSOCKET_PATH": "/live/", "HEARTBEAT": 10}):
        html = render("{% realtime_client %}")
    assert 'data-url="/live/"' in html and 'data-heartbeat="10"' in html


def test_client_tag_adds_the_csp_nonce_from_context_or_request():
    assert 'nonce="abc"' in render("{% realtime_client %}", csp_nonce="abc")
    request = RequestFactory().get("/")
    request.csp_nonce = "xyz"
    assert 'nonce="xyz"' in render("{% realtime_client %}", request=request)
    assert "nonce" not in render("{% realtime_client %}")


def test_stream_tag_renders_the_player_for_the_stream_topic(owner):
    stream = Stream.objects.create(title="<script>alert(1)</script>", slug="s", owner=owner)
    request = RequestFactory().get("/streams/s/")
    request.user = owner
    html = render("{% realtime_stream stream %}", stream=stream, request=request)
    assert f"stream.{stream.pk}" in html
    assert "<script>alert(1)</script>" not in html  # titles are escaped like any template value
    for color in ("#ff5555", "#55aaff"):
        assert color in html
