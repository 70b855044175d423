"""The announcement admin through Django's test client: compose and send, schedule, end, cancel,
resend, test, the list's filters and actions, the permission on every path, and the admin history."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

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


# -- races with the scheduler (issue 19) ----------------------------------------------------------
def when(moment) -> dict:
    local = timezone.localtime(moment)
    return {"starts_at_0": local.strftime("%Y-%m-%d"), "starts_at_1": local.strftime("%H:%M:%S")}


def test_a_save_never_undoes_the_schedulers_start(db, sender, client, monkeypatch):
    """The scheduler puts the announcement live between the admin reading the row and saving it: the
    save neither moves it back to scheduled (which would send round 1 twice) nor edits the live text,
    and the editor is told."""
    from realtime.announcements.admin import AnnouncementAdmin
    from realtime.announcements.lifecycle import start_due

    notice = announce("Soon", starts_in=timedelta(hours=1))
    starts = notice.starts_at.replace(microsecond=0)
    Announcement.objects.filter(pk=notice.pk).update(starts_at=starts)
    real = AnnouncementAdmin.save_model

    def racing(self, request, obj, form, change):
        assert start_due(obj.pk, starts)  # a moment before the save
        real(self, request, obj, form, change)

    monkeypatch.setattr(AnnouncementAdmin, "save_model", racing)
    response = client.post(change_url(notice.pk), form(title="Edited", **when(starts)))
    notice.refresh_from_db()
    assert (notice.state, notice.round, notice.title) == (State.LIVE, 1, "Soon")
    assert response.status_code == 302 and response.url == change_url(notice.pk)
    said = messages_of(response)
    assert len(said) == 1 and "became Live while you were editing it" in said[0] and "not saved" in said[0]
    assert "Edited" not in history(notice)


def test_a_save_writes_only_what_its_form_changed(db, sender, client, monkeypatch):
    """A field the form did not change keeps the value another writer gave it meanwhile."""
    from realtime.announcements.admin import AnnouncementAdmin

    notice = announce("Draft", draft=True)
    real = AnnouncementAdmin.save_model

    def racing(self, request, obj, form, change):
        Announcement.objects.filter(pk=obj.pk).update(body="Set by a colleague")
        real(self, request, obj, form, change)

    monkeypatch.setattr(AnnouncementAdmin, "save_model", racing)
    client.post(change_url(notice.pk), form(title="Edited", body=""))
    notice.refresh_from_db()
    assert (notice.title, notice.body, notice.state) == ("Edited", "Set by a colleague", State.DRAFT)


def test_the_delivery_panel_pill_is_the_announcements_state(db, sender, client):
    """A scheduled announcement's panel shows a 'Scheduled' pill, not a green 'live' one; only a live
    announcement's pill is the live one (admin.css colours it by data-rt-stats-state)."""
    scheduled = announce("Later", starts_in=timedelta(hours=1))
    page = client.get(change_url(scheduled.pk)).content.decode()
    assert 'data-rt-stats-state="scheduled" data-stat="state_label">Scheduled</span>' in page
    assert ">live</span>" not in page and 'data-rt-stats-state="live"' not in page
    live = announce("Now")
    page = client.get(change_url(live.pk)).content.decode()
    assert 'data-rt-stats-state="live" data-stat="state_label">Live</span>' in page
    css = (
        Path(__file__).resolve().parent.parent
        / "realtime/announcements/static/realtime/announcements/admin.css"
    ).read_text()
    green = re.findall(r'\.rt-admin-stats__state\[data-rt-stats-state="(\w+)"\] \{ background: #2e7d32', css)
    assert green == ["live"]


def test_a_save_of_an_announcement_deleted_meanwhile_says_so(db, sender, client, monkeypatch):
    from realtime.announcements.admin import AnnouncementAdmin

    notice = announce("Draft", draft=True)
    real = AnnouncementAdmin.save_model

    def racing(self, request, obj, form, change):
        Announcement.objects.filter(pk=obj.pk).delete()  # a colleague deletes it a moment before
        real(self, request, obj, form, change)

    monkeypatch.setattr(AnnouncementAdmin, "save_model", racing)
    response = client.post(change_url(notice.pk), form(title="Edited"))
    assert not Announcement.objects.filter(pk=notice.pk).exists()  # not brought back by the save
    assert any("was deleted while you were editing it" in text for text in messages_of(response))
