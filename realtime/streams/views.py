"""The replay read: a stream's comments by media time, for watching a recording in sync.

    GET <prefix>/<stream id>/comments/?from=<s>&to=<s>&limit=<n>&after=<cursor>

Comments with `from <= media_time < to` (seconds into the video; `to` optional), ordered by media time
then id, at most `limit` (default 200, at most 500) a page. `next` is the URL of the following page
(null on the last), carrying an opaque `after` cursor. Answer:

    {"stream": 3, "from": 0.0, "to": 60.0, "comments": [<comment as in the `comment` event>], "next": null}

Consistent with the socket: only visible comments (hidden and deleted ones never replay), only those
with a media time, and only for viewers who could subscribe to the stream (anonymous visitors when the
stream allows them, not users banned from it; moderators always). Refusals are JSON with a stable code:
`{"error": {"code": "auth_required" | "banned" | "not_found" | "bad_request", "message": "..."}}`.
"""

from __future__ import annotations

import math
from typing import Any

from django.db.models import Q
from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .models import Comment, Stream, StreamRestriction
from .rules import MAX_MEDIA_TIME, active_restriction, comment_payload

DEFAULT_LIMIT = 200
MAX_LIMIT = 500


class BadQuery(ValueError):
    pass


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


def _seconds(request: HttpRequest, name: str, default: float | None) -> float | None:
    raw = request.GET.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise BadQuery(_("'%(name)s' must be a number of seconds.") % {"name": name}) from None
    if not (math.isfinite(value) and 0 <= value <= MAX_MEDIA_TIME):
        raise BadQuery(
            _("'%(name)s' must be a number of seconds from 0 to %(max)d.")
            % {"name": name, "max": MAX_MEDIA_TIME}
        )
    return value


def _limit(request: HttpRequest) -> int:
    raw = request.GET.get("limit") or str(DEFAULT_LIMIT)
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise BadQuery(_("'limit' must be a whole number from 1 to %(max)d.") % {"max": MAX_LIMIT})
    return int(raw)


def _cursor(request: HttpRequest) -> tuple[float, int] | None:
    raw = request.GET.get("after")
    if not raw:
        return None
    time_part, _sep, seq_part = raw.partition("_")
    try:
        value, seq = float(time_part), int(seq_part)
    except ValueError:
        raise BadQuery(_("'after' must be the cursor of a previous page.")) from None
    if not math.isfinite(value) or seq < 0:
        raise BadQuery(_("'after' must be the cursor of a previous page."))
    return value, seq


def _refusal(request: HttpRequest, stream: Stream) -> JsonResponse | None:
    """The same decision as subscribing to the stream's topic (StreamTopic.authorize_subscribe)."""
    user = request.user
    if not getattr(user, "is_authenticated", False):
        if not stream.allow_anonymous:
            return _error(403, "auth_required", _("Log in to watch this stream."))
        return None
    if active_restriction(stream, user, StreamRestriction.Kind.BAN) is not None and not stream.is_moderator(
        user
    ):
        return _error(403, "banned", _("You are banned from this stream."))
    return None


@never_cache  # a moderator's hide or delete must take effect on the next read
@require_GET
def replay(request: HttpRequest, pk: int) -> JsonResponse:
    stream = Stream.objects.filter(pk=pk).first()
    if stream is None:
        return _error(404, "not_found", _("This stream no longer exists."))
    refused = _refusal(request, stream)
    if refused is not None:
        return refused
    try:
        start = _seconds(request, "from", 0.0)
        end = _seconds(request, "to", None)
        limit = _limit(request)
        after = _cursor(request)
    except BadQuery as exc:
        return _error(400, "bad_request", str(exc))
    assert start is not None
    rows = Comment.objects.filter(
        stream=stream, state=Comment.State.VISIBLE, media_time__isnull=False, media_time__gte=start
    )
    if end is not None:
        rows = rows.filter(media_time__lt=end)
    if after is not None:
        rows = rows.filter(Q(media_time__gt=after[0]) | Q(media_time=after[0], seq__gt=after[1]))
    page = list(rows.select_related("author").order_by("media_time", "seq")[: limit + 1])
    more = len(page) > limit
    page = page[:limit]
    body: dict[str, Any] = {
        "stream": stream.pk,
        "from": start,
        "to": end,
        "comments": [comment_payload(c) for c in page],
        "next": None,
    }
    if more:
        last = page[-1]
        query = {"from": repr(start), "limit": str(limit), "after": f"{last.media_time!r}_{last.seq}"}
        if end is not None:
            query["to"] = repr(end)
        body["next"] = f"{reverse('realtime_streams:replay', args=[stream.pk])}?{urlencode(query)}"
    return JsonResponse(body)
