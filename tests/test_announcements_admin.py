"""The announcement admin through Django's test client: compose and send, schedule, end, cancel,
resend, test, the list's filters and actions, the permission on every path, and the admin history."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from realtime.announcements import announce
from realtime.announcements.models import Announcement, State
from realtime.models import Event

ADD = reverse("admin:realtime_announcements_announcement_add")
LIST = reverse("admin:realtime_announcements_announcement_changelist")


def change_url(pk: int) -> str:
    return reverse("admin:realtime_announcements_announcement_change", args=[pk])


def action_url(pk: int, action: str) -> str:
    return reverse("admin:realtime_announcements_announcement_action", args=[pk, action])


def grant(user, *codenames: str) -> None:
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="realtime_announcements", codename__in=codenames)
    )


@pytest.fixture
def sender(make_user, client):
    user = make_user("boss", is_staff=True)
    grant(
        user,
        "add_announcement",
        "change_announcement",
        "view_announcement",
        "delete_announcement",
        "send_announcement",
    )
    client.force_login(user)
    return user


@pytest.fixture
def drafter(make_user, client):
    """Staff who may write drafts but not send anything."""
    user = make_user("writer", is_staff=True)
    grant(user, "add_announcement", "change_announcement", "view_announcement")
    client.force_login(user)
    return user


def form(**changes) -> dict:
    data = {
        "title": "Maintenance",
        "body": "Back at 22:00",
        "link": "",
        "level": "warning",
        "dismissible": "",
        "audience": "everyone",
        "starts_at_0": "",
        "starts_at_1": "",
        "ends_at_0": "",
        "ends_at_1": "",
    }
    data.update(changes)
    return data


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def history(obj) -> list[str]:
    return list(
        LogEntry.objects.filter(object_id=str(obj.pk)).order_by("pk").values_list("change_message", flat=True)
    )


def test_compose_page_has_a_preview_and_the_send_buttons(db, sender, client):
    page = client.get(ADD).content.decode()
    assert "data-rt-announcement-preview" in page and "Your announcement" in page
    assert 'name="_send_now"' in page and 'name="_schedule"' in page
    assert "realtime/announcements/admin.js" in page and "realtime/realtime.js" in page


def test_save_and_send_now_sends_logs_and_reports(db, sender, client):
    response = client.post(ADD, form(_send_now="1"))
    notice = Announcement.objects.get()
    assert response.status_code == 302 and response.url == change_url(notice.pk)
    assert (notice.state, notice.round, notice.created_by) == (State.LIVE, 1, sender)
    assert Event.objects.filter(topic="announcements.all", name="announcement").count() == 1
    assert messages_of(response) == ["Saved and sent “Maintenance”: it is live now."]
    assert history(notice)[-1] == "Sent now."


def test_save_and_schedule_needs_a_future_start(db, sender, client):
    response = client.post(ADD, form(_schedule="1"))
    notice = Announcement.objects.get()
    assert notice.state == State.DRAFT
    assert messages_of(response) == ["Set a start time in the future to schedule it (or send it now)."]
    start = timezone.localtime() + timedelta(hours=1)
    client.post(
        change_url(notice.pk),
        form(_schedule="1", starts_at_0=start.strftime("%Y-%m-%d"), starts_at_1=start.strftime("%H:%M:%S")),
    )
    notice.refresh_from_db()
    assert notice.state == State.SCHEDULED and history(notice)[-1].startswith("Scheduled for")


def test_the_form_checks_the_audiences_choices(db, sender, client):
    response = client.post(ADD, form(audience="groups", _send_now="1"))
    assert response.status_code == 200 and "Choose at least one group." in response.content.decode()
    assert not Announcement.objects.exists()


@pytest.mark.parametrize(
    "action, start, expected, log",
    [
        ("end", State.LIVE, State.ENDED, "Ended."),
        ("cancel", State.LIVE, State.CANCELLED, "Cancelled."),
        ("cancel", State.SCHEDULED, State.CANCELLED, "Cancelled."),
        ("resend", State.ENDED, State.LIVE, "Resent (round 2)."),
        ("send", State.SCHEDULED, State.LIVE, "Sent now."),
    ],
)
def test_each_object_action_changes_state_logs_and_reports(db, sender, client, action, start, expected, log):
    notice = announce("Hi", starts_in=timedelta(hours=1) if start == State.SCHEDULED else None)
    if start == State.ENDED:
        client.post(action_url(notice.pk, "end"))
    response = client.post(action_url(notice.pk, action))
    notice.refresh_from_db()
    assert response.status_code == 302 and notice.state == expected
    assert history(notice)[-1] == log
    assert messages_of(response)[-1].split(" ")[0] in {"Ended", "Cancelled", "Resent", "Sent"}


def test_an_action_that_does_not_apply_says_why(db, sender, client):
    notice = announce("Hi", draft=True)
    response = client.post(action_url(notice.pk, "end"))
    assert messages_of(response) == ["'Hi' is not live; only live announcements can be ended."]
    assert client.get(action_url(notice.pk, "end")).status_code == 405
    assert client.post(action_url(notice.pk, "explode")).status_code == 404


def test_send_a_test_to_me_goes_to_my_topic_only(db, sender, client):
    notice = announce("Hi", draft=True)
    response = client.post(action_url(notice.pk, "test"))
    assert messages_of(response) == ["Sent a test of “Hi” to your own open pages only."]
    event = Event.objects.get(name="announcement")
    assert event.topic == f"announcements.user-{sender.pk}" and event.data["test"] is True
    notice.refresh_from_db()
    assert notice.state == State.DRAFT and history(notice) == ["Sent a test to themselves."]


def test_list_filters_by_state_and_level_and_bulk_actions(db, sender, client):
    live = announce("live one", level="critical")
    announce("draft one", draft=True)
    page = client.get(LIST, {"state__exact": "live", "level__exact": "critical"}).content.decode()
    assert "live one" in page and "draft one" not in page
    response = client.post(LIST, {"action": "end_selected", "_selected_action": [live.pk]})
    live.refresh_from_db()
    assert live.state == State.ENDED and messages_of(response) == ["Ended 1 announcement(s)."]
    assert history(live) == ["Ended."]


def test_a_live_announcement_is_read_only_but_for_its_end(db, sender, client):
    notice = announce("Live", ends_in=timedelta(hours=1))
    later = timezone.localtime() + timedelta(hours=3)
    client.post(
        change_url(notice.pk),
        form(title="Changed", ends_at_0=later.strftime("%Y-%m-%d"), ends_at_1=later.strftime("%H:%M:%S")),
    )
    notice.refresh_from_db()
    assert notice.title == "Live" and abs(notice.ends_at - later) < timedelta(seconds=1)


def test_the_change_page_shows_the_live_panel_to_senders(db, sender, client):
    notice = announce("Hi")
    page = client.get(change_url(notice.pk)).content.decode()
    assert f'data-topic="announcement_stats.{notice.pk}"' in page
    assert 'data-rt-action="end"' in page and 'data-rt-action="test"' in page


# -- permissions on every path --------------------------------------------------------------------
def test_without_the_send_permission_nothing_reaches_anyone(db, drafter, client):
    response = client.post(ADD, form(_send_now="1"))
    assert response.status_code == 403
    notice = announce("Hi", draft=True)
    page = client.get(change_url(notice.pk)).content.decode()
    assert (
        "_send_now" not in page and "data-rt-announcement-stats" not in page and "data-rt-action" not in page
    )
    for action in ("send", "end", "cancel", "resend", "test"):
        assert client.post(action_url(notice.pk, action)).status_code == 403
    live = announce("Live")
    # The list offers no sending action, and posting one anyway does nothing.
    assert "end_selected" not in client.get(LIST).content.decode()
    client.post(LIST, {"action": "end_selected", "_selected_action": [live.pk]})
    live.refresh_from_db()
    assert live.state == State.LIVE
    # A live announcement is not theirs to edit.
    client.post(change_url(live.pk), form(title="Hijacked"))
    live.refresh_from_db()
    assert live.title == "Live"
    notice.refresh_from_db()
    assert notice.state == State.DRAFT
    assert Event.objects.filter(name="announcement", data__id=notice.pk).count() == 0


def test_deleting_a_live_or_scheduled_announcement_needs_the_send_permission(db, drafter, client):
    grant(drafter, "delete_announcement")
    live = announce("Live")
    later = announce("Later", starts_in=timedelta(hours=1))
    draft = announce("Draft", draft=True)
    for obj in (live, later):
        assert (
            client.post(
                reverse("admin:realtime_announcements_announcement_delete", args=[obj.pk]), {"post": "yes"}
            ).status_code
            == 403
        )
    assert "delete_selected" not in client.get(LIST).content.decode()
    client.post(LIST, {"action": "delete_selected", "_selected_action": [live.pk, later.pk], "post": "yes"})
    assert Announcement.objects.filter(pk__in=[live.pk, later.pk]).count() == 2
    client.post(reverse("admin:realtime_announcements_announcement_delete", args=[draft.pk]), {"post": "yes"})
    assert not Announcement.objects.filter(pk=draft.pk).exists()


def test_anonymous_and_non_staff_are_sent_to_the_login(db, make_user, client):
    notice = announce("Hi", draft=True)
    assert client.post(action_url(notice.pk, "send")).status_code == 302
    client.force_login(make_user("alice"))
    assert client.post(action_url(notice.pk, "send")).status_code == 302
    notice.refresh_from_db()
    assert notice.state == State.DRAFT
