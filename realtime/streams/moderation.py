"""What moderators can do to a stream: the same functions serve the WebSocket `moderate` event, the
admin actions, and your own code. Each stores what changed and publishes it after commit."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.translation import gettext as _

from ..api import broadcast, reauthorize
from ..eventlog import restore, store_event, withdraw
from ..exceptions import ProtocolError
from ..publishing import publish_on_commit
from .lookup import forget_stream
from .models import Comment, Stream, StreamRestriction
from .policy import fresh_user
from .restrictions import (
    MAX_TIMEOUT_SECONDS,
    MIN_TIMEOUT_SECONDS,
    current_restrictions,
    enforce,
    lift,
    moderators_topic,
    restrict,
)
from .rules import comment_payload

__all__ = ["enforce", "lift", "moderate", "restrict", "set_comment_state", "stream_state", "update_stream"]

MAX_RESTRICTION_MINUTES = 60 * 24 * 365
MAX_REASON = 200


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
        # Moderators keep a list of hidden comments to restore from: every change reaches them.
        moderated = {"comment": comment_payload(comment), "state": state}
        broadcast(moderators_topic(comment.stream), "comment.state", moderated)
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


def _reason(data: dict[str, Any]) -> str:
    reason = data.get("reason") or ""
    if not isinstance(reason, str) or len(reason) > MAX_REASON or not reason.isprintable():
        raise ProtocolError(
            "bad_message",
            _("Field 'reason' must be a string of at most %(limit)d printable characters.")
            % {"limit": MAX_REASON},
        )
    return " ".join(reason.split())


_KINDS = {
    "mute": StreamRestriction.Kind.MUTE,
    "timeout": StreamRestriction.Kind.TIMEOUT,
    "ban": StreamRestriction.Kind.BAN,
}
_ACTIONS = (
    "delete, hide, restore, mute, unmute, timeout, untimeout, ban, unban, restrictions, slow_mode, comments"
)


def _restriction(stream: Stream, moderator: Any, action: str, data: dict[str, Any]) -> dict[str, Any]:
    user = get_user_model()._default_manager.filter(pk=_int(data, "user", low=1, high=2**62)).first()
    if user is None:
        raise ProtocolError("user_not_found", _("No such user."))
    lifting = action.startswith("un")
    kind = _KINDS[action[2:] if lifting else action]
    if lifting:
        if not lift(stream, user, kind, by=moderator):
            raise ProtocolError(
                "not_restricted", _("%(user)s has no such restriction on this stream.") % {"user": user}
            )
        return {"action": action, "user": user.pk}
    if stream.is_moderator(user):
        raise ProtocolError(
            "target_is_moderator",
            _("Moderators cannot restrict each other; take away their moderator rights first."),
        )
    seconds = minutes = None
    if kind == StreamRestriction.Kind.TIMEOUT:
        seconds = _int(data, "seconds", low=MIN_TIMEOUT_SECONDS, high=MAX_TIMEOUT_SECONDS)
    elif data.get("minutes") is not None:
        minutes = _int(data, "minutes", low=1, high=MAX_RESTRICTION_MINUTES)
    restriction = restrict(
        stream, user, kind, minutes=minutes, seconds=seconds, reason=_reason(data), by=moderator
    )
    until = restriction.until.isoformat() if restriction.until else None
    return {"action": action, "user": user.pk, "until": until}


def moderate(stream_id: int, moderator: Any, data: dict[str, Any]) -> dict[str, Any]:
    """Carry out one `moderate` request from a moderator's socket; return the `ack` data.

    Refusals, each with its stable code: `not_found` (no stream), `forbidden` (not this stream's
    moderator, read fresh from the database), `bad_message` (a field), `comment_not_found`,
    `user_not_found`, `target_is_moderator`, `not_restricted` (lifting what is not there)."""
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
    if action in ("mute", "unmute", "timeout", "untimeout", "ban", "unban"):
        return _restriction(stream, moderator, action, data)
    if action == "restrictions":
        return {"action": action, "restrictions": current_restrictions(stream)}
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
        "bad_message", _("Field 'action' must be one of %(actions)s.") % {"actions": _ACTIONS}
    )
