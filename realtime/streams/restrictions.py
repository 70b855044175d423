"""Mutes, timeouts and bans: setting and lifting them, and telling everyone concerned after commit.

Who hears what (all sent from `transaction.on_commit`, through the core's public API):
- the stream's moderators, on `stream_mod.<id>` (`realtime.streams.modtopic`): `restriction.set` and
  `restriction.lifted`, with who did it and when, so every moderator's list stays current;
- the restricted viewer, on their own `user.<id>` topic: `stream.standing`, what their page must show
  now (`policy.viewer_standing`), so the comment box closes and opens without a reload;
- a banned viewer's subscriptions to the stream end on every process (`kick`, code `banned`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ..api import broadcast, kick
from .models import Comment, Stream, StreamRestriction
from .policy import fresh_user, viewer_standing
from .rules import comment_payload

# Twitch's bounds: a timeout lasts from a second to two weeks.
MIN_TIMEOUT_SECONDS = 1
MAX_TIMEOUT_SECONDS = 14 * 24 * 3600
# How many recently hidden comments a moderator's panel starts from, and how many comments a banned
# viewer's page still lists.
HIDDEN_LISTED = 50
BANNED_HISTORY = 50


def moderators_topic(stream: Stream | int) -> str:
    return f"stream_mod.{stream if isinstance(stream, int) else stream.pk}"


def _person(user: Any) -> dict[str, Any] | None:
    return None if user is None else {"id": user.pk, "username": user.get_username()}


def restriction_payload(restriction: StreamRestriction) -> dict[str, Any]:
    """A restriction as moderators' pages list it: who, what, until when, why, set by whom and when."""
    return {
        "user": _person(restriction.user),
        "kind": restriction.kind,
        "until": restriction.until.isoformat() if restriction.until else None,
        "reason": restriction.reason,
        "by": _person(restriction.created_by),
        "at": restriction.created_at.isoformat(),
    }


def current_restrictions(stream: Stream) -> list[dict[str, Any]]:
    """The stream's active restrictions, newest first (expired timeouts are left out)."""
    rows = StreamRestriction.objects.filter(stream=stream).select_related("user", "created_by")
    return [restriction_payload(r) for r in rows.order_by("-created_at", "-pk") if r.active]


def hidden_comments(stream: Stream) -> list[dict[str, Any]]:
    """The stream's most recently hidden comments, for moderators to restore."""
    rows = Comment.objects.filter(stream=stream, state=Comment.State.HIDDEN).select_related("author")
    return [comment_payload(c) for c in rows.order_by("-seq")[:HIDDEN_LISTED]]


def _tell_viewer(stream: Stream, user: Any) -> None:
    # Stored on the user's topic: a tab that was offline gets it when it resumes.
    broadcast(
        f"user.{user.pk}", "stream.standing", {"stream": stream.pk, "standing": viewer_standing(stream, user)}
    )


def restrict(
    stream: Stream,
    user: Any,
    kind: str,
    *,
    minutes: int | None = None,
    seconds: int | None = None,
    reason: str = "",
    by: Any = None,
) -> StreamRestriction:
    """Mute (may watch, not post or react), time out (the same, for a while) or ban (neither) a user.

    Replaces an earlier restriction of the same kind. A ban ends their subscriptions everywhere."""
    if kind not in StreamRestriction.Kind.values:
        raise ValueError(f"Unknown restriction kind {kind!r}.")
    length = timedelta(minutes=minutes or 0, seconds=seconds or 0)
    if kind == StreamRestriction.Kind.TIMEOUT and not length:
        raise ValueError("A timeout needs a duration (seconds= or minutes=).")
    now = timezone.now()
    with transaction.atomic():
        restriction, _created = StreamRestriction.objects.update_or_create(
            stream=stream,
            user=user,
            kind=kind,
            defaults={
                "until": now + length if length else None,
                "reason": reason,
                "created_by": by,
                "created_at": now,
            },
        )
        enforce(restriction)
    return restriction


def enforce(restriction: StreamRestriction) -> None:
    """After commit: tell the moderators and the viewer, and end a banned viewer's subscriptions on
    every process. A moderator is not kicked: the policy never restricts moderators on their stream."""
    stream = restriction.stream
    broadcast(moderators_topic(stream), "restriction.set", restriction_payload(restriction))
    _tell_viewer(stream, restriction.user)
    if (
        restriction.kind == StreamRestriction.Kind.BAN
        and restriction.active
        and not stream.is_moderator(fresh_user(restriction.user))
    ):
        reason = f": {restriction.reason}" if restriction.reason else ""
        topic, user_id = stream.topic, restriction.user_id
        message = _("You were banned from this stream%(reason)s.") % {"reason": reason}
        transaction.on_commit(lambda: kick(topic, user_id, code="banned", message=message))


def lift(stream: Stream, user: Any, kind: str, *, by: Any = None) -> bool:
    """End a restriction (any moderator of the stream may lift any, whoever set it); False if there
    was none. An expired timeout still counts as one, so lifting it twice is not an error."""
    with transaction.atomic():
        deleted = StreamRestriction.objects.filter(stream=stream, user=user, kind=kind).delete()[0] > 0
        if deleted:
            announce_lifted(stream, user, kind, by=by)
    return deleted


def announce_lifted(stream: Stream, user: Any, kind: str, *, by: Any = None) -> None:
    """After commit: the moderators drop the row, the viewer's page opens again (if nothing else holds)."""
    lifted = {"user": _person(user), "kind": kind, "by": _person(by), "at": timezone.now().isoformat()}
    broadcast(moderators_topic(stream), "restriction.lifted", lifted)
    _tell_viewer(stream, user)


def page_standing(stream: Stream, user: Any) -> dict[str, Any] | None:
    """`viewer_standing` for the page's first render; a banned viewer also gets the comments that
    were visible up to the ban (their subscription is refused, so no replay brings them): the chat
    as they last saw it, the same after a reload as when the ban reached them live."""
    standing = viewer_standing(stream, user)
    if standing is None or standing["kind"] != StreamRestriction.Kind.BAN:
        return standing
    ban = StreamRestriction.objects.filter(stream=stream, user=user, kind=StreamRestriction.Kind.BAN).first()
    rows = Comment.objects.filter(stream=stream, state=Comment.State.VISIBLE).select_related("author")
    if ban is not None:
        rows = rows.filter(created_at__lte=ban.created_at)
    history = [comment_payload(c) for c in reversed(rows.order_by("-seq")[:BANNED_HISTORY])]
    return {**standing, "history": history}
