"""Admin pages: the event log (read-only: events are what clients were sent), and the live "Realtime
status" page (`realtime.ops`), listed on the admin index for staff with `realtime.view_status`."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from .models import Event, StatusPage
from .ops.access import may_view_status
from .ops.page import status_view


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["topic", "seq", "name", "created_at", "withdrawn"]
    list_filter = ["name", "withdrawn"]
    search_fields = ["topic"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(StatusPage)
class StatusPageAdmin(admin.ModelAdmin):
    """No rows: its list page is the status page."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return may_view_status(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return status_view(self, request)
