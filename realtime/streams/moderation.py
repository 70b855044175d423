"""What moderators can do to a stream: the same functions serve the WebSocket `moderate` event, the
admin actions, and your own code. Each stores what changed and publishes it after commit."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ..api import kick, reauthorize
from ..eventlog import restore, store_event, withdraw
from ..exceptions import ProtocolError
from ..publishing import publish_on_commit
from .lookup import forget_stream
from .models import Comment, Stream, StreamRestriction
from .policy import fresh_user
from .rules import comment_payload

MAX_RESTRICTION_MINUTES = 60 * 24 * 365


def _stream_event(stream: Stream, name: str, data: dict[str, Any], *, resets_history: bool = False) -> int:
    # Every moderation event is a marker: it changes earlier comments or the stream's state.
    stored = store_event(stream.topic, name, data, marker=True, resets_history=resets_history)
    publish_on_commit(stored)
    assert stored.id is not None  # store_event() always assigns the next id on the topic
    return stored.id


def set_comment_state(comment: Comment, state: str) -> int | None:
    """Hide, delete or restore a comment: live overlays drop (or regain) it, and history follows."""
    if state not in Comment.State.values:
        raise ValueError(f"Unknown comment state {state!r}.")
    with transaction.atomic():
        comment = Comment.objects.select_for_update().select_related("stream", "author").get(pk=comment.pk)
        if comment.state == state:
            return None
        was_visible = comment.state == Comment.State.VISIBLE
        comment.state = state
        comment.save(update_fields=["state"])
        topic = comment.stream.topic
        if state == Comment.State.VISIBLE:
            restore(topic, comment.seq)
            return _stream_event(
                comment.stream, "comment.restored", comment_payload(comment), resets_history=True
            )
        if was_visible:
            withdraw(topic, comment.seq)
            return _stream_event(
                comment.stream, "comment.deleted", {"comment": comment.seq}, resets_history=True
            )
        return None


def restrict(
    stream: Stream, user: Any, kind: str, *, minutes: int | None = None, reason: str = "", by: Any = None
) -> StreamRestriction:
    """Mute (may watch, not post) or ban (neither) a user; a ban ends their subscriptions everywhere."""
    until = timezone.now() + timedelta(minutes=minutes) if minutes else None
    with transaction.atomic():
        restriction, _created = StreamRestriction.objects.update_or_create(
            stream=stream,
            user=user,
            kind=kind,
            defaults={"until": until, "reason": reason, "created_by": by, "created_at": timezone.now()},
        )
        enforce(restriction)
    return restriction


def enforce(restriction: StreamRestriction) -> None:
    """After commit, end a banned user's subscriptions to the stream on every process.

    A moderator is not kicked: the policy never bans moderators on their own stream."""
    if (
        restriction.kind == StreamRestriction.Kind.BAN
        and restriction.active
        and not restriction.stream.is_moderator(fresh_user(restriction.user))
    ):
        reason = f": {restriction.reason}" if restriction.reason else ""
        topic, user_id = restriction.stream.topic, restriction.user_id
        message = _("You were banned from this stream%(reason)s.") % {"reason": reason}
        transaction.on_commit(lambda: kick(topic, user_id, code="banned", message=message))


def lift(stream: Stream, user: Any, kind: str) -> bool:
    return StreamRestriction.objects.filter(stream=stream, user=user, kind=kind).delete()[0] > 0


def update_stream(stream: Stream, **changes: Any) -> int:
    """Change slow mode, open/close comments, anonymous viewing, or end the stream; viewers see it at
    once (and anonymous viewers of a stream made members-only are kicked with `auth_required`)."""
    allowed = {"slow_mode_seconds", "comments_open", "status", "allow_anonymous"}
    if set(changes) - allowed:
        raise ValueError(f"update_stream() changes only {sorted(allowed)}.")
    with transaction.atomic():
        # A QuerySet update sends no post_save: see for ourselves whether anonymous viewing ends.
        closing = (
            changes.get("allow_anonymous") is False
            and Stream.objects.select_for_update().filter(pk=stream.pk, allow_anonymous=True).exists()
        )
        Stream.objects.filter(pk=stream.pk).update(**changes)
        stream.refresh_from_db()
        transaction.on_commit(lambda: forget_stream(stream.pk))  # other processes: within a second
        if closing:
            topic = stream.topic
            transaction.on_commit(lambda: reauthorize(topic))
        return _stream_event(stream, "stream.updated", stream_state(stream))


def stream_state(stream: Stream) -> dict[str, Any]:
    return {
        "comments_open": stream.comments_open,
        "slow_mode_seconds": stream.slow_mode_seconds,
        "live": stream.is_live,
    }


# -- the WebSocket `moderate` event ---------------------------------------------------------------
def _int(data: dict[str, Any], name: str, *, low: int, high: int) -> int:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ProtocolError(
            "bad_message",
            _("Field %(name)r must be an integer from %(low)d to %(high)d.")
            % {"name": name, "low": low, "high": high},
        )
    return value


def moderate(stream_id: int, moderator: Any, data: dict[str, Any]) -> dict[str, Any]:
    """Carry out one `moderate` request from a moderator's socket; return the `ack` data."""
    stream = Stream.objects.filter(pk=stream_id).first()
    if stream is None:
        raise ProtocolError("not_found", _("This stream no longer exists."))
    # Re-read: a socket's user object caches permissions (and is_active) for as long as it is open.
    moderator = fresh_user(moderator)
    if moderator is None or not stream.is_moderator(moderator):
        raise ProtocolError("forbidden", _("Only this stream's moderators can do that."))
    action = data.get("action")
    if action in ("delete", "hide", "restore"):
        seq = _int(data, "comment", low=1, high=2**62)
        comment = Comment.objects.filter(stream=stream, seq=seq).first()
        if comment is None:
            raise ProtocolError("comment_not_found", _("No comment %(seq)d on this stream.") % {"seq": seq})
        state = {
            "delete": Comment.State.DELETED,
            "hide": Comment.State.HIDDEN,
            "restore": Comment.State.VISIBLE,
        }[action]
        set_comment_state(comment, state)
        return {"action": action, "comment": seq}
    if action in ("mute", "ban", "unmute", "unban"):
        user = get_user_model()._default_manager.filter(pk=_int(data, "user", low=1, high=2**62)).first()
        if user is None:
            raise ProtocolError("user_not_found", _("No such user."))
        if stream.is_moderator(user) and action in ("mute", "ban"):
            raise ProtocolError("forbidden", _("Moderators cannot mute or ban each other."))
        kind = StreamRestriction.Kind.BAN if action.endswith("ban") else StreamRestriction.Kind.MUTE
        if action.startswith("un"):
            lift(stream, user, kind)
        else:
            minutes = data.get("minutes")
            if minutes is not None:
                minutes = _int(data, "minutes", low=1, high=MAX_RESTRICTION_MINUTES)
            reason = data.get("reason") or ""
            if not isinstance(reason, str) or len(reason) > 200:
                raise ProtocolError(
                    "bad_message", _("Field 'reason' must be a string of at most 200 characters.")
                )
            restrict(stream, user, kind, minutes=minutes, reason=reason, by=moderator)
        return {"action": action, "user": user.pk}
    if action == "slow_mode":
        update_stream(stream, slow_mode_seconds=_int(data, "seconds", low=0, high=3600))
        return {"action": action, **stream_state(stream)}
    if action == "comments":
        open_ = data.get("open")
        if not isinstance(open_, bool):
            raise ProtocolError("bad_message", _("Field 'open' must be true or false."))
        update_stream(stream, comments_open=open_)
        return {"action": action, **stream_state(stream)}
    raise ProtocolError(
        "bad_message",
        _(
            "Field 'action' must be one of delete, hide, restore, mute, unmute, "
            "ban, unban, slow_mode, comments."
        ),
    )
