"""The admin: compose with a preview of the banner, send now, schedule, end, cancel, resend, send a test
to yourself, and watch delivery receipts live on the change page.

Django's permissions: adding and changing drafts needs the usual add/change permissions; anything
people see (sending, scheduling, ending, cancelling, resending, tests, the receipts panel, editing a
scheduled or live announcement) needs `realtime_announcements.send_announcement` as well. Every state
change is recorded in the admin's history (LogEntry) by `lifecycle`, whoever triggers it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ..api import send_to_hubs
from .changeform import REFUSED, preview, refusal, save_changes
from .forms import AnnouncementForm
from .lifecycle import WAKE_MESSAGE, AnnouncementError, cancel, end, resend, schedule, send_now, send_test
from .models import SEND_PERMISSION, Announcement, State, streams_installed
from .scheduler import run_due
from .stats import compute

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

STATUS_FIELDS = ["state", "round", "sent_at", "ended_at", "created_by", "created_at"]
# What the object tools offer in each state (drafts are sent from the save buttons, after their edits).
OBJECT_ACTIONS: dict[str, tuple[Any, StrOrPromise, StrOrPromise, tuple[str, ...]]] = {
    "send": (send_now, _("Send now"), _("Sent “{}” now."), (State.SCHEDULED,)),
    "end": (
        end,
        _("End now"),
        _("Ended “{}”: its banners are coming down on every open page."),
        (State.LIVE,),
    ),
    "cancel": (cancel, _("Cancel"), _("Cancelled “{}”."), (State.SCHEDULED, State.LIVE)),
    "resend": (
        resend,
        _("Resend"),
        _("Resent “{}”: everyone in its audience sees it again."),
        (State.LIVE, State.ENDED, State.CANCELLED),
    ),
}


@admin.register(Announcement)
class AnnouncementAdmin(admin.ModelAdmin):
    form = AnnouncementForm
    change_form_template = "realtime/announcements/admin/change_form.html"
    list_display = ["title", "level", "audience", "state", "starts_at", "ends_at", "created_by"]
    list_filter = ["state", "level", "audience"]
    search_fields = ["title", "body"]
    list_select_related = ["created_by"]
    filter_horizontal = ["groups"]
    actions = ["send_selected", "end_selected", "cancel_selected", "resend_selected"]

    # A search box for users when the project's user admin can answer it (admin.E039/E040 otherwise).
    @property
    def autocomplete_fields(self) -> list[str]:  # type: ignore[override]
        return ["users"] if self._user_search() else []

    @property
    def raw_id_fields(self) -> list[str]:  # type: ignore[override]
        return [] if self._user_search() else ["users"]

    def _user_search(self) -> bool:
        user_admin = self.admin_site._registry.get(get_user_model())
        return bool(user_admin is not None and user_admin.search_fields)

    def get_fieldsets(self, request: HttpRequest, obj: Announcement | None = None) -> list[Any]:
        audience = ["audience", "groups", "users"] + (["stream_id"] if streams_installed() else [])
        fieldsets: list[Any] = [
            (_("Message"), {"fields": ["title", "body", "link", "level", "dismissible"]}),
            (_("Audience"), {"fields": audience}),
            (
                _("When"),
                {
                    "fields": ["starts_at", "ends_at"],
                    "description": _("Server time. Empty start: when it is sent. Empty end: until ended."),
                },
            ),
        ]
        return fieldsets if obj is None else [*fieldsets, (_("Status"), {"fields": STATUS_FIELDS})]

    def get_readonly_fields(self, request: HttpRequest, obj: Announcement | None = None) -> list[str]:
        if obj is not None and obj.state == State.LIVE:
            # What people saw is what it says: a live one only moves its end (or is ended, or resent).
            return [f for f in AnnouncementForm.Meta.fields if f != "ends_at"] + STATUS_FIELDS
        return list(STATUS_FIELDS)

    # -- permissions ------------------------------------------------------------------------------
    def has_send_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(SEND_PERMISSION)

    def has_change_permission(self, request: HttpRequest, obj: Announcement | None = None) -> bool:
        if not super().has_change_permission(request, obj):
            return False
        if obj is not None and obj.state in (State.SCHEDULED, State.LIVE):
            return self.has_send_permission(request)  # editing these changes what people see
        return True

    def has_delete_permission(self, request: HttpRequest, obj: Announcement | None = None) -> bool:
        if not super().has_delete_permission(request, obj):
            return False
        if obj is not None and obj.state in (State.SCHEDULED, State.LIVE):
            return self.has_send_permission(request)  # deleting takes banners down or calls a send off
        return True

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        if not self.has_send_permission(request):
            # The bulk delete asks no object whether it may go: it could take live banners down.
            actions.pop("delete_selected", None)
        return actions

    # -- saving -----------------------------------------------------------------------------------
    def save_model(self, request: HttpRequest, obj: Announcement, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = request.user  # type: ignore[assignment]  # the admin's user is signed in
            super().save_model(request, obj, form, change)
        elif not save_changes(obj, form.changed_data):
            setattr(request, REFUSED, True)  # response_change says why; save_related skips the lists
            return
        if obj.state in (State.SCHEDULED, State.LIVE) and {"starts_at", "ends_at"} & set(form.changed_data):
            transaction.on_commit(lambda: send_to_hubs({"type": WAKE_MESSAGE}))

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        if not getattr(request, REFUSED, False):
            super().save_related(request, form, formsets, change)

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        if not getattr(request, REFUSED, False):
            return super().log_change(request, obj, message)
        return None

    def response_add(
        self, request: HttpRequest, obj: Announcement, post_url_continue: str | None = None
    ) -> HttpResponse:
        return self._send_after_save(request, obj) or super().response_add(request, obj, post_url_continue)

    def response_change(self, request: HttpRequest, obj: Announcement) -> HttpResponse:
        if getattr(request, REFUSED, False):
            now = Announcement.objects.filter(pk=obj.pk).first()
            self.message_user(request, refusal(obj, now), messages.ERROR)
            return HttpResponseRedirect(self._change_url(obj))
        return self._send_after_save(request, obj) or super().response_change(request, obj)

    def _send_after_save(self, request: HttpRequest, obj: Announcement) -> HttpResponse | None:
        for button, function, done in (
            ("_send_now", send_now, _("Saved and sent “{}”: it is live now.")),
            ("_schedule", schedule, _("Saved and scheduled “{}”.")),
        ):
            if button in request.POST:
                if not self.has_send_permission(request):
                    raise PermissionDenied
                self._apply(request, obj, function, done)
                return HttpResponseRedirect(self._change_url(obj))
        return None

    # -- the per-announcement buttons ---------------------------------------------------------------
    def get_urls(self) -> list[Any]:
        return [
            path(
                "<path:object_id>/announce/<str:action>/",
                self.admin_site.admin_view(self.object_action),
                name="realtime_announcements_announcement_action",
            ),
            *super().get_urls(),
        ]

    def object_action(self, request: HttpRequest, object_id: str, action: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if action not in OBJECT_ACTIONS and action != "test":
            raise Http404("No such announcement action.")
        if not (self.has_view_or_change_permission(request) and self.has_send_permission(request)):
            raise PermissionDenied
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            return self._get_obj_does_not_exist_redirect(  # type: ignore[attr-defined]  # Django's, unstubbed
                request, self.opts, object_id
            )
        if action == "test":
            send_test(obj, request.user)
            self.message_user(
                request,
                gettext("Sent a test of “{}” to your own open pages only.").format(obj),
                messages.SUCCESS,
            )
        else:
            function, _label, done, _states = OBJECT_ACTIONS[action]
            self._apply(request, obj, function, done)
        return HttpResponseRedirect(self._change_url(obj))

    def _apply(self, request: HttpRequest, obj: Announcement, function: Any, done: Any) -> bool:
        try:
            function(obj, by=request.user)
        except AnnouncementError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return False
        self.message_user(request, str(done).format(obj), messages.SUCCESS)
        return True

    def _change_url(self, obj: Announcement) -> str:
        return reverse(
            "admin:realtime_announcements_announcement_change",
            args=[obj.pk],
            current_app=self.admin_site.name,
        )

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Announcement | None = None,
    ) -> Any:
        can_send = self.has_send_permission(request)
        context.update(
            {
                "can_send": can_send,
                "preview": preview(obj),
                "object_actions": [
                    (name, spec[1])
                    for name, spec in OBJECT_ACTIONS.items()
                    if obj is not None and obj.state in spec[3]
                ]
                if can_send
                else [],
                "stats": compute(obj.pk) if obj is not None and can_send else None,
                "show_send_buttons": can_send and (obj is None or obj.state == State.DRAFT),
            }
        )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        run_due()  # the states listed are the server's now, even if no scheduler has run yet
        return super().changelist_view(request, extra_context)

    # -- list actions -----------------------------------------------------------------------------
    def _bulk(self, request: HttpRequest, queryset: QuerySet[Announcement], function: Any, done: Any) -> None:
        count, refused = 0, []
        for obj in queryset:
            try:
                function(obj, by=request.user)
                count += 1
            except AnnouncementError as exc:
                refused.append(str(exc))
        if count:
            self.message_user(request, str(done) % {"count": count}, messages.SUCCESS)
        if refused:
            more = gettext(" (and %(count)d more)") % {"count": len(refused) - 3} if len(refused) > 3 else ""
            self.message_user(request, " ".join(refused[:3]) + more, messages.WARNING)

    @admin.action(description=_("Send now"), permissions=["send"])
    def send_selected(self, request: HttpRequest, queryset: QuerySet[Announcement]) -> None:
        self._bulk(request, queryset, send_now, _("Sent %(count)d announcement(s)."))

    @admin.action(description=_("End now"), permissions=["send"])
    def end_selected(self, request: HttpRequest, queryset: QuerySet[Announcement]) -> None:
        self._bulk(request, queryset, end, _("Ended %(count)d announcement(s)."))

    @admin.action(description=_("Cancel"), permissions=["send"])
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[Announcement]) -> None:
        self._bulk(request, queryset, cancel, _("Cancelled %(count)d announcement(s)."))

    @admin.action(description=_("Resend"), permissions=["send"])
    def resend_selected(self, request: HttpRequest, queryset: QuerySet[Announcement]) -> None:
        self._bulk(request, queryset, resend, _("Resent %(count)d announcement(s)."))
