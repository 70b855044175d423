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

from .api import publish_on_commit
from .conf import realtime_settings
from .eventlog import StoredEvent, next_id, store_event
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


def check_not_restricted(stream: Stream, user: Any) -> None:
    ban = active_restriction(stream, user, StreamRestriction.Kind.BAN)
    if ban:
        raise Denied("banned", f"You are banned from this stream{_until(ban)}.")
    mute = active_restriction(stream, user, StreamRestriction.Kind.MUTE)
    if mute:
        raise Denied("muted", f"You are muted on this stream{_until(mute)}.")


def _blocked_term(stream: Stream, text: str) -> str | None:
    lowered = text.lower()
    for term in [*map(str.lower, realtime_settings.BLOCKED_TERMS), *stream.blocked_term_list()]:
        if term and re.search(rf"(?<!\w){re.escape(term)}(?!\w)", lowered):
            return term
    return None


def _check_rate(stream: Stream, user: Any, now: Any) -> None:
    count = realtime_settings.RATE_LIMIT_COUNT
    if count is not None:
        period = float(realtime_settings.RATE_LIMIT_PERIOD)
        # Per user and stream, like slow mode: judged under this stream's lock, and served by the
        # (stream, author, created_at) index.
        since = now - timedelta(seconds=period)
        recent = list(Comment.objects.filter(stream=stream, author=user, created_at__gt=since)
                      .order_by("-created_at").values_list("created_at", flat=True)[:count])
        if len(recent) >= count:
            retry = (recent[-1] + timedelta(seconds=period) - now).total_seconds()
            raise ProtocolError("rate_limited", f"At most {count} comments per {period:g} s; wait a moment.",
                                retry_after=max(retry, 0.1))
    if stream.slow_mode_seconds and not stream.is_moderator(user):
        last = (Comment.objects.filter(stream=stream, author=user).order_by("-created_at")
                .values_list("created_at", flat=True).first())
        wait = stream.slow_mode_seconds
        if last is not None and (now - last).total_seconds() < wait:
            raise ProtocolError("slow_mode", f"Slow mode is on: one comment every {wait} s.",
                                retry_after=max(wait - (now - last).total_seconds(), 0.1))


def _existing(stream_id: int, user: Any, client_id: str) -> Comment | None:
    return Comment.objects.select_related("author").filter(stream_id=stream_id, author=user,
                                                           client_id=client_id).first()


def post_comment(stream_id: int, user: Any, data: dict[str, Any]) -> dict[str, Any]:
    """Store a comment and publish it after commit; return the `ack` fields.

    A retry with the same `client_id` returns the first post's ack and publishes it again (hubs drop
    the duplicate by id), so a client that lost the ack can always safely resend.
    """
    if not getattr(user, "is_authenticated", False):
        raise Denied("auth_required", "Log in to comment.")
    draft = parse_draft(data)
    outcome = {"published": True}
    existing = _existing(stream_id, user, draft.client_id)
    if existing is not None:
        return _ack_existing(existing, outcome)
    try:
        with transaction.atomic():
            stream = Stream.objects.get(pk=stream_id)
            topic = stream.topic
            seq = next_id(topic)  # locks this stream's counter: the checks below run one post at a time
            check_not_restricted(stream, user)
            if not stream.is_live:
                raise ProtocolError("stream_ended", "This stream has ended; comments are closed.")
            if not stream.comments_open:
                raise ProtocolError("comments_closed", "Comments are closed on this stream right now.")
            term = _blocked_term(stream, draft.text)
            if term:
                raise ProtocolError("blocked_term", f"Your comment contains a blocked term ({term!r}).")
            now = timezone.now()
            _check_rate(stream, user, now)
            comment = Comment.objects.create(
                stream=stream, seq=seq, author=user, client_id=draft.client_id, text=draft.text,
                color=draft.color, mode=draft.mode, media_time=draft.media_time, created_at=now,
            )
            stored = store_event(topic, "comment", comment_payload(comment), seq=seq)
            publish_on_commit(stored, outcome)
    except Stream.DoesNotExist:
        raise ProtocolError("not_found", "This stream no longer exists.") from None
    except IntegrityError:
        # The same client_id raced in from another connection and won: answer as for a retry.
        existing = _existing(stream_id, user, draft.client_id)
        if existing is None:
            raise
        return _ack_existing(existing, outcome)
    return {"id": stored.id, "data": stored.data, "published": outcome.get("published", False)}


def _ack_existing(comment: Comment, outcome: dict[str, bool]) -> dict[str, Any]:
    """Ack a retried post like the first one; publish again in case the first publish was lost."""
    row = Event.objects.filter(topic=comment.stream.topic, seq=comment.seq).first()
    if row is not None and not row.withdrawn:
        publish_on_commit(StoredEvent.from_row(row), outcome)
    return {"id": comment.seq, "data": comment_payload(comment), "published": outcome.get("published", True),
            "duplicate": True}
