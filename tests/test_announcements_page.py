"""What a page renders at load ({% realtime_announcements %}) and the operator's command."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.management import CommandError, call_command
from django.template import Context, Template
from django.test import RequestFactory
from django.utils import timezone

from realtime.announcements import announce, end
from realtime.announcements.models import Announcement, Audience, Level, State
from realtime.announcements.receipts import Report, store_reports

TAG = Template("{% load realtime_announcements %}{% realtime_announcements %}")


def render(user) -> str:
    request = RequestFactory().get("/")
    request.user = user
    return TAG.render(Context({"request": request}))


def banner_ids(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'data-rt-announcement="(\d+)"', html)]


def config(html: str) -> dict:
    raw = re.search(r'data-rt-announcements data-config="([^"]*)"', html).group(1)  # not the badge's
    return json.loads(raw.replace("&quot;", '"'))


def test_the_page_shows_what_is_live_for_this_visitor_critical_first_then_newest(db, make_user):
    alice = make_user("alice")
    staff = make_user("sam", is_staff=True)
    first = announce("first")
    staff_only = announce("staff", audience=Audience.STAFF)
    critical = announce("critical", level=Level.CRITICAL)
    newest = announce("newest", audience=Audience.SIGNED_IN)
    end(announce("gone"))
    announce("later", starts_in=timedelta(hours=1))
    assert banner_ids(render(AnonymousUser())) == [critical.pk, first.pk]
    assert banner_ids(render(alice)) == [critical.pk, newest.pk, first.pk]
    assert banner_ids(render(staff)) == [critical.pk, newest.pk, staff_only.pk, first.pk]


def test_user_text_is_escaped_and_the_critical_banner_has_no_close_button(db):
    announce(
        "<script>x</script>",
        "<b>bold</b>\nnext line",
        level=Level.CRITICAL,
        link="https://example.com/?a=1&b=2",
    )
    html = render(AnonymousUser())
    assert "<script>x" not in html and "&lt;script&gt;x&lt;/script&gt;" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html
    assert 'href="https://example.com/?a=1&amp;b=2"' in html
    assert re.search(r"data-rt-announcement-dismiss[^>]*hidden", html)
    assert 'role="alert"' in html


def test_dismissed_ones_stay_dismissed_on_every_page_and_device(db, make_user):
    alice = make_user("alice")
    bob = make_user("bob")
    notice = announce("dismiss me")
    store_reports([Report(alice, "announcements.all", notice.pk, 1, "dismissed")])
    assert banner_ids(render(alice)) == []
    assert banner_ids(render(bob)) == [notice.pk]


def test_the_page_subscribes_from_the_ids_it_rendered(transactional_db, make_user):
    # transactional_db: a targeted round is stored once its claim commits (announcements.delivery)
    alice = make_user("alice")
    announce("one")
    announce("two", audience=Audience.USERS, users=[alice])
    assert config(render(AnonymousUser())) == {"topics": {"announcements.all": 1}, "user": None}
    assert config(render(alice)) == {
        "user": alice.pk,
        "topics": {"announcements.all": 1, "announcements.users": 0, f"announcements.user-{alice.pk}": 1},
    }


def test_a_page_uses_the_servers_clock_not_the_schedulers(db):
    notice = announce("short", ends_in=timedelta(minutes=1))
    Announcement.objects.filter(pk=notice.pk).update(ends_at=timezone.now() - timedelta(seconds=1))
    assert banner_ids(render(AnonymousUser())) == []


# -- manage.py announce -----------------------------------------------------------------------------
def test_announce_command_sends_with_level_audience_and_end(db, make_user, capsys):
    make_user("sam", is_staff=True)
    call_command("announce", "Back at 22:00", "--level", "warning", "--audience", "staff", "--ends-in", "30m")
    notice = Announcement.objects.get()
    assert (notice.title, notice.level, notice.audience, notice.state) == (
        "Back at 22:00",
        "warning",
        "staff",
        "live",
    )
    assert timedelta(minutes=29) < notice.ends_at - timezone.now() <= timedelta(minutes=30)
    assert f"Announcement {notice.pk} is live (audience: Staff)" in capsys.readouterr().out


def test_announce_command_schedules_and_names_bad_input(db, make_user):
    make_user("alice")
    call_command("announce", "Later", "--starts-in", "1h30m", "--audience", "users", "--user", "alice")
    assert Announcement.objects.get().state == State.SCHEDULED
    for args, message in [
        (["--ends-in", "soon"], "is not a duration"),
        (["--audience", "groups"], "groups: Choose at least one group."),
        (["--audience", "users", "--user", "nobody"], "No user 'nobody'"),
        (["--link", "ftp://x"], "link:"),
        (["--by", "ghost"], "No user 'ghost'"),
    ]:
        with pytest.raises(CommandError, match=message):
            call_command("announce", "x", *args)
