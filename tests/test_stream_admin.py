"""The admin's moderation actions reach open sockets: hiding, deleting and restoring comments, closing
and opening comments, ending a stream, and banning through the StreamRestriction admin."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import path, reverse

from realtime.models import Event
from realtime.streams.models import Comment, Stream, StreamRestriction
from realtime.testing import RealtimeClient, events
from tests.streamkit import post

# The admin alone, so these tests do not depend on the example project's URLs.
urlpatterns = [path("admin/", admin.site.urls)]

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.urls(__name__)]


# -- helpers --------------------------------------------------------------------------------------
@pytest.fixture
def admin_client_(db) -> Client:
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.force_login(user)
    client.user = user
    return client


async def run_action(http: Client, model: str, action: str, pks: list[int]) -> list[str]:
    """POST an admin changelist action; return the messages shown on the page it redirects to."""
    url = reverse(f"admin:realtime_streams_{model}_changelist")
    response = await sync_to_async(http.post)(url, {"action": action, "_selected_action": pks}, follow=True)
    assert response.status_code == 200
    return [str(message) for message in response.context["messages"]]


# -- pages ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name",
    [
        "realtime_streams_stream_changelist",
        "realtime_streams_stream_add",
        "realtime_streams_comment_changelist",
        "realtime_streams_streamrestriction_changelist",
        "realtime_streams_streamrestriction_add",
        "realtime_event_changelist",
        "realtime_streams_reactiontotal_changelist",
    ],
)
def test_admin_pages_render(admin_client_, stream, alice, name):
    Comment.objects.create(stream=stream, seq=1, author=alice, client_id="x", text="<b>hi</b>")
    response = admin_client_.get(reverse(f"admin:{name}"))
    assert response.status_code == 200


def test_change_pages_render_and_comment_text_is_escaped(admin_client_, stream, alice):
    comment = Comment.objects.create(stream=stream, seq=1, author=alice, client_id="x", text="<b>bold</b>")
    assert (
        admin_client_.get(reverse("admin:realtime_streams_stream_change", args=[stream.pk])).status_code
        == 200
    )
    response = admin_client_.get(reverse("admin:realtime_streams_comment_change", args=[comment.pk]))
    assert response.status_code == 200
    page = admin_client_.get(reverse("admin:realtime_streams_comment_changelist")).content.decode()
    assert "&lt;b&gt;bold&lt;/b&gt;" in page and "<b>bold</b>" not in page


def test_events_are_read_only_in_the_admin(admin_client_):
    assert admin_client_.get(reverse("admin:realtime_event_add")).status_code == 403


# -- comment actions ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "action, state, verb",
    [
        ("hide", Comment.State.HIDDEN, "Hid"),
        ("delete_for_viewers", Comment.State.DELETED, "Deleted"),
    ],
)
async def test_hiding_or_deleting_comments_in_the_admin_updates_open_overlays(
    admin_client_, stream, alice, action, state, verb
):
    async with RealtimeClient(user=alice) as viewer:
        await viewer.subscribe(stream.topic)
        keep, gone = await post(viewer, stream, "keep"), await post(viewer, stream, "gone")
        await viewer.collect()
        pk = (await Comment.objects.aget(seq=gone["id"])).pk
        shown = await run_action(admin_client_, "comment", action, [pk])
        assert shown == [f"{verb} 1 comment(s); open overlays updated."]
        assert [e["data"] for e in events(await viewer.collect(), "comment.deleted")] == [
            {"comment": gone["id"]}
        ]
    assert (await Comment.objects.aget(pk=pk)).state == state
    async with RealtimeClient() as fresh:
        await fresh.subscribe(stream.topic)
        assert [e["id"] for e in events(await fresh.collect(), "comment")] == [keep["id"]]


async def test_restoring_comments_in_the_admin_brings_them_back(admin_client_, stream, alice):
    async with RealtimeClient(user=alice) as viewer:
        await viewer.subscribe(stream.topic)
        target = await post(viewer, stream, "back soon")
        pk = (await Comment.objects.aget(seq=target["id"])).pk
        await run_action(admin_client_, "comment", "hide", [pk])
        await viewer.collect()
        shown = await run_action(admin_client_, "comment", "restore", [pk])
        assert shown == ["Restored 1 comment(s); open overlays updated."]
        assert [e["data"]["id"] for e in events(await viewer.collect(), "comment.restored")] == [target["id"]]
    async with RealtimeClient() as fresh:
        await fresh.subscribe(stream.topic)
        assert [e["id"] for e in events(await fresh.collect(), "comment")] == [target["id"]]


async def test_the_admin_message_counts_only_comments_that_changed(admin_client_, stream, alice):
    async with RealtimeClient(user=alice) as viewer:
        await viewer.subscribe(stream.topic)
        first, second = await post(viewer, stream, "one"), await post(viewer, stream, "two")
        pks = [c.pk async for c in Comment.objects.order_by("seq")]
        await run_action(admin_client_, "comment", "hide", pks[:1])
        await viewer.collect()
        shown = await run_action(admin_client_, "comment", "hide", pks)
        assert shown == ["Hid 1 comment(s); open overlays updated."]
        assert [e["data"]["comment"] for e in events(await viewer.collect(), "comment.deleted")] == [
            second["id"]
        ]
    assert first["id"] < second["id"]


async def test_staff_with_view_permission_only_cannot_run_moderation_actions(stream, alice, make_user):
    @sync_to_async
    def viewer_only_client() -> Client:
        staff = make_user("viewer", is_staff=True)
        staff.user_permissions.add(*Permission.objects.filter(codename__in=["view_comment", "view_stream"]))
        http = Client()
        http.force_login(staff)
        return http

    http = await viewer_only_client()
    async with RealtimeClient(user=alice) as viewer:
        await viewer.subscribe(stream.topic)
        target = await post(viewer, stream, "stays")
        pk = (await Comment.objects.aget(seq=target["id"])).pk
        await sync_to_async(http.post)(
            reverse("admin:realtime_streams_comment_changelist"), {"action": "hide", "_selected_action": [pk]}
        )
        await sync_to_async(http.post)(
            reverse("admin:realtime_streams_stream_changelist"),
            {"action": "close_comments", "_selected_action": [stream.pk]},
        )
        assert events(await viewer.collect(), "comment.deleted") == []
    assert (await Comment.objects.aget(pk=pk)).state == Comment.State.VISIBLE
    assert (await Stream.objects.aget(pk=stream.pk)).comments_open is True


# -- stream actions -------------------------------------------------------------------------------
async def test_closing_and_opening_comments_in_the_admin_tells_viewers_at_once(admin_client_, stream, alice):
    async with RealtimeClient(user=alice) as viewer:
        await viewer.subscribe(stream.topic)
        shown = await run_action(admin_client_, "stream", "close_comments", [stream.pk])
        assert shown == ["Closed comments on 1 stream(s); viewers were told at once."]
        updates = events(await viewer.collect(), "stream.updated")
        assert [u["data"]["comments_open"] for u in updates] == [False]
        assert (await post(viewer, stream, "hello?"))["code"] == "comments_closed"
        shown = await run_action(admin_client_, "stream", "open_comments", [stream.pk])
        assert shown == ["Opened comments on 1 stream(s); viewers were told at once."]
        assert [u["data"]["comments_open"] for u in events(await viewer.collect(), "stream.updated")] == [
            True
        ]
        assert (await post(viewer, stream, "hello!"))["type"] == "ack"


async def test_ending_streams_in_the_admin_tells_viewers_of_each(admin_client_, stream, owner, alice):
    other = await Stream.objects.acreate(title="Other", slug="other", owner=owner)
    async with RealtimeClient(user=alice) as viewer:
        await viewer.subscribe(stream.topic)
        await viewer.subscribe(other.topic)
        shown = await run_action(admin_client_, "stream", "end_streams", [stream.pk, other.pk])
        assert shown == ["Ended 2 stream(s); viewers were told at once."]
        updates = events(await viewer.collect(), "stream.updated")
        assert sorted((u["topic"], u["data"]["live"]) for u in updates) == sorted(
            [(stream.topic, False), (other.topic, False)]
        )
        assert (await post(viewer, stream, "bye"))["code"] == "stream_ended"
    assert await Event.objects.filter(name="stream.updated").acount() == 2


# -- restrictions ---------------------------------------------------------------------------------
def restriction_form(stream: Stream, user, kind: str, reason: str = "") -> dict:
    return {
        "stream": stream.pk,
        "user": user.pk,
        "kind": kind,
        "until_0": "",
        "until_1": "",
        "reason": reason,
    }


async def test_adding_a_ban_in_the_admin_kicks_the_user_live(admin_client_, stream, alice, bob):
    async with RealtimeClient(user=bob) as banned, RealtimeClient(user=alice) as bystander:
        await banned.subscribe(stream.topic)
        await bystander.subscribe(stream.topic)
        response = await sync_to_async(admin_client_.post)(
            reverse("admin:realtime_streams_streamrestriction_add"),
            restriction_form(stream, bob, "ban", "spam"),
        )
        assert response.status_code == 302, response.content.decode()[:2000]
        kicked = [m for m in await banned.collect() if m["type"] == "kicked"]
        assert [(k["topic"], k["code"]) for k in kicked] == [(stream.topic, "banned")]
        assert "spam" in kicked[0]["message"]
        assert [m for m in await bystander.collect() if m["type"] == "kicked"] == []
        assert (await banned.subscribe(stream.topic))["code"] == "banned"
    restriction = await StreamRestriction.objects.aget(user=bob)
    assert (restriction.kind, restriction.created_by_id) == ("ban", admin_client_.user.pk)


async def test_adding_a_mute_in_the_admin_does_not_kick(admin_client_, stream, bob):
    async with RealtimeClient(user=bob) as muted:
        await muted.subscribe(stream.topic)
        response = await sync_to_async(admin_client_.post)(
            reverse("admin:realtime_streams_streamrestriction_add"), restriction_form(stream, bob, "mute")
        )
        assert response.status_code == 302
        assert [m for m in await muted.collect() if m["type"] == "kicked"] == []
        assert (await post(muted, stream, "hello"))["code"] == "muted"


async def test_turning_a_mute_into_a_ban_in_the_admin_kicks(admin_client_, stream, bob):
    restriction = await StreamRestriction.objects.acreate(stream=stream, user=bob, kind="mute")
    async with RealtimeClient(user=bob) as client:
        await client.subscribe(stream.topic)
        response = await sync_to_async(admin_client_.post)(
            reverse("admin:realtime_streams_streamrestriction_change", args=[restriction.pk]),
            restriction_form(stream, bob, "ban"),
        )
        assert response.status_code == 302
        assert [m["code"] for m in await client.collect() if m["type"] == "kicked"] == ["banned"]


# -- edits outside the actions --------------------------------------------------------------------
async def test_the_action_message_counts_streams_even_when_the_changelist_is_filtered(admin_client_, stream):
    """Closing comments on a list filtered to open streams: the streams leave the filter, the
    message must still count them."""
    url = reverse("admin:realtime_streams_stream_changelist") + "?comments_open__exact=1"
    response = await sync_to_async(admin_client_.post)(
        url, {"action": "close_comments", "_selected_action": [stream.pk]}, follow=True
    )
    assert [str(m) for m in response.context["messages"]] == [
        "Closed comments on 1 stream(s); viewers were told at once."
    ]


async def test_editing_stream_settings_in_the_change_form_tells_viewers(admin_client_, stream, alice):
    url = reverse("admin:realtime_streams_stream_change", args=[stream.pk])
    form = {
        "title": stream.title,
        "slug": stream.slug,
        "owner": stream.owner_id,
        "description": "",
        "video_url": "",
        "status": "live",
        "allow_anonymous": "on",
        "slow_mode_seconds": 15,
        "blocked_terms": "",
        "created_at_0": "2026-01-01",
        "created_at_1": "00:00:00",
    }
    async with RealtimeClient(user=alice) as viewer:
        await viewer.subscribe(stream.topic)
        response = await sync_to_async(admin_client_.post)(url, form)  # comments_open unticked
        assert response.status_code == 302, response.content.decode()[:3000]
        updates = events(await viewer.collect(), "stream.updated")
        assert [u["data"] for u in updates] == [
            {"comments_open": False, "slow_mode_seconds": 15, "live": True}
        ]
        assert (await post(viewer, stream, "hello?"))["code"] == "comments_closed"
        response = await sync_to_async(admin_client_.post)(
            url, {**form, "comments_open": "on", "title": "Renamed"}
        )
        assert response.status_code == 302
        assert [u["data"]["comments_open"] for u in events(await viewer.collect(), "stream.updated")] == [
            True
        ]
        await sync_to_async(admin_client_.post)(url, {**form, "comments_open": "on", "title": "Again"})
        assert events(await viewer.collect(), "stream.updated") == []  # nothing viewers see changed


async def test_changing_a_comments_state_in_its_change_form_updates_overlays_and_history(
    admin_client_, stream, alice
):
    async with RealtimeClient(user=alice) as viewer:
        await viewer.subscribe(stream.topic)
        target = await post(viewer, stream, "judge me")
        comment = await Comment.objects.aget(seq=target["id"])
        url = reverse("admin:realtime_streams_comment_change", args=[comment.pk])
        response = await sync_to_async(admin_client_.post)(url, {"state": "hidden"})
        assert response.status_code == 302, response.content.decode()[:3000]
        assert [e["data"] for e in events(await viewer.collect(), "comment.deleted")] == [
            {"comment": target["id"]}
        ]
        assert await Event.objects.filter(seq=target["id"], topic=stream.topic, withdrawn=True).aexists()
        await sync_to_async(admin_client_.post)(url, {"state": "visible"})
        assert [e["data"]["id"] for e in events(await viewer.collect(), "comment.restored")] == [target["id"]]


async def test_comment_text_cannot_be_rewritten_in_the_admin(admin_client_, stream, alice):
    """The text is what viewers saw (and what history replays); moderators hide or delete it."""
    comment = await Comment.objects.acreate(
        stream=stream, seq=1, author=alice, client_id="x", text="original"
    )
    url = reverse("admin:realtime_streams_comment_change", args=[comment.pk])
    response = await sync_to_async(admin_client_.post)(
        url, {"state": "visible", "text": "rewritten", "color": "#ff5555", "mode": "top", "media_time": "3"}
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    await comment.arefresh_from_db()
    assert (comment.text, comment.color) == ("original", "")


def test_comments_cannot_be_added_in_the_admin(admin_client_):
    """Comments come from viewers with a per-stream id; an admin-made row would have neither."""
    assert admin_client_.get(reverse("admin:realtime_streams_comment_add")).status_code == 403


@pytest.mark.parametrize("how", ["delete_selected", "delete_view"])
async def test_deleting_comments_in_the_admin_removes_them_live_and_from_history(
    admin_client_, stream, alice, how
):
    async with RealtimeClient(user=alice) as viewer:
        await viewer.subscribe(stream.topic)
        keep, gone = await post(viewer, stream, "keep"), await post(viewer, stream, "gone")
        await viewer.collect()
        pk = (await Comment.objects.aget(seq=gone["id"])).pk
        if how == "delete_selected":
            response = await sync_to_async(admin_client_.post)(
                reverse("admin:realtime_streams_comment_changelist"),
                {"action": "delete_selected", "_selected_action": [pk], "post": "yes"},
            )
        else:
            response = await sync_to_async(admin_client_.post)(
                reverse("admin:realtime_streams_comment_delete", args=[pk]), {"post": "yes"}
            )
        assert response.status_code == 302
        assert not await Comment.objects.filter(pk=pk).aexists()
        assert [e["data"] for e in events(await viewer.collect(), "comment.deleted")] == [
            {"comment": gone["id"]}
        ]
    async with RealtimeClient() as fresh:
        await fresh.subscribe(stream.topic)
        assert [e["id"] for e in events(await fresh.collect(), "comment")] == [keep["id"]]


async def test_unticking_anonymous_viewers_in_the_change_form_kicks_anonymous_viewers(
    admin_client_, stream, alice
):
    url = reverse("admin:realtime_streams_stream_change", args=[stream.pk])
    form = {
        "title": stream.title,
        "slug": stream.slug,
        "owner": stream.owner_id,
        "description": "",
        "video_url": "",
        "status": "live",
        "comments_open": "on",
        "slow_mode_seconds": 0,
        "blocked_terms": "",
        "created_at_0": "2026-01-01",
        "created_at_1": "00:00:00",
    }
    async with RealtimeClient() as anonymous, RealtimeClient(user=alice) as member:
        await anonymous.subscribe(stream.topic)
        await member.subscribe(stream.topic)
        response = await sync_to_async(admin_client_.post)(url, form)  # allow_anonymous unticked
        assert response.status_code == 302, response.content.decode()[:3000]
        kicked = await anonymous.receive_type("kicked")
        assert (kicked["topic"], kicked["code"]) == (stream.topic, "auth_required")
        ack = await post(member, stream, "members only")
        assert [e["id"] for e in events(await member.collect(), "comment")] == [ack["id"]]
        assert events(await anonymous.collect(), "comment") == []


# -- the restriction admin's user field -----------------------------------------------------------
def restriction_admin_on(site: admin.AdminSite):
    from realtime.streams.admin import StreamRestrictionAdmin

    site.register(StreamRestriction, StreamRestrictionAdmin)
    return site._registry[StreamRestriction]


@pytest.mark.parametrize("user_admin", ["missing", "without search_fields", "searchable"])
def test_the_user_field_uses_autocomplete_only_when_the_user_admin_can_search(admin_client_, user_admin):
    """autocomplete_fields needs a registered user admin with search_fields (admin.E039/E040): a
    project without one must still pass `manage.py check`, with a raw id field instead."""
    from django.contrib.admin.widgets import AutocompleteSelect, ForeignKeyRawIdWidget
    from django.contrib.auth.admin import UserAdmin
    from django.test import RequestFactory

    site = admin.AdminSite(name=f"custom-{user_admin.replace(' ', '-')}")
    if user_admin == "without search_fields":
        site.register(get_user_model(), type("PlainUserAdmin", (admin.ModelAdmin,), {}))
    elif user_admin == "searchable":
        site.register(get_user_model(), UserAdmin)
    model_admin = restriction_admin_on(site)
    assert model_admin.check() == []
    assert [e.id for e in site.check(None)] == []
    request = RequestFactory().get("/")
    request.user = admin_client_.user
    widget = model_admin.get_form(request)().fields["user"].widget
    widget = getattr(widget, "widget", widget)  # unwrap the add/change links
    if user_admin == "searchable":
        assert (model_admin.autocomplete_fields, model_admin.raw_id_fields) == (["user"], [])
        assert isinstance(widget, AutocompleteSelect)
    else:
        assert (model_admin.autocomplete_fields, model_admin.raw_id_fields) == ([], ["user"])
        assert isinstance(widget, ForeignKeyRawIdWidget)


def test_the_default_site_uses_autocomplete_for_the_user(admin_client_):
    page = admin_client_.get(reverse("admin:realtime_streams_streamrestriction_add")).content.decode()
    assert "admin-autocomplete" in page
