"""The example site's dashboard figures (project/dashboard.py): comments per minute, the chart's series,
receipts of the round now out, viewer counts from presence; the announcements listed, and the
signals (realtime.announcements) that re-render their rows when receipts or states move."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from project import dashboard
from realtime.announcements.models import Announcement, Receipt
from realtime.streams.models import Comment, Stream

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 4, 12, 30, 20, tzinfo=UTC)


def comment(stream: Stream, author, at: datetime) -> Comment:
    seq = Comment.objects.filter(stream=stream).count() + 1
    return Comment.objects.create(
        stream=stream, seq=seq, author=author, client_id=f"c{seq}", text="hi", created_at=at
    )


def test_comments_last_minute_counts_the_last_60_seconds_per_stream(stream, alice, owner):
    other = Stream.objects.create(title="Other", slug="other", owner=owner)
    comment(stream, alice, NOW - timedelta(seconds=5))
    comment(stream, alice, NOW - timedelta(seconds=59))
    comment(stream, alice, NOW - timedelta(seconds=61))  # too old
    comment(other, alice, NOW - timedelta(seconds=1))
    assert dashboard.comments_last_minute(NOW) == {stream.pk: 2, other.pk: 1}


def test_the_series_has_one_bucket_per_minute_oldest_first_with_empty_minutes(stream, alice):
    comment(stream, alice, NOW)  # the current minute, 12:30
    comment(stream, alice, NOW.replace(second=0))
    comment(stream, alice, NOW - timedelta(minutes=3))  # 12:27
    comment(stream, alice, NOW - timedelta(minutes=15))  # 12:15: outside the 15 minutes 12:16..12:30
    series = dashboard.comments_per_minute_series(NOW)
    assert len(series) == dashboard.MINUTES
    assert series[0]["minute"] == "12:16" and series[-1] == {"minute": "12:30", "count": 2}
    assert {"minute": "12:27", "count": 1} in series
    assert sum(point["count"] for point in series) == 3


def test_stats_per_stream_and_totals(stream, alice):
    comment(stream, alice, timezone.now())
    value = dashboard.stats(viewers={stream.pk: 4})
    assert value["streams"][str(stream.pk)] == {"viewers": 4, "cpm": 1}
    assert value["viewers"] == 4 and value["cpm"] == 1
    assert len(value["series"]) == dashboard.MINUTES and value["series"][-1]["count"] == 1


def test_viewer_counts_come_from_presence(monkeypatch, stream):
    asked = []

    def count(topic):
        asked.append(topic)
        return {"count": 2, "anonymous": 3}

    from realtime import presence

    monkeypatch.setattr(presence, "count", count)
    assert dashboard.viewer_counts([stream.pk]) == {stream.pk: 5}
    assert asked == [f"stream.{stream.pk}"]


def test_receipts_count_only_the_round_now_out(alice, bob):
    notice = Announcement.objects.create(title="Hello", round=2)
    quiet = Announcement.objects.create(title="Nobody yet", round=1)
    now = timezone.now()
    Receipt.objects.create(announcement=notice, user=alice, round=1, delivered_at=now, seen_at=now)
    Receipt.objects.create(announcement=notice, user=alice, round=2, delivered_at=now, seen_at=now)
    Receipt.objects.create(announcement=notice, user=bob, round=2, delivered_at=now, dismissed_at=now)
    counts = dashboard.receipt_counts([notice.pk, quiet.pk])
    assert counts[notice.pk] == {"delivered": 2, "seen": 1, "dismissed": 1}
    assert counts[quiet.pk] == {"delivered": 0, "seen": 0, "dismissed": 0}


def test_the_announcements_listed_are_the_newest_first(client, make_user):
    older = Announcement.objects.create(title="Older")
    newer = Announcement.objects.create(title="Newer")
    assert list(dashboard.recent_announcements()[:2]) == [newer, older]
    client.force_login(make_user("boss", is_staff=True))
    html = client.get("/dashboard/").content.decode()
    assert 'data-live-topic="livev.dashboard-announcements_all"' in html
    assert html.index("Newer") < html.index("Older")
    for n in range(dashboard.ANNOUNCEMENTS):
        Announcement.objects.create(title=f"Notice {n}")
    html = client.get("/dashboard/").content.decode()
    assert html.count("data-dashboard-announcement=") == dashboard.ANNOUNCEMENTS  # capped
    assert "Notice 9" in html and "Older" not in html and "Newer" not in html


def test_the_dashboard_rerenders_rows_whose_receipts_or_state_moved(
    monkeypatch, alice, django_capture_on_commit_callbacks
):
    """The example project connects both signals to live.changed: without them a receipt (a bulk
    write) or an end (an UPDATE) would never re-render the announcement's row."""
    from realtime import live
    from realtime.announcements import announce, end
    from realtime.announcements.receipts import store_reports
    from tests.test_announcements_signals import report

    marked: list[tuple[type, list[int]]] = []
    monkeypatch.setattr(live, "changed", lambda model, pks=None: marked.append((model, list(pks or []))))
    with django_capture_on_commit_callbacks(execute=True):
        notice = announce("Hello", audience="everyone")
    marked.clear()
    with django_capture_on_commit_callbacks(execute=True):
        store_reports([report(alice, notice)])
    assert marked == [(Announcement, [notice.pk])]
    marked.clear()
    with django_capture_on_commit_callbacks(execute=True):
        end(notice)
    assert marked == [(Announcement, [notice.pk])]


def test_only_active_staff_see_the_dashboard(alice, make_user):
    staff = make_user("boss", is_staff=True)
    retired = make_user("retired", is_staff=True, is_active=False)
    assert dashboard.is_staff(staff)
    assert not dashboard.is_staff(alice) and not dashboard.is_staff(retired)
    from django.contrib.auth.models import AnonymousUser

    assert not dashboard.is_staff(AnonymousUser())


def test_the_page_is_for_staff_only_and_linked_from_the_home_page_for_them(client, alice, make_user):
    assert client.get("/dashboard/").status_code == 302  # to the login page
    client.force_login(alice)
    assert client.get("/dashboard/").status_code == 403
    assert b'href="/dashboard/"' not in client.get("/").content
    client.force_login(make_user("boss", is_staff=True))
    assert b'href="/dashboard/"' in client.get("/").content
    page = client.get("/dashboard/")
    assert page.status_code == 200
    html = page.content.decode()
    for topic in ("livev.dashboard-streams_all", "livev.dashboard-stats_all"):
        assert f'data-live-topic="{topic}"' in html
    assert 'role="img"' in html
    # One client per tab: base.html loads realtime.js, the page adds live.js only.
    assert html.count('src="/static/realtime/realtime.js"') == 1
    assert html.count('src="/static/realtime/live.js"') == 1


def test_the_page_in_chinese_has_no_english_words_of_its_own(client, make_user, stream):
    Announcement.objects.create(title="公告一", round=2)
    client.force_login(make_user("boss", is_staff=True))
    html = client.get("/dashboard/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    for english in ("Dashboard", "Viewers now", "Comments per minute", "Delivered", "No data yet", "round 2"):
        assert english not in html
    for chinese in ("仪表板", "当前观众", "每分钟评论数", "已送达", "还没有数据。", "第 2 轮", "直播中"):
        assert chinese in html
