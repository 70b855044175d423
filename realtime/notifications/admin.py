"""Notifications in the Django admin: find, read and delete them. Sending is `notify()`'s job (a row
added here would reach no open page), so the admin cannot add one."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from .models import Notification


class ReadFilter(admin.SimpleListFilter):
    title = _("read")
    parameter_name = "read"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("no", _("Unread")), ("yes", _("Read"))]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        if self.value() in ("yes", "no"):
            return queryset.filter(read_at__isnull=self.value() == "no")
        return queryset


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["title", "recipient", "level", "created", "read_at"]
    list_filter = ["level", ReadFilter]
    search_fields = ["title", "body", "recipient__username"]
    raw_id_fields = ["recipient"]
    date_hierarchy = "created"
    readonly_fields = ["created", "read_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
