"""The rules a comment must pass: the fields a client may send, and who may post what, when.

Pure judgement: `parse_draft` validates a client's fields, `Judge` applies a stream's moderation rules
(the participation policy shared with reactions, then blocked terms, rate limits, slow mode) to a batch
of posts using what it read once. Storing is `realtime.streams.storage`'s job.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.utils.translation import gettext as _

from ..exceptions import ProtocolError
from . import policy
from .conf import realtime_settings
from .models import Comment, Stream, StreamRestriction

# Longer than any video; also keeps ints too large for a float (10**400) out of float().
MAX_MEDIA_TIME = 1e7
# Only a JSON escape can put one in a str, and it cannot be stored or sent as UTF-8.
_SURROGATE = re.compile("[\ud800-\udfff]")


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
    if not isinstance(text, str) or _SURROGATE.search(text):
        raise ProtocolError(
            "bad_message", _("Field 'text' is required and must be a string of valid Unicode.")
        )
    text = " ".join(text.split())  # one line: newlines and runs of spaces would break the overlay
    if not text.isprintable():
        # Control characters (NUL, escapes) are not text; PostgreSQL even refuses NUL in a column.
        text = " ".join("".join(char for char in text if unicodedata.category(char) != "Cc").split())
    if not text:
        raise ProtocolError("text_empty", _("Write something before sending."))
    limit = int(realtime_settings.MAX_COMMENT_LENGTH)
    if len(text) > limit:
        raise ProtocolError(
            "text_too_long",
            _("Comments may be at most %(limit)d characters (%(sent)d sent).")
            % {"limit": limit, "sent": len(text)},
        )
    client_id = data.get("client_id")
    if (
        not isinstance(client_id, str)
        or not 0 < len(client_id) <= 64
        or not client_id.isprintable()
        or _SURROGATE.search(client_id)
    ):
        raise ProtocolError(
            "bad_message", _("Field 'client_id' must be a string of 1 to 64 printable characters.")
        )
    color = data.get("color") or ""
    if not isinstance(color, str) or (color and color.lower() not in realtime_settings.COMMENT_COLORS):
        raise ProtocolError(
            "bad_color",
            _("Colour must be one of %(colors)s.") % {"colors": ", ".join(realtime_settings.COMMENT_COLORS)},
        )
    mode = data.get("mode") or Comment.Mode.SCROLL
    if mode not in realtime_settings.COMMENT_MODES:
        raise ProtocolError(
            "bad_mode",
            _("Mode must be one of %(modes)s.") % {"modes": ", ".join(realtime_settings.COMMENT_MODES)},
        )
    return CommentDraft(text, client_id, color.lower(), mode, _media_time(data.get("media_time")))


def _media_time(value: Any) -> float | None:
    if value is None:
        return None
    seconds = math.nan
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except OverflowError:  # an int beyond any float (a JSON number of 400 digits)
            pass
    if not (math.isfinite(seconds) and 0 <= seconds < MAX_MEDIA_TIME):
        raise ProtocolError(
            "bad_message",
            _("Field 'media_time' must be a number of seconds from 0 to %(max)d.") % {"max": MAX_MEDIA_TIME},
        )
    return seconds


def comment_payload(comment: Comment) -> dict[str, Any]:
    """The comment as every viewer sees it: plain values, text never interpreted as HTML."""
    return {
        "id": comment.seq,
        "text": comment.text,
        "color": comment.color,
        "mode": comment.mode,
        "media_time": comment.media_time,
        "client_id": comment.client_id,
        "author": {"id": comment.author_id, "username": comment.author.get_username()},
    }


def active_restriction(stream: Stream, user: Any, kind: str) -> StreamRestriction | None:
    restriction = StreamRestriction.objects.filter(stream=stream, user=user, kind=kind).first()
    return restriction if restriction is not None and restriction.active else None


def normalise(text: str) -> str:
    """The form blocked terms are matched in: without invisible format characters (zero-width spaces
    and joiners, BOM, soft hyphens), compatibility forms folded (full-width letters, ligatures), case
    folded, whitespace collapsed. "ＳＰＡＭ", "S\u200bPAM" and "sPaM" all read "spam"."""
    if not text.isascii():
        text = "".join(char for char in text if unicodedata.category(char) != "Cf")
        text = unicodedata.normalize("NFKC", text)
    text = text.casefold()
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)  # casefolding can leave a non-normal form
    return " ".join(text.split())


def _blocked_term(terms: list[str], text: str) -> str | None:
    folded = normalise(text)
    for term in terms:
        if term and re.search(rf"(?<!\w){re.escape(term)}(?!\w)", folded):
            return term
    return None


class Judge:
    """The posting rules for one batch on one stream, with what they need read in a few queries."""

    def __init__(self, stream: Stream, users: list[Any], now: Any, *, restricted: bool = True) -> None:
        """`restricted=False`: the caller knows none of `users` has a restriction on the stream (read in
        the same transaction), so they are not read."""
        self.stream = stream
        self.now = now
        self.count = realtime_settings.RATE_LIMIT_COUNT
        self.period = float(realtime_settings.RATE_LIMIT_PERIOD)
        ids = {user.pk for user in users}
        self.restrictions = {
            (r.user_id, r.kind): r
            for r in (StreamRestriction.objects.filter(stream=stream, user_id__in=ids) if restricted else ())
            if r.active
        }
        self.ids = ids
        self._moderators: set[int] | None = None  # read on the first `is_moderator` that needs it
        # Per user and stream, like slow mode: judged under this stream's lock, and served by the
        # (stream, author, created_at) index. Posts accepted earlier in this batch are added as we go.
        window = max(self.period if self.count is not None else 0, stream.slow_mode_seconds)
        self.recent: dict[int, list[Any]] = {}
        # No rate limit and no slow mode: no earlier post can count against anyone, so no query (not
        # even built: building one costs more than running it).
        if window > 0:
            recent = (
                Comment.objects.filter(
                    stream=stream, author_id__in=ids, created_at__gt=now - timedelta(seconds=window)
                )
                .order_by("created_at")
                .values_list("author_id", "created_at")
            )
            for author_id, created_at in recent:
                self.recent.setdefault(author_id, []).append(created_at)
        self.terms = [
            normalise(term) for term in (*realtime_settings.BLOCKED_TERMS, *stream.blocked_term_list())
        ]
        self.moderator_now: dict[int, bool] = {}

    @property
    def moderators(self) -> set[int]:
        """The batch's posters named as the stream's moderators. Read only when a rule asks (a
        restricted or slow-moded poster): most batches never do, and every statement saved is CPU the
        database thread spends per comment."""
        if self._moderators is None:
            # The M2M table itself: no related manager built and no join to the user table.
            named = Stream.moderators.through.objects.filter(stream_id=self.stream.pk, user_id__in=self.ids)
            self._moderators = set(named.values_list("user_id", flat=True))
        return self._moderators

    def is_moderator(self, user: Any) -> bool:
        if user.pk == self.stream.owner_id or user.pk in self.moderators:
            return user.is_active
        # Rare (restricted or slow-moded posters only), and the socket's user caches its permissions.
        if user.pk not in self.moderator_now:
            self.moderator_now[user.pk] = policy.is_moderator_now(self.stream, user)
        return self.moderator_now[user.pk]

    def check(self, user: Any, draft: CommentDraft) -> None:
        ban = self.restrictions.get((user.pk, StreamRestriction.Kind.BAN))
        mute = self.restrictions.get((user.pk, StreamRestriction.Kind.MUTE))
        timeout = self.restrictions.get((user.pk, StreamRestriction.Kind.TIMEOUT))
        exempt = bool(ban or mute or timeout) and self.is_moderator(user)
        policy.check(self.stream, policy.Standing(ban, mute, moderator=exempt, timeout=timeout), "comment")
        term = _blocked_term(self.terms, draft.text)
        if term:
            raise ProtocolError(
                "blocked_term", _("Your comment contains a blocked term (%(term)r).") % {"term": term}
            )
        recent = self.recent.get(user.pk, [])
        if self.count is not None:
            in_window = [t for t in recent if t > self.now - timedelta(seconds=self.period)]
            if len(in_window) >= self.count:
                retry = (in_window[-self.count] + timedelta(seconds=self.period) - self.now).total_seconds()
                raise ProtocolError(
                    "rate_limited",
                    _("At most %(count)d comments per %(period)g s; wait a moment.")
                    % {"count": self.count, "period": self.period},
                    retry_after=max(retry, 0.1),
                )
        wait = self.stream.slow_mode_seconds
        if wait and recent and not self.is_moderator(user):
            since = (self.now - recent[-1]).total_seconds()
            if since < wait:
                raise ProtocolError(
                    "slow_mode",
                    _("Slow mode is on: one comment every %(seconds)d s.") % {"seconds": wait},
                    retry_after=max(wait - since, 0.1),
                )

    def accepted(self, user: Any) -> None:
        self.recent.setdefault(user.pk, []).append(self.now)
