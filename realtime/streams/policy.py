"""Who may take part in a stream right now: one set of rules for every publish.

Comments are judged by `rules.Judge` inside the storing transaction, reactions here with a lookup
cached for a second, moderation requests by `moderation.moderate`; all three apply `check` below
(comments and reactions) or `is_moderator_now` (moderation), never the snapshot taken when the viewer
subscribed. Moderators are never muted or banned on their own stream: a restriction on one is ignored
(take away their rights instead).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.utils.translation import gettext as _

from ..exceptions import Denied, ProtocolError
from .conf import realtime_settings
from .lookup import load_stream
from .models import Stream, StreamRestriction

if TYPE_CHECKING:
    from ..hub import Hub

# Seconds a user's restrictions are reused for reactions (a ban or mute applies within this bound),
# and seconds over which REACTION_RATE is counted.
STANDING_CACHE_SECONDS = 1.0
REACTION_WINDOW = 1.0


@dataclass(frozen=True, slots=True)
class Standing:
    """A user's restrictions on one stream. `moderator` is only looked up when one exists."""

    ban: StreamRestriction | None = None
    mute: StreamRestriction | None = None
    moderator: bool = False
    timeout: StreamRestriction | None = None


def _until(restriction: StreamRestriction) -> str:
    return (_(" until %(time)s UTC") % {"time": f"{restriction.until:%H:%M}"}) if restriction.until else ""


def check(stream: Stream, standing: Standing, action: str) -> None:
    """Raise the refusal of `action` ("comment" or "reaction") by a user of this standing, if any."""
    if not standing.moderator:
        # `active` is read now, not when the standing was loaded: a cached mute still expires on time.
        if standing.ban is not None and standing.ban.active:
            raise Denied(
                "banned", _("You are banned from this stream%(until)s.") % {"until": _until(standing.ban)}
            )
        if standing.timeout is not None and standing.timeout.active:
            raise Denied(
                "timed_out",
                _("You are timed out on this stream%(until)s.") % {"until": _until(standing.timeout)},
            )
        if standing.mute is not None and standing.mute.active:
            raise Denied(
                "muted", _("You are muted on this stream%(until)s.") % {"until": _until(standing.mute)}
            )
    if not stream.is_live:
        raise ProtocolError("stream_ended", _("This stream has ended; comments and reactions are closed."))
    if not stream.comments_open:
        raise ProtocolError("comments_closed", _("Comments are closed on this stream right now."))


def fresh_user(user: Any) -> Any | None:
    """The user re-read from the database (None if gone or anonymous).

    A socket's user object lives as long as the socket, and Django caches permissions on it: rights
    removed since the connection opened would otherwise still count.
    """
    if not getattr(user, "is_authenticated", False):
        return None
    return get_user_model()._default_manager.filter(pk=user.pk).first()


def is_moderator_now(stream: Stream, user: Any) -> bool:
    fresh = fresh_user(user)
    return fresh is not None and stream.is_moderator(fresh)


def load_standing(stream: Stream, user: Any) -> Standing:
    rows = {r.kind: r for r in StreamRestriction.objects.filter(stream=stream, user_id=user.pk)}
    if not rows:
        return Standing()
    return Standing(
        ban=rows.get(StreamRestriction.Kind.BAN),
        mute=rows.get(StreamRestriction.Kind.MUTE),
        moderator=is_moderator_now(stream, user),
        timeout=rows.get(StreamRestriction.Kind.TIMEOUT),
    )


# The restriction a viewer's page shows when several apply: the one that takes away the most.
SEVERITY = (StreamRestriction.Kind.BAN, StreamRestriction.Kind.TIMEOUT, StreamRestriction.Kind.MUTE)


def viewer_standing(stream: Stream, user: Any) -> dict[str, Any] | None:
    """What the viewer's own page shows of their restrictions on `stream` (None: none apply).

    `{"kind": "ban" | "timeout" | "mute", "until": ISO 8601 | None, "reason": str}`: the most severe
    active one. Moderators are never restricted on their own stream, so they always get None. The
    page disables the comment box and reactions until `until` passes (or the restriction is lifted).
    """
    if not getattr(user, "is_authenticated", False):
        return None
    rows = {r.kind: r for r in StreamRestriction.objects.filter(stream=stream, user_id=user.pk) if r.active}
    if not rows or is_moderator_now(stream, user):
        return None
    worst = next(rows[kind] for kind in SEVERITY if kind in rows)
    return {
        "kind": worst.kind,
        "until": worst.until.isoformat() if worst.until else None,
        "reason": worst.reason,
    }


class Participation:
    """Per hub (`hub.service(Participation)`): reaction admission, cheap enough for hundreds a second.

    The rate is counted per user and stream here, not per subscription, so resubscribing (or a second
    tab in this process) does not reset it. Entries idle for a second are dropped.
    """

    def __init__(self, hub: Hub | None = None) -> None:
        self.standings: dict[tuple[int, int], tuple[float, Standing]] = {}
        self.reactions: dict[tuple[int, int], deque[float]] = {}
        self.swept = 0.0

    async def admit_reaction(self, stream_id: int, user: Any) -> None:
        """Raise the refusal of one reaction by `user`, or count it against their rate."""
        stream = await load_stream(stream_id)  # at most a second old, like the standing
        if stream is None:
            raise ProtocolError("not_found", _("This stream no longer exists."))
        key = (user.pk, stream_id)
        cached = self.standings.get(key)
        if cached is None or cached[0] <= time.monotonic():
            standing = await database_sync_to_async(load_standing)(stream, user)
            self.standings[key] = (time.monotonic() + STANDING_CACHE_SECONDS, standing)
        else:
            standing = cached[1]
        check(stream, standing, "reaction")
        self.throttle(key, time.monotonic())

    def throttle(self, key: tuple[int, int], now: float) -> None:
        self.sweep(now)
        times = self.reactions.get(key)
        if times is None:
            times = self.reactions[key] = deque()
        while times and times[0] <= now - REACTION_WINDOW:
            times.popleft()
        rate = int(realtime_settings.REACTION_RATE)
        if len(times) >= rate:
            retry = times[0] + REACTION_WINDOW - now
            raise ProtocolError(
                "rate_limited",
                _("At most %(rate)d reactions a second; slow down.") % {"rate": rate},
                retry_after=max(retry, 0.1),
            )
        times.append(now)

    def sweep(self, now: float) -> None:
        """Forget expired standings and users who have not reacted for a window (once a second)."""
        if now - self.swept < REACTION_WINDOW:
            return
        self.swept = now
        self.standings = {key: value for key, value in self.standings.items() if value[0] > now}
        self.reactions = {
            key: times for key, times in self.reactions.items() if times and times[-1] > now - REACTION_WINDOW
        }
