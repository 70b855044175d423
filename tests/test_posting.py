"""Group commit: concurrent posts on a stream are judged in order and stored in one transaction."""

import asyncio

import pytest

from realtime.exceptions import ProtocolError
from realtime.models import Event
from realtime.streams import storage as comments_module
from realtime.streams.models import Comment
from realtime.streams.storage import post_comment, store_comments
from realtime.testing import RealtimeClient, override_realtime

pytestmark = pytest.mark.django_db(transaction=True)


def post(text, client_id):
    return {"text": text, "client_id": client_id}


def test_a_batch_is_judged_in_order_as_if_posts_came_one_at_a_time(stream, alice, bob):
    with override_realtime(RATE_LIMIT_COUNT=2, RATE_LIMIT_PERIOD=10):
        outcomes = store_comments(
            stream.pk,
            [
                (alice, post("one", "a1")),
                (alice, post("two", "a2")),
                (alice, post("three", "a3")),  # alice's third within the period: refused
                (bob, post("", "b0")),  # invalid: refused alone
                (bob, post("hi", "b1")),
                (alice, post("one again", "a1")),  # a retry of alice's first post in this same batch
            ],
        )
    assert [o.error.code if o.error else None for o in outcomes] == [
        None,
        None,
        "rate_limited",
        "text_empty",
        None,
        None,
    ]
    ids = [o.ack["id"] for o in outcomes if o.ack]
    assert ids[:3] == [1, 2, 3] and ids[3] == ids[0]
    assert outcomes[5].ack["duplicate"] is True and outcomes[5].event is None
    assert Comment.objects.filter(stream=stream).count() == 3
    assert list(Event.objects.filter(topic=stream.topic).values_list("seq", flat=True)) == [1, 2, 3]


def test_a_post_that_cannot_be_stored_is_refused_alone_and_the_rest_of_the_batch_is_stored(
    stream, alice, bob
):
    """A lone surrogate (only a JSON escape makes one; post_comment() can still be handed one) cannot
    be encoded for the database, and a 400-digit media_time overflows float(): either would fail the
    whole group commit, and every poster in it would get internal_error."""
    outcomes = store_comments(
        stream.pk,
        [
            (alice, post("fine", "a1")),
            (bob, post("half an emoji \ud83d", "b1")),
            (bob, post("fine too", "b\udc00")),
            (alice, {**post("late", "a2"), "media_time": 10**400}),
            (alice, {**post("nan", "a3"), "media_time": float("nan")}),
            (bob, {**post("also fine", "b2"), "media_time": 12.5}),
        ],
    )
    assert [o.error.code if o.error else None for o in outcomes] == [
        None,
        "bad_message",
        "bad_message",
        "bad_message",
        "bad_message",
        None,
    ]
    assert all(o.error.message for o in outcomes if o.error)
    assert [o.ack["data"]["text"] for o in outcomes if o.ack] == ["fine", "also fine"]
    assert list(Comment.objects.values_list("text", flat=True)) == ["fine", "also fine"]


def test_post_comment_refuses_a_lone_surrogate_with_bad_message(stream, alice):
    with pytest.raises(ProtocolError) as info:
        post_comment(stream.pk, alice, post("\udfff", "x"))
    assert info.value.code == "bad_message"
    assert post_comment(stream.pk, alice, post("a whole emoji \U0001f600", "y"))["id"] == 1


async def test_concurrent_posts_share_transactions_and_each_gets_its_own_ack(stream, make_user, monkeypatch):
    """Twenty posters at once: every post acked once with a distinct id, in fewer than twenty stores."""
    calls = []
    original = comments_module.store_comments

    def counting(stream_id, posts):
        calls.append(len(posts))
        return original(stream_id, posts)

    monkeypatch.setattr("realtime.streams.posting.store_comments", counting)
    users = [await asyncio.to_thread(make_user, f"poster{n}") for n in range(20)]
    clients = [RealtimeClient(user=user) for user in users]
    for client in clients:
        await client.__aenter__()
        await client.subscribe(stream.topic)
    acks = await asyncio.gather(
        *(
            client.publish(stream.topic, "comment", post(f"hello {n}", f"c{n}"))
            for n, client in enumerate(clients)
        )
    )
    assert all(ack["type"] == "ack" and ack["published"] is True for ack in acks)
    assert sorted(ack["id"] for ack in acks) == list(range(1, 21))
    assert sum(calls) == 20 and len(calls) < 20, calls
    watcher = clients[0]
    seen = [m["id"] for m in (await watcher.collect()) + watcher.skipped if m.get("event") == "comment"]
    assert sorted(set(seen)) == list(range(1, 21)) and len(seen) == 20
    for client in clients:
        await client.__aexit__(None, None, None)


@pytest.mark.parametrize(("rate_limited", "most"), [(True, 10), (False, 9)])
def test_storing_a_batch_costs_a_fixed_number_of_statements(
    stream, alice, bob, django_assert_max_num_queries, rate_limited, most
):
    # The ORM's per-statement cost is what limits how many batches a process stores a second
    # (bench/RESULTS.md), so a statement per post, or one more per batch, is a regression. Counted:
    # BEGIN, the stream, earlier client_ids, restrictions, moderators, [recent posts,] the counter
    # (UPDATE ... RETURNING), the comments, the events, COMMIT. SQLite sends no FOR UPDATE (the
    # transaction holds the write lock); without rate limit or slow mode there is no recent-posts query.
    from django.db import connection

    store_comments(stream.pk, [(alice, post("first", "c-first"))])  # the topic's counter exists
    if connection.vendor != "sqlite":
        most += 1  # the topic's row lock
    posts = [(user, post(f"p{n}", f"c{n}")) for n in range(5) for user in (alice, bob)]
    with override_realtime(RATE_LIMIT_COUNT=10 if rate_limited else None):
        with django_assert_max_num_queries(most):
            outcomes = store_comments(stream.pk, posts)
    assert [o.error for o in outcomes] == [None] * 10


async def test_storing_and_acks_never_wait_for_the_channel_layer(stream, alice, monkeypatch):
    """A layer that stops answering (the first publish hangs): the next comments are still stored and
    acked, and once the layer answers the publishes leave in id order, the ones that gathered meanwhile
    in one call."""
    from realtime.hub import get_hub
    from realtime.hub.hub import Hub

    answering = asyncio.Event()
    sent: list[list[int]] = []

    async def frozen_layer(self, topic, events):
        sent.append([event.id for event in events])
        await answering.wait()
        return True

    monkeypatch.setattr(Hub, "publish_many", frozen_layer)
    async with RealtimeClient(user=alice) as client:
        await client.subscribe(stream.topic)
        acks = [await client.publish(stream.topic, "comment", post(f"n{n}", f"c{n}")) for n in range(3)]
        assert [(a["type"], a["id"], a["published"]) for a in acks] == [("ack", n, True) for n in (1, 2, 3)]
        assert await Comment.objects.filter(stream=stream).acount() == 3
        assert sent == [[1]]  # 2 and 3 wait behind the hanging publish of 1, not in front of it
        hub = await get_hub()
        monkeypatch.setattr(type(hub.link), "down", property(lambda link: True))  # known down: acks say so
        ack = await client.publish(stream.topic, "comment", post("n4", "c4"))
        assert ack["published"] is False and ack["id"] == 4
        answering.set()
        for _ in range(50):
            await asyncio.sleep(0.01)
            if sum(sent, []) == [1, 2, 3, 4]:
                break
        assert sent == [[1], [2, 3, 4]]


def test_after_a_constraint_error_each_post_reports_its_own_outcome(
    stream, alice, bob, make_user, monkeypatch
):
    """The one-at-a-time fallback (a client_id raced in from another process): the posts it stores are
    acked with their events (the batcher publishes them); one that fails is reported failed, and so
    are its author's later posts in the batch (stored now, they would land ahead of its retry); other
    authors' posts are stored."""
    from django.db import OperationalError

    carol = make_user("carol")
    real_reserve, real_store = comments_module.reserve_ids, comments_module.store_comments
    raced = []

    def reserve_after_a_race(topic, count):
        if not raced:  # the batch's transaction: another process stored bob's b1 just now
            raced.append(Comment.objects.create(stream=stream, seq=999, author=bob, client_id="b1", text="x"))
        return real_reserve(topic, count)

    def database_fails_once_on_a2(stream_id, posts):
        if len(posts) == 1 and posts[0][1]["client_id"] == "a2":
            raise OperationalError("server closed the connection unexpectedly")
        return real_store(stream_id, posts)

    monkeypatch.setattr(comments_module, "reserve_ids", reserve_after_a_race)
    monkeypatch.setattr(comments_module, "store_comments", database_fails_once_on_a2)
    outcomes = real_store(
        stream.pk,
        [
            (alice, post("one", "a1")),
            (bob, post("mine", "b1")),
            (alice, post("two", "a2")),
            (carol, post("hi", "c1")),
            (alice, post("three", "a3")),
        ],
    )
    assert len(raced) == 1
    assert [(o.ack or {}).get("id") for o in outcomes] == [1, 2, None, 3, None]
    assert [o.event.id if o.event else None for o in outcomes] == [1, 2, None, 3, None]
    assert [type(o.failure).__name__ if o.failure else None for o in outcomes] == [
        None,
        None,
        "OperationalError",
        None,
        "OperationalError",
    ]
    assert list(Comment.objects.values_list("client_id", "seq")) == [("a1", 1), ("b1", 2), ("c1", 3)]
