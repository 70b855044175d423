"""The status page's place in the admin: a proxy of the event log with no rows of its own, so the page
is listed on the admin index and its permission (`realtime.view_status`) is one Django knows."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from ..models import Event


class StatusPage(Event):
    class Meta:
        proxy = True
        app_label = "realtime"
        default_permissions = ()  # no add/change/delete/view of rows: there are none
        permissions = [("view_status", _("Can view the realtime status"))]
        verbose_name = _("realtime status")
        verbose_name_plural = _("realtime status")
