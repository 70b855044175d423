from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template import engines

from tests.liveapp.models import Gauge

PAGE = """{% load realtime_live %}<!doctype html>
<html><head><meta charset="utf-8"><title>live</title>{% live_scripts %}
<script src="/test-static/htmx.min.js"></script></head>
<body>
<div id="card">{% live_fragment "page-gauge" gauge %}</div>
<table id="table">{% live_rows "page-table" tag="tbody" %}</table>
<p>Open: <span id="open">{% live_value "page-summary" field="open" %}</span>,
top: <span id="top">{% live_value "page-summary" field="top" %}</span></p>
{% live_value "page-summary" %}
<button id="load" hx-get="/livepage/{{ gauge.pk }}/card/" hx-target="#slot">load</button>
<button id="unload" hx-get="/livepage/empty/" hx-target="#slot">unload</button>
<div id="slot"></div>
</body></html>"""

CARD = """{% load realtime_live %}{% live_fragment "page-gauge" gauge %}"""


def render(request: HttpRequest, source: str, gauge: Gauge | None) -> HttpResponse:
    template = engines["django"].from_string(source)
    return HttpResponse(template.render({"gauge": gauge}, request))


def page(request: HttpRequest, pk: int) -> HttpResponse:
    return render(request, PAGE, get_object_or_404(Gauge, pk=pk))


def card(request: HttpRequest, pk: int) -> HttpResponse:
    return render(request, CARD, get_object_or_404(Gauge, pk=pk))


def empty(request: HttpRequest) -> HttpResponse:
    return HttpResponse('<p id="nothing">nothing live here</p>')
