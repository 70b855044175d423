"""The replay read (realtime/streams/views.py): a stream's comments by media time, paged, permission-checked
and consistent with moderation, for watching a recording with its comments in sync."""

from __future__ import annotations

import pytest
from django.urls import reverse

from realtime.streams import moderation
from realtime.streams.models import Comment, StreamRestriction
from realtime.streams.storage import post_comment
from realtime.testing import override_realtime

pytestmark = pytest.mark.django_db


def url(stream, **query) -> str:
    base = reverse("realtime_streams:replay", args=[stream.pk])
    return base + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def add(stream, author, seq: int, media_time: float | None, text: str | None = None) -> Comment:
    return Comment.objects.create(
        stream=stream,
        seq=seq,
        author=author,
        client_id=f"c{seq}",
        text=text or f"at {media_time}",
        media_time=media_time,
    )


def texts_of(body) -> list[str]:
    return [c["text"] for c in body["comments"]]


def texts(response) -> list[str]:
    return texts_of(response.json())


def test_comments_of_a_window_in_media_time_order_as_the_socket_sends_them(client, stream, alice):
    with override_realtime(RATE_LIMIT_COUNT=None):
        for t in (12.0, 3.5, 7.25, 61.0):
            post_comment(
                stream.pk,
                alice,
                {
                    "text": f"at {t}",
                    "client_id": f"id-{t}",
                    "media_time": t,
                    "color": "#ff5555",
                    "mode": "top",
                },
            )
        post_comment(stream.pk, alice, {"text": "no time", "client_id": "none"})
    response = client.get(url(stream, **{"from": 0, "to": 60}))
    assert response.status_code == 200
    body = response.json()
    assert [c["media_time"] for c in body["comments"]] == [3.5, 7.25, 12.0]
    assert body["next"] is None and body["stream"] == stream.pk and body["from"] == 0 and body["to"] == 60
    first = body["comments"][0]
    assert first == {
        "id": first["id"],
        "text": "at 3.5",
        "color": "#ff5555",
        "mode": "top",
        "media_time": 3.5,
        "client_id": "id-3.5",
        "author": {"id": alice.pk, "username": "alice"},
    }
    assert "no-cache" in response["Cache-Control"]
    assert texts(client.get(url(stream, **{"from": 7.25}))) == ["at 7.25", "at 12.0", "at 61.0"], (
        "`to` optional"
    )


def test_hidden_and_deleted_comments_never_replay_and_a_restored_one_does(client, stream, alice):
    shown, hidden, deleted = (add(stream, alice, n, t) for n, t in ((1, 1.0), (2, 2.0), (3, 3.0)))
    moderation.set_comment_state(hidden, Comment.State.HIDDEN)
    moderation.set_comment_state(deleted, Comment.State.DELETED)
    assert texts(client.get(url(stream))) == ["at 1.0"]
    moderation.set_comment_state(hidden, Comment.State.VISIBLE)
    assert texts(client.get(url(stream))) == ["at 1.0", "at 2.0"], "read fresh: no stale cache"


def test_pages_follow_next_and_cover_every_comment_once_even_at_equal_times(client, stream, alice):
    for seq in range(1, 26):
        add(stream, alice, seq, float(seq // 3), text=f"c{seq}")  # three comments share most times
    seen, page, pages = [], url(stream, limit=4), 0
    while page:
        body = client.get(page).json()
        assert len(body["comments"]) <= 4
        seen += [c["text"] for c in body["comments"]]
        page, pages = body["next"], pages + 1
    assert seen == [f"c{seq}" for seq in range(1, 26)]
    assert pages == 7


def test_the_window_bounds_hold_across_pages(client, stream, alice):
    for seq, t in enumerate([9.9, 10.0, 10.0, 10.5, 19.99, 20.0], start=1):
        add(stream, alice, seq, t)
    body = client.get(url(stream, **{"from": 10, "to": 20, "limit": 2})).json()
    assert texts_of(body) == ["at 10.0", "at 10.0"]
    rest = client.get(body["next"]).json()
    assert texts_of(rest) == ["at 10.5", "at 19.99"] and rest["next"] is None


def test_who_may_read_is_who_may_watch(client, stream, alice, bob, owner):
    add(stream, alice, 1, 1.0)
    assert client.get(url(stream)).status_code == 200, "anonymous viewers, while the stream allows them"
    stream.allow_anonymous = False
    stream.save()
    refused = client.get(url(stream))
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "auth_required"
    client.force_login(bob)
    assert client.get(url(stream)).status_code == 200
    StreamRestriction.objects.create(stream=stream, user=bob, kind=StreamRestriction.Kind.BAN)
    banned = client.get(url(stream))
    assert banned.status_code == 403 and banned.json()["error"]["code"] == "banned"
    StreamRestriction.objects.create(stream=stream, user=owner, kind=StreamRestriction.Kind.BAN)
    client.force_login(owner)
    assert client.get(url(stream)).status_code == 200, "moderators are never banned on their own stream"
    StreamRestriction.objects.create(stream=stream, user=alice, kind=StreamRestriction.Kind.MUTE)
    client.force_login(alice)
    assert client.get(url(stream)).status_code == 200, "muted viewers still watch"


@pytest.mark.parametrize(
    "query",
    [
        {"from": "abc"},
        {"from": -1},
        {"to": "nan"},
        {"to": "inf"},
        {"from": "1e400"},
        {"limit": 0},
        {"limit": 501},
        {"limit": "ten"},
        {"after": "x"},
        {"after": "1.0_"},
        {"after": "nan_3"},
    ],
)
def test_bad_queries_get_a_clear_error_with_a_stable_code(client, stream, query):
    response = client.get(url(stream, **query))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "bad_request" and error["message"]


def test_an_unknown_stream_is_not_found_and_only_get_is_allowed(client, stream):
    missing = client.get(reverse("realtime_streams:replay", args=[stream.pk + 100]))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert client.post(url(stream)).status_code == 405


def test_the_template_tag_points_the_page_at_the_replay_read(client, stream):
    page = client.get(reverse("watch", args=[stream.slug])).content.decode()
    assert f'data-replay-url="{url(stream)}"' in page
