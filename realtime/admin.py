"""Admin page for the event log (read-only: events are what clients were sent)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import Event


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["topic", "seq", "name", "created_at", "withdrawn"]
    list_filter = ["name", "withdrawn"]
    search_fields = ["topic"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
