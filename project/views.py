"""Pages of the example site: the list of streams, the watch page and the staff's live dashboard."""

from __future__ import annotations

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import Case, Value, When
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from realtime.streams.models import Stream

from . import dashboard as figures


def home(request: HttpRequest) -> HttpResponse:
    """Every stream: live ones first, then those anyone may watch before members-only ones, newest first.
    (Not order_by("status"): that sorts the stored values, and "ended" comes before "live".)"""
    live_first = Case(When(status=Stream.Status.LIVE, then=Value(0)), default=Value(1))
    streams = Stream.objects.select_related("owner").order_by(live_first, "-allow_anonymous", "-created_at")
    return render(request, "streams/home.html", {"streams": streams})


def watch(request: HttpRequest, slug: str) -> HttpResponse:
    """The watch page: player, comment overlay and chat for one stream (see realtime/streams/stream.html).

    Whether the visitor may watch is decided by the stream topic when the page's socket subscribes,
    the same check every client gets; the page itself only says so up front for a clearer message.
    """
    stream = get_object_or_404(Stream.objects.select_related("owner"), slug=slug)
    needs_login = not stream.allow_anonymous and not request.user.is_authenticated
    return render(request, "streams/watch.html", {"stream": stream, "needs_login": needs_login})


def dashboard(request: HttpRequest) -> HttpResponse:
    """Streams with their viewers and comments per minute, announcements with their receipts, kept live
    by realtime.live (project/live.py registers the views). Staff only: it shows members-only streams
    and every announcement's receipts, which the admin shows only to staff; the live views check the
    same rule on every subscription."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not figures.is_staff(request.user):
        raise PermissionDenied
    return render(request, "dashboard/dashboard.html", {"minutes": figures.MINUTES})
