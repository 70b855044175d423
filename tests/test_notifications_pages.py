"""Notifications on pages: the badge tag (count, plural sentence in English and Chinese, escaping,
unsafe links), the paginated list page (only the user's own), and the POST view (CSRF, error codes,
where it sends the browser back to)."""

from __future__ import annotations

import json
import re

import pytest
from django.template import Context, Template
from django.test import Client, RequestFactory
from django.utils import translation

from realtime.notifications import notify, unread_count
from realtime.notifications.models import Notification
from realtime.notifications.texts import SAMPLES, client_texts, unread_sentence

pytestmark = pytest.mark.django_db

XSS = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'


def badge(user, language: str = "en") -> str:
    request = RequestFactory().get("/")
    request.user = user
    with translation.override(language):
        return Template("{% load realtime_notifications %}{% notifications_badge %}").render(
            Context({"request": request})
        )


def config(html: str) -> dict:
    import html as entities

    return json.loads(entities.unescape(re.search(r'data-config="([^"]*)"', html).group(1)))


def test_the_badge_renders_the_count_the_sentence_and_the_newest(alice, bob):
    for n in range(3):
        notify(alice, f"n{n}")
    notify(bob, "not alice's")
    html = badge(alice)
    assert 'data-unread="3"' in html and ">3</span>" in html
    assert html.count("You have 3 new notifications") == 2  # the live region and the panel's summary
    assert 'role="status"' in html and 'aria-live="polite"' in html
    assert [int(i) for i in re.findall(r'data-rt-notification="(\d+)"', html)] == list(
        Notification.objects.filter(recipient=alice).order_by("-id").values_list("pk", flat=True)
    )
    assert "not alice" not in html
    cfg = config(html)
    assert cfg["topic"] == f"notify.{alice.pk}" and cfg["since"] == 3 and cfg["unread"] == 3


def test_the_badge_says_one_and_none_and_speaks_chinese(alice):
    assert "No new notifications" in badge(alice)
    notify(alice, "one")
    assert "You have 1 new notification<" in badge(alice)
    assert "你有 1 条新通知" in badge(alice, "zh-hans")
    assert "全部标为已读" in badge(alice, "zh-hans")


def test_the_client_gets_a_form_for_every_plural_sample():
    with translation.override("en"):
        texts = client_texts()
        assert texts["unread"]["1"] == "You have %(count)s new notification"
        assert texts["unread"]["5"] == "You have %(count)s new notifications"
        assert set(texts["unread"]) == {str(n) for n in SAMPLES}
        assert unread_sentence(0) == "No new notifications"
    with translation.override("zh-hans"):
        assert client_texts()["unread"]["2"] == "你有 %(count)s 条新通知"


def test_anonymous_visitors_get_no_badge(db):
    from django.contrib.auth.models import AnonymousUser

    assert badge(AnonymousUser()).strip() == ""


def test_titles_and_bodies_are_escaped_and_unsafe_links_are_not_links(alice):
    notify(alice, XSS, body=XSS)
    Notification.objects.create(recipient=alice, title="edited in the database", url="javascript:alert(1)")
    html = badge(alice)
    assert "<script>window" not in html and "<img src=x" not in html
    assert "&lt;script&gt;window.pwned=2&lt;/script&gt;" in html
    assert "javascript:" not in html


def test_the_list_page_is_paginated_and_shows_only_the_users_own(alice, bob):
    for n in range(25):
        notify(alice, f"alice {n}")
    notify(bob, "bob's secret")
    client = Client()
    client.force_login(alice)
    first = client.get("/realtime/notifications/").content.decode()
    page_ids = re.findall(r"data-rt-notify-page-list[^>]*>(.*?)</ul>", first, re.S)[0]
    assert len(re.findall(r'data-rt-notification="', page_ids)) == 20
    assert "alice 24" in page_ids and "alice 4<" not in page_ids and 'data-newest="true"' in first
    second = client.get("/realtime/notifications/?page=2").content.decode()
    listed = re.findall(r"data-rt-notify-page-list[^>]*>(.*?)</ul>", second, re.S)[0]
    assert len(re.findall(r'data-rt-notification="', listed)) == 5 and 'data-newest="false"' in second
    assert "Page 2 of 2" in second
    assert "bob" not in first + second


def test_the_list_page_needs_a_login(db):
    response = Client().get("/realtime/notifications/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_marking_read_by_post_needs_a_csrf_token(alice):
    notify(alice, "x")
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post("/realtime/notifications/read/", {"all": "1"}).status_code == 403
    page = client.get("/realtime/notifications/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = client.post("/realtime/notifications/read/", {"all": "1", "csrfmiddlewaretoken": token})
    assert response.status_code == 302 and response["Location"] == "/realtime/notifications/"
    assert unread_count(alice) == 0


def test_the_post_view_marks_ids_and_answers_with_stable_codes(alice, bob):
    mine = notify(alice, "mine")[0]
    theirs = notify(bob, "theirs")[0]
    client = Client()
    client.force_login(alice)
    json_accept = {"HTTP_ACCEPT": "application/json"}
    answer = client.post("/realtime/notifications/read/", {"ids": [mine.pk, theirs.pk]}, **json_accept)
    assert answer.json() == {"marked": 1, "unread": 0}
    assert unread_count(bob) == 1
    for bad in ({}, {"ids": "x"}, {"ids": "0"}, {"all": "yes"}):
        answer = client.post("/realtime/notifications/read/", bad, **json_accept)
        assert (answer.status_code, answer.json()["error"]) == (400, "bad_read")
    assert client.get("/realtime/notifications/read/").status_code == 405
    anonymous = Client().post("/realtime/notifications/read/", {"all": "1"}, **json_accept)
    assert (anonymous.status_code, anonymous.json()["error"]) == (401, "auth_required")


def test_the_post_view_sends_the_browser_back_only_to_this_site(alice):
    client = Client()
    client.force_login(alice)
    back = client.post(
        "/realtime/notifications/read/", {"all": "1", "next": "/realtime/notifications/?page=2"}
    )
    assert back["Location"] == "/realtime/notifications/?page=2"
    away = client.post("/realtime/notifications/read/", {"all": "1", "next": "https://evil.example/"})
    assert away["Location"] == "/realtime/notifications/"


def test_the_admin_lists_and_filters_notifications_and_cannot_add_one(alice, make_user):
    admin_user = make_user("root", is_staff=True, is_superuser=True)
    notify(alice, "unread one")
    read = notify(alice, "read one")[0]
    Notification.objects.filter(pk=read.pk).update(read_at=read.created)
    client = Client()
    client.force_login(admin_user)
    url = "/admin/realtime_notifications/notification/"
    assert "unread one" in client.get(url).content.decode()
    unread_only = client.get(url + "?read=no").content.decode()
    assert "unread one" in unread_only and ">read one<" not in unread_only
    assert "read one" in client.get(url + "?read=yes").content.decode()
    assert client.get(url + "add/").status_code == 403


def test_the_notify_command_notifies_users_by_name(alice, bob):
    from io import StringIO

    from django.core.management import CommandError, call_command

    out = StringIO()
    call_command(
        "notify", "alice", "bob", "--title", "Maintenance at 22:00", "--level", "warning", stdout=out
    )
    ids = [int(pk) for pk in out.getvalue().split()]
    assert sorted(Notification.objects.filter(pk__in=ids).values_list("recipient__username", flat=True)) == [
        "alice",
        "bob",
    ]
    with pytest.raises(CommandError, match="nobody"):
        call_command("notify", "alice", "nobody", "--title", "x")
    with pytest.raises(CommandError, match="url"):
        call_command("notify", "alice", "--title", "x", "--url", "javascript:alert(1)")
    assert unread_count(alice) == 1
