"""Admin pages for streams, comments and restrictions, with moderation actions."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from . import moderation, restrictions
from .models import Comment, ReactionTotal, Stream, StreamRestriction


@admin.register(Stream)
class StreamAdmin(admin.ModelAdmin):
    list_display = [
        "title",
        "slug",
        "owner",
        "status",
        "comments_open",
        "slow_mode_seconds",
        "allow_anonymous",
    ]
    list_filter = ["status", "comments_open", "allow_anonymous"]
    search_fields = ["title", "slug"]
    prepopulated_fields = {"slug": ["title"]}
    filter_horizontal = ["moderators"]
    # A video URL typed without a scheme is https (Django 6's default; says so now, without a warning).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    actions = ["close_comments", "open_comments", "end_streams"]

    def save_model(self, request: HttpRequest, obj: Stream, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        # Edited in the form instead of through an action: viewers must still be told.
        announced = ["comments_open", "slow_mode_seconds", "status"]
        if change and set(announced) & set(form.changed_data):
            moderation.update_stream(obj, **{name: getattr(obj, name) for name in announced})

    def _update(self, request: HttpRequest, queryset: QuerySet[Stream], done: str, **changes: Any) -> None:
        for stream in queryset:
            moderation.update_stream(stream, **changes)
        self.message_user(request, done % {"count": queryset.count()}, messages.SUCCESS)

    @admin.action(description=_("Close comments"), permissions=["change"])
    def close_comments(self, request: HttpRequest, queryset: QuerySet[Stream]) -> None:
        self._update(
            request,
            queryset,
            gettext("Closed comments on %(count)d stream(s); viewers were told at once."),
            comments_open=False,
        )

    @admin.action(description=_("Open comments"), permissions=["change"])
    def open_comments(self, request: HttpRequest, queryset: QuerySet[Stream]) -> None:
        self._update(
            request,
            queryset,
            gettext("Opened comments on %(count)d stream(s); viewers were told at once."),
            comments_open=True,
        )

    @admin.action(description=_("End stream"), permissions=["change"])
    def end_streams(self, request: HttpRequest, queryset: QuerySet[Stream]) -> None:
        self._update(
            request,
            queryset,
            gettext("Ended %(count)d stream(s); viewers were told at once."),
            status=Stream.Status.ENDED,
        )


@admin.register(Comment)
class CommentAdmin(admin.ModelAdmin):
    list_display = ["seq", "stream", "author", "text", "state", "created_at"]
    list_filter = ["state", "stream"]
    search_fields = ["text", "author__username"]
    # What viewers saw is what history replays: moderators hide, delete or restore a comment, they do
    # not rewrite it. Only `state` is editable, and it goes through moderation like the actions.
    readonly_fields = [
        "stream",
        "seq",
        "author",
        "client_id",
        "text",
        "color",
        "mode",
        "media_time",
        "created_at",
    ]
    list_select_related = ["stream", "author"]
    actions = ["hide", "delete_for_viewers", "restore"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # comments come from viewers, with the stream's next id

    def save_model(self, request: HttpRequest, obj: Comment, form: Any, change: bool) -> None:
        moderation.set_comment_state(obj, obj.state)

    def _set_state(self, request: HttpRequest, queryset: QuerySet[Comment], state: str, done: str) -> None:
        changed = sum(1 for comment in queryset if moderation.set_comment_state(comment, state) is not None)
        self.message_user(request, done % {"count": changed}, messages.SUCCESS)

    @admin.action(description=_("Hide from viewers"), permissions=["change"])
    def hide(self, request: HttpRequest, queryset: QuerySet[Comment]) -> None:
        self._set_state(
            request,
            queryset,
            Comment.State.HIDDEN,
            gettext("Hid %(count)d comment(s); open overlays updated."),
        )

    @admin.action(description=_("Delete for viewers"), permissions=["change"])
    def delete_for_viewers(self, request: HttpRequest, queryset: QuerySet[Comment]) -> None:
        self._set_state(
            request,
            queryset,
            Comment.State.DELETED,
            gettext("Deleted %(count)d comment(s); open overlays updated."),
        )

    @admin.action(description=_("Restore"), permissions=["change"])
    def restore(self, request: HttpRequest, queryset: QuerySet[Comment]) -> None:
        self._set_state(
            request,
            queryset,
            Comment.State.VISIBLE,
            gettext("Restored %(count)d comment(s); open overlays updated."),
        )


@admin.register(StreamRestriction)
class StreamRestrictionAdmin(admin.ModelAdmin):
    list_display = ["user", "kind", "stream", "until", "reason", "created_by"]
    list_filter = ["kind"]
    readonly_fields = ["created_by", "created_at"]

    # A search box for the user when the project's user admin can answer it (autocomplete needs a
    # registered user admin with search_fields: admin.E039/E040); a raw id field otherwise.
    @property
    def autocomplete_fields(self) -> list[str]:  # type: ignore[override]
        return ["user"] if self._user_search() else []

    @property
    def raw_id_fields(self) -> list[str]:  # type: ignore[override]
        return [] if self._user_search() else ["user"]

    def _user_search(self) -> bool:
        user_admin = self.admin_site._registry.get(get_user_model())
        return bool(user_admin is not None and user_admin.search_fields)

    def save_model(self, request: HttpRequest, obj: StreamRestriction, form: Any, change: bool) -> None:
        if not change:
            obj.created_by_id = request.user.pk  # the admin's user is a signed-in staff member
        super().save_model(request, obj, form, change)
        if change and {"kind", "user", "stream"} & set(form.changed_data):
            # The row now says something else: what it said before is over, for the lists and the viewer.
            before = form.initial
            user = get_user_model()._default_manager.filter(pk=before.get("user")).first()
            stream = Stream.objects.filter(pk=before.get("stream")).first()
            if user is not None and stream is not None:
                restrictions.announce_lifted(stream, user, before.get("kind", ""), by=request.user)
        moderation.enforce(obj)  # a ban also ends the user's subscriptions on every process

    # Deleting a restriction is lifting it: the moderators' lists and the viewer's page must hear of it.
    def delete_model(self, request: HttpRequest, obj: StreamRestriction) -> None:
        moderation.lift(obj.stream, obj.user, obj.kind, by=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[StreamRestriction]) -> None:
        for restriction in queryset.select_related("stream", "user"):
            moderation.lift(restriction.stream, restriction.user, restriction.kind, by=request.user)


admin.site.register(ReactionTotal, list_display=["stream", "kind", "count"])
