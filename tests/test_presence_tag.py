"""{% realtime_presence %}: the "who is here" markup (presence-roster.js fills it in the browser:
tests/js/presence-roster.test.js, tests/test_presence_browser.py)."""

from __future__ import annotations

import json
import re

from django.template import Context, Template
from django.utils import translation


def render(source: str, **context: object) -> str:
    return Template("{% load realtime %}" + source).render(Context(context))


def test_markup_is_a_labelled_list_with_a_count_and_config_in_data_attributes():
    html = render(
        '{% realtime_presence "page.home" %}{% realtime_presence topic limit=5 %}', topic="page.<x>"
    )
    assert 'data-topic="page.home"' in html
    assert 'data-topic="page.&lt;x&gt;"' in html, "the topic is escaped"
    assert 'data-max="5"' in html
    # Two tags on one page: distinct ids, each list labelled by its heading and described by its count.
    assert 'aria-labelledby="rt-presence-1-title" aria-describedby="rt-presence-1-count"' in html
    assert 'id="rt-presence-2-count"' in html
    assert html.count("presence-roster.js") == 2, "the script starts each element once (data-started)"
    texts = json.loads(re.search(r'data-texts="([^"]*)"', html).group(1).replace("&quot;", '"'))
    assert texts["here"] == {"one": "%(count)s person here", "other": "%(count)s people here"}
    assert texts["status_typing"] == "typing"


def test_nonce_and_title():
    html = render('{% realtime_presence "page.home" title="Online" %}', csp_nonce="n0nce")
    assert 'nonce="n0nce"' in html
    assert ">Online</h2>" in html


def test_translated_in_chinese():
    with translation.override("zh-hans"):
        html = render('{% realtime_presence "page.home" %}')
    assert "Who is here" not in html
    texts = json.loads(re.search(r'data-texts="([^"]*)"', html).group(1).replace("&quot;", '"'))
    assert texts["here"]["one"] == texts["here"]["other"]
    assert "%(count)s" in texts["here"]["other"]
