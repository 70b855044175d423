"""Storing comments: a batch of posts judged and stored in one transaction, acknowledged after commit.

Every rule is checked inside the storing transaction, after the stream's id counter is locked, so two
posts on one stream are judged one after the other (slow mode and rate limits are exact per stream, on
SQLite and PostgreSQL alike, and across any number of daphne processes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from ..eventlog import StoredEvent, lock_topic, reserve_ids, store_events
from ..exceptions import Denied, ProtocolError
from ..inserts import insert
from ..models import Event
from ..publishing import publish_on_commit
from . import batchreads
from .models import Comment, Stream
from .rules import CommentDraft, Judge, comment_payload, parse_draft


@dataclass(slots=True)
class Outcome:
    """What became of one post in a batch: an ack (and the event to publish), a refusal (`error`, for
    good), or a server-side `failure` that kept it from being stored (the client may retry it)."""

    ack: dict[str, Any] | None = None
    error: ProtocolError | None = None
    event: StoredEvent | None = None
    failure: Exception | None = None


def store_comments(stream_id: int, posts: list[tuple[Any, dict[str, Any]]]) -> list[Outcome]:
    """Judge and store a batch of posts on one stream in one transaction; publish nothing.

    Posts are judged in order, as if they had come one at a time (a user's third post in the batch
    counts their first two against the rate limit). A post repeating an earlier `client_id` (in the
    database or earlier in the batch) is answered as a retry of it. Running concurrent posts as one
    batch is what lets one process store hundreds of comments a second: the per-statement cost of the
    ORM, not the database, is what limits one at a time.
    """
    outcomes = [Outcome() for _ in posts]
    drafts: dict[int, CommentDraft] = {}
    for n, (user, data) in enumerate(posts):
        try:
            if not getattr(user, "is_authenticated", False):
                raise Denied("auth_required", gettext("Log in to comment."))
            drafts[n] = parse_draft(data)
        except ProtocolError as exc:
            outcomes[n].error = exc
    if not drafts:
        return outcomes
    try:
        with transaction.atomic():
            _store(stream_id, posts, drafts, outcomes)
    except Stream.DoesNotExist:
        for n in drafts:
            outcomes[n] = Outcome(error=ProtocolError("not_found", gettext("This stream no longer exists.")))
    except IntegrityError:
        # A client_id raced in from another process and won. Rare: redo the batch one post at a time,
        # so each racing post is answered as a retry and the others are stored.
        if len(posts) == 1:
            existing = _existing(stream_id, posts[0][0], drafts[0].client_id)
            if existing is None:
                raise
            return [_retry(existing)]
        return _one_at_a_time(stream_id, posts)
    return outcomes


def _one_at_a_time(stream_id: int, posts: list[tuple[Any, dict[str, Any]]]) -> list[Outcome]:
    """Store each post in its own transaction and report each post's own outcome: the ones stored
    are acked (and published by the caller) even if a later one fails.

    A post that fails takes the author's later posts in this batch down with it, unstored: storing
    them would put them ahead of the failed one, which its author will send again. Other authors'
    posts go on. (The author, not the connection: this module does not know connections, and the
    author's posts include the connection's.)
    """
    outcomes: list[Outcome] = []
    failed: dict[Any, Exception] = {}  # author -> what kept their earlier post from being stored
    for user, data in posts:
        author = getattr(user, "pk", None)
        if author in failed:
            outcomes.append(Outcome(failure=failed[author]))
            continue
        try:
            [outcome] = store_comments(stream_id, [(user, data)])
        except Exception as exc:  # the database, or a bug: reported per post, retryable
            failed[author] = exc
            outcome = Outcome(failure=exc)
        outcomes.append(outcome)
    return outcomes


def _store(
    stream_id: int,
    posts: list[tuple[Any, dict[str, Any]]],
    drafts: dict[int, CommentDraft],
    outcomes: list[Outcome],
) -> None:
    stream = batchreads.stream_row(stream_id)
    topic = stream.topic
    lock_topic(topic)  # the checks below see every earlier post on this stream
    authors = {posts[n][0].pk for n in drafts}
    client_ids = {draft.client_id for draft in drafts.values()}
    found = batchreads.findings(stream_id, authors, client_ids)
    earlier = _earlier(stream, authors, client_ids) if found.retried else {}
    now = timezone.now()
    judge = Judge(stream, [posts[n][0] for n in drafts], now, restricted=found.restricted)
    accepted: list[tuple[int, Any, CommentDraft]] = []
    in_batch: dict[tuple[int, str], int] = {}
    for n, draft in drafts.items():
        user = posts[n][0]
        key = (user.pk, draft.client_id)
        if key in earlier:
            outcomes[n] = _retry(Comment.objects.select_related("author", "stream").get(pk=earlier[key]))
            continue
        if key in in_batch:
            outcomes[n] = Outcome(ack={"duplicate_of": in_batch[key]})  # filled in below
            continue
        try:
            judge.check(user, draft)
        except ProtocolError as exc:
            outcomes[n] = Outcome(error=exc)
            continue
        judge.accepted(user)
        in_batch[key] = n
        accepted.append((n, user, draft))
    if not accepted:
        return
    first = reserve_ids(topic, len(accepted))
    comments = insert(
        [
            Comment(
                stream=stream,
                seq=first + k,
                author=user,
                client_id=draft.client_id,
                text=draft.text,
                color=draft.color,
                mode=draft.mode,
                media_time=draft.media_time,
                created_at=now,
            )
            for k, (_, user, draft) in enumerate(accepted)
        ]
    )
    events = store_events(topic, first, [("comment", comment_payload(c)) for c in comments])
    for (n, _, _), event in zip(accepted, events, strict=True):
        outcomes[n] = Outcome(ack={"id": event.id, "data": event.data}, event=event)
    for outcome in outcomes:
        if outcome.ack and "duplicate_of" in outcome.ack:
            original = outcomes[outcome.ack["duplicate_of"]]
            assert original.ack is not None
            outcome.ack = {**original.ack, "duplicate": True}


def _earlier(stream: Stream, authors: set[int], client_ids: set[str]) -> dict[tuple[int, str], int]:
    """The comments already stored on `stream` by these authors with these client ids:
    (author, client id) -> pk. The rows themselves (and their authors) are read per retried post."""
    rows = Comment.objects.filter(stream=stream, author_id__in=authors, client_id__in=client_ids).order_by()
    return {
        (author, client_id): pk for author, client_id, pk in rows.values_list("author_id", "client_id", "pk")
    }


def _existing(stream_id: int, user: Any, client_id: str) -> Comment | None:
    return (
        Comment.objects.select_related("author", "stream")
        .filter(stream_id=stream_id, author=user, client_id=client_id)
        .first()
    )


def _retry(comment: Comment) -> Outcome:
    """Answer a retried post like the first one, and publish it again in case that publish was lost
    (hubs drop the duplicate by id)."""
    row = Event.objects.filter(topic=comment.stream.topic, seq=comment.seq).first()
    event = StoredEvent.from_row(row) if row is not None and not row.withdrawn else None
    return Outcome(ack={"id": comment.seq, "data": comment_payload(comment), "duplicate": True}, event=event)


def post_comment(stream_id: int, user: Any, data: dict[str, Any]) -> dict[str, Any]:
    """Store one comment and publish it after commit; return the `ack` fields. For sync code.

    A retry with the same `client_id` returns the first post's ack and publishes it again, so a client
    that lost the ack can always safely resend. WebSocket posts go through `realtime.streams.posting` instead,
    which batches concurrent posts.
    """
    [outcome] = store_comments(stream_id, [(user, data)])
    if outcome.failure is not None:
        raise outcome.failure
    if outcome.error is not None:
        raise outcome.error
    assert outcome.ack is not None
    result: dict[str, bool] = {}
    if outcome.event is not None:
        publish_on_commit(outcome.event, result)  # inside your transaction: once it commits
    # None while your transaction is still open: whether it publishes is decided at its commit.
    return {**outcome.ack, "published": result.get("published") if outcome.event else True}
