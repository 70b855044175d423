"""The admin's "Realtime status" page: the page itself; its figures arrive live over `ops.status`."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _

from ..conf import realtime_settings
from .access import may_view_status
from .exchange import STATUS_TOPIC

TEMPLATE = "realtime/ops/status.html"


def labels() -> dict[str, str]:
    """The page's words for its script (data-label-* attributes), in the request's language."""
    return {
        "uptime": _("Uptime"),
        "connections": _("Connections"),
        "signed-in": _("Signed in"),
        "anonymous": _("Anonymous"),
        "rooms": _("Rooms"),
        "subscriptions": _("Subscriptions"),
        "layer": _("Channel layer"),
        "database": _("Database"),
        "up": _("up"),
        "down": _("down for %(seconds)s s"),
        "hot-topics": _("Hot topics (events/s, last minute)"),
        "no-hot-topics": _("No stored events in the last minute."),
        "errors": _("Recent errors by code"),
        "no-errors": _("No errors sent to clients."),
        "not-answering": _("Not answering"),
        "chart-connections": _("Connections, last 5 minutes"),
        "chart-events": _("Stored events per second, last 5 minutes"),
        "processes": _("Processes"),
        "max": _("highest"),
        "forbidden": _("You may not view the realtime status."),
        "offline": _("Not connected: reconnecting…"),
    }


def status_view(model_admin: admin.ModelAdmin, request: HttpRequest) -> HttpResponse:
    if not may_view_status(request.user):
        raise PermissionDenied  # the admin's 403 page (non-staff never get here: the admin's login first)
    context: dict[str, Any] = {
        **model_admin.admin_site.each_context(request),
        "title": _("Realtime status"),
        "opts": model_admin.model._meta,
        "topic": STATUS_TOPIC,
        "interval": float(realtime_settings.STATUS_INTERVAL),
        "labels": sorted(labels().items()),
    }
    return TemplateResponse(request, TEMPLATE, context)
