"""A deletion that takes comments from several streams (a user's account, cascading) stores their
`comment.deleted` events together, the streams' counters locked in name order (the order every
multi-topic writer shares: `eventlog.store_on_topics`), and each is announced once. The PostgreSQL
race this prevents is in test_lock_order_comments_pg.py."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.db import connection
from django.db.models.signals import post_delete
from django.test.utils import CaptureQueriesContext

from realtime.models import Event, TopicSequence
from realtime.streams.models import Comment, Stream
from realtime.testing import RealtimeClient
from tests.streamkit import post_direct

pytestmark = pytest.mark.django_db(transaction=True)


def _deleting(delete):
    """Run `delete()`; the SQL it sent."""
    with CaptureQueriesContext(connection) as queries:
        delete()
    return [q["sql"] for q in queries.captured_queries]


def _deleted(messages: list[dict]) -> list[tuple[str, int]]:
    return [
        (m["topic"], m["data"]["comment"])
        for m in messages
        if m["type"] == "event" and m.get("event") == "comment.deleted"
    ]


async def test_a_users_comments_across_streams_are_announced_together_in_name_order(stream, owner, alice):
    streams = [stream] + [
        await Stream.objects.acreate(title=f"Stream {n}", slug=f"s{n}", owner=owner) for n in (2, 3)
    ]
    # Posted (and so deleted) in the reverse of the topics' name order.
    posted = sorted(streams, key=lambda s: s.topic, reverse=True)
    ids = [(s.topic, (await post_direct(s, alice, f"on {s.topic}"))["id"]) for s in posted]
    assert [topic for topic, _ in ids] != sorted(topic for topic, _ in ids)
    async with RealtimeClient(user=owner) as watcher:
        for s in streams:
            await watcher.subscribe(s.topic)
        await watcher.collect()
        sql = await database_sync_to_async(_deleting)(alice.delete)
        received = await watcher.collect()
    assert sorted(_deleted(received)) == sorted(ids)  # each announced once, live
    event_inserts = [q for q in sql if q.lstrip().upper().startswith("INSERT") and Event._meta.db_table in q]
    assert len(event_inserts) == 1  # stored together, not one stream after another
    [reserve] = [q for q in sql if TopicSequence._meta.db_table in q and "ON CONFLICT" in q]
    where = [reserve.index(f"'{topic}'") for topic, _ in sorted(ids)]
    assert where == sorted(where)  # the counters locked in name order, not in deletion order
    assert await Comment.objects.acount() == 0


async def test_a_deletion_retried_after_it_failed_announces_each_comment_once(stream, owner, alice):
    other = await Stream.objects.acreate(title="Other", slug="other", owner=owner)
    ids = sorted([(s.topic, (await post_direct(s, alice, "bye"))["id"]) for s in (stream, other)])

    def fail(instance, **kwargs):
        if instance.stream_id == other.pk:  # the second comment removed: the first was announced
            raise RuntimeError("database went away")

    def fail_then_retry() -> None:  # in one thread: what a failed deletion leaves behind is per thread
        post_delete.connect(fail, sender=Comment, dispatch_uid="test.fail")
        try:
            with pytest.raises(RuntimeError):
                alice.delete()
        finally:
            post_delete.disconnect(sender=Comment, dispatch_uid="test.fail")
        assert Comment.objects.count() == 2  # rolled back
        alice.delete()  # the same instance, again

    async with RealtimeClient(user=owner) as watcher:
        for s in (stream, other):
            await watcher.subscribe(s.topic)
        await watcher.collect()
        await database_sync_to_async(fail_then_retry)()
        assert sorted(_deleted(await watcher.collect())) == ids
    stored = Event.objects.filter(name="comment.deleted").values_list("topic", "data")
    assert sorted([(topic, data["comment"]) async for topic, data in stored]) == ids


async def test_a_post_delete_sent_alone_is_still_announced(stream, alice):
    """A project sending post_delete itself (no pre_delete before it) gets the comment announced."""
    posted = await post_direct(stream, alice, "announce me")
    comment = await Comment.objects.aget(stream=stream, seq=posted["id"])
    await database_sync_to_async(post_delete.send)(Comment, instance=comment, using="default", origin=comment)
    stored = Event.objects.filter(name="comment.deleted").values_list("data", flat=True)
    assert [data async for data in stored] == [{"comment": posted["id"]}]
