"""Posting a comment on a stream: validation, the moderation rules, storing, and the acknowledgement.

Every rule is checked inside the storing transaction, after the stream's id counter is locked, so two
posts on one stream are judged one after the other (slow mode and rate limits are exact per stream, on
SQLite and PostgreSQL alike, and across any number of daphne processes).
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from . import eventlog
from .api import publish_on_commit
from .conf import realtime_settings
from .eventlog import StoredEvent
from .exceptions import Denied, ProtocolError
from .models import Comment, Event, Stream, StreamRestriction


@dataclass(frozen=True, slots=True)
class CommentDraft:
    text: str
    client_id: str
    color: str
    mode: str
    media_time: float | None


def parse_draft(data: dict[str, Any]) -> CommentDraft:
    """Validate the client's fields; styling comes only from the allow-lists."""
    text = data.get("text")
    if not isinstance(text, str):
        raise ProtocolError("bad_message", "Field 'text' is required and must be a string.")
    text = " ".join(text.split())  # one line: newlines and runs of spaces would break the overlay
    if not text.isprintable():
        # Control characters (NUL, escapes) are not text; PostgreSQL even refuses NUL in a column.
        text = " ".join("".join(char for char in text if unicodedata.category(char) != "Cc").split())
    if not text:
        raise ProtocolError("text_empty", "Write something before sending.")
    limit = int(realtime_settings.MAX_COMMENT_LENGTH)
    if len(text) > limit:
        raise ProtocolError("text_too_long", f"Comments may be at most {limit} characters ({len(text)} sent).")
    client_id = data.get("client_id")
    if not isinstance(client_id, str) or not 0 < len(client_id) <= 64 or not client_id.isprintable():
        raise ProtocolError("bad_message", "Field 'client_id' must be a string of 1 to 64 printable characters.")
    color = data.get("color") or ""
    if not isinstance(color, str) or (color and color.lower() not in realtime_settings.COMMENT_COLORS):
        raise ProtocolError("bad_color", f"Colour must be one of {', '.join(realtime_settings.COMMENT_COLORS)}.")
    mode = data.get("mode") or Comment.Mode.SCROLL
    if mode not in realtime_settings.COMMENT_MODES:
        raise ProtocolError("bad_mode", f"Mode must be one of {', '.join(realtime_settings.COMMENT_MODES)}.")
    media_time = data.get("media_time")
    if media_time is not None:
        if isinstance(media_time, bool) or not isinstance(media_time, int | float) or not math.isfinite(media_time) \
                or media_time < 0:
            raise ProtocolError("bad_message", "Field 'media_time' must be a number of seconds >= 0.")
        media_time = float(media_time)
    return CommentDraft(text, client_id, color.lower(), mode, media_time)


def comment_payload(comment: Comment) -> dict[str, Any]:
    """The comment as every viewer sees it: plain values, text never interpreted as HTML."""
    return {
        "id": comment.seq, "text": comment.text, "color": comment.color, "mode": comment.mode,
        "media_time": comment.media_time, "client_id": comment.client_id,
        "author": {"id": comment.author_id, "username": comment.author.get_username()},
    }


def active_restriction(stream: Stream, user: Any, kind: str) -> StreamRestriction | None:
    restriction = StreamRestriction.objects.filter(stream=stream, user=user, kind=kind).first()
    return restriction if restriction is not None and restriction.active else None


def _until(restriction: StreamRestriction) -> str:
    return f" until {restriction.until:%H:%M UTC}" if restriction.until else ""


def _blocked_term(terms: list[str], text: str) -> str | None:
    lowered = text.lower()
    for term in terms:
        if term and re.search(rf"(?<!\w){re.escape(term)}(?!\w)", lowered):
            return term
    return None


@dataclass(slots=True)
class Outcome:
    """What became of one post in a batch: an ack (and the event to publish), or a refusal."""

    ack: dict[str, Any] | None = None
    error: ProtocolError | None = None
    event: StoredEvent | None = None


class _Judge:
    """The posting rules for one batch on one stream, with what they need read in a few queries."""

    def __init__(self, stream: Stream, users: list[Any], now: Any) -> None:
        self.stream = stream
        self.now = now
        self.count = realtime_settings.RATE_LIMIT_COUNT
        self.period = float(realtime_settings.RATE_LIMIT_PERIOD)
        ids = {user.pk for user in users}
        self.restrictions = {(r.user_id, r.kind): r for r in StreamRestriction.objects.filter(
            stream=stream, user_id__in=ids) if r.active}
        self.moderators = set(stream.moderators.filter(pk__in=ids).values_list("pk", flat=True))
        # Per user and stream, like slow mode: judged under this stream's lock, and served by the
        # (stream, author, created_at) index. Posts accepted earlier in this batch are added as we go.
        window = max(self.period if self.count is not None else 0, stream.slow_mode_seconds)
        self.recent: dict[int, list[Any]] = {}
        for author_id, created_at in (Comment.objects.filter(
                stream=stream, author_id__in=ids, created_at__gt=now - timedelta(seconds=window))
                .order_by("created_at").values_list("author_id", "created_at")):
            self.recent.setdefault(author_id, []).append(created_at)
        self.terms = [*map(str.lower, realtime_settings.BLOCKED_TERMS), *stream.blocked_term_list()]

    def is_moderator(self, user: Any) -> bool:
        return user.pk == self.stream.owner_id or user.pk in self.moderators or user.has_perm(
            "realtime.moderate_stream")

    def check(self, user: Any, draft: CommentDraft) -> None:
        ban = self.restrictions.get((user.pk, StreamRestriction.Kind.BAN))
        if ban:
            raise Denied("banned", f"You are banned from this stream{_until(ban)}.")
        mute = self.restrictions.get((user.pk, StreamRestriction.Kind.MUTE))
        if mute:
            raise Denied("muted", f"You are muted on this stream{_until(mute)}.")
        if not self.stream.is_live:
            raise ProtocolError("stream_ended", "This stream has ended; comments are closed.")
        if not self.stream.comments_open:
            raise ProtocolError("comments_closed", "Comments are closed on this stream right now.")
        term = _blocked_term(self.terms, draft.text)
        if term:
            raise ProtocolError("blocked_term", f"Your comment contains a blocked term ({term!r}).")
        recent = self.recent.get(user.pk, [])
        if self.count is not None:
            in_window = [t for t in recent if t > self.now - timedelta(seconds=self.period)]
            if len(in_window) >= self.count:
                retry = (in_window[-self.count] + timedelta(seconds=self.period) - self.now).total_seconds()
                raise ProtocolError("rate_limited", f"At most {self.count} comments per {self.period:g} s; "
                                    "wait a moment.", retry_after=max(retry, 0.1))
        wait = self.stream.slow_mode_seconds
        if wait and recent and not self.is_moderator(user):
            since = (self.now - recent[-1]).total_seconds()
            if since < wait:
                raise ProtocolError("slow_mode", f"Slow mode is on: one comment every {wait} s.",
                                    retry_after=max(wait - since, 0.1))

    def accepted(self, user: Any) -> None:
        self.recent.setdefault(user.pk, []).append(self.now)


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
                raise Denied("auth_required", "Log in to comment.")
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
            outcomes[n] = Outcome(error=ProtocolError("not_found", "This stream no longer exists."))
    except IntegrityError:
        # A client_id raced in from another process and won. Rare: redo the batch one post at a time,
        # so each racing post is answered as a retry and the others are stored.
        if len(posts) == 1:
            existing = _existing(stream_id, posts[0][0], drafts[0].client_id)
            if existing is None:
                raise
            return [_retry(existing)]
        return [store_comments(stream_id, [post])[0] for post in posts]
    return outcomes


def _store(stream_id: int, posts: list[tuple[Any, dict[str, Any]]], drafts: dict[int, CommentDraft],
           outcomes: list[Outcome]) -> None:
    stream = Stream.objects.get(pk=stream_id)
    topic = stream.topic
    eventlog.lock_topic(topic)  # the checks below see every earlier post on this stream
    earlier = {(c.author_id, c.client_id): c for c in Comment.objects.select_related("author", "stream").filter(
        stream=stream, client_id__in={draft.client_id for draft in drafts.values()})}
    now = timezone.now()
    judge = _Judge(stream, [posts[n][0] for n in drafts], now)
    accepted: list[tuple[int, Any, CommentDraft]] = []
    in_batch: dict[tuple[int, str], int] = {}
    for n, draft in drafts.items():
        user = posts[n][0]
        key = (user.pk, draft.client_id)
        if key in earlier:
            outcomes[n] = _retry(earlier[key])
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
    first = eventlog.reserve_ids(topic, len(accepted))
    comments = Comment.objects.bulk_create([
        Comment(stream=stream, seq=first + k, author=user, client_id=draft.client_id, text=draft.text,
                color=draft.color, mode=draft.mode, media_time=draft.media_time, created_at=now)
        for k, (_, user, draft) in enumerate(accepted)
    ])
    events = eventlog.store_events(topic, first, [("comment", comment_payload(c)) for c in comments])
    for (n, _, _), event in zip(accepted, events, strict=True):
        outcomes[n] = Outcome(ack={"id": event.id, "data": event.data}, event=event)
    for outcome in outcomes:
        if outcome.ack and "duplicate_of" in outcome.ack:
            original = outcomes[outcome.ack["duplicate_of"]]
            assert original.ack is not None
            outcome.ack = {**original.ack, "duplicate": True}


def _existing(stream_id: int, user: Any, client_id: str) -> Comment | None:
    return Comment.objects.select_related("author", "stream").filter(stream_id=stream_id, author=user,
                                                                     client_id=client_id).first()


def _retry(comment: Comment) -> Outcome:
    """Answer a retried post like the first one, and publish it again in case that publish was lost
    (hubs drop the duplicate by id)."""
    row = Event.objects.filter(topic=comment.stream.topic, seq=comment.seq).first()
    event = StoredEvent.from_row(row) if row is not None and not row.withdrawn else None
    return Outcome(ack={"id": comment.seq, "data": comment_payload(comment), "duplicate": True}, event=event)


def post_comment(stream_id: int, user: Any, data: dict[str, Any]) -> dict[str, Any]:
    """Store one comment and publish it after commit; return the `ack` fields. For sync code.

    A retry with the same `client_id` returns the first post's ack and publishes it again, so a client
    that lost the ack can always safely resend. WebSocket posts go through `realtime.posting` instead,
    which batches concurrent posts.
    """
    [outcome] = store_comments(stream_id, [(user, data)])
    if outcome.error is not None:
        raise outcome.error
    assert outcome.ack is not None
    result: dict[str, bool] = {}
    if outcome.event is not None:
        publish_on_commit(outcome.event, result)  # inside your transaction: once it commits
    # None while your transaction is still open: whether it publishes is decided at its commit.
    return {**outcome.ack, "published": result.get("published") if outcome.event else True}
