"""The list page of a user's notifications, and the form that marks them read without JavaScript.

Pages with JavaScript mark notifications read over their socket (a `read` publish on
`notify.<id>`, see `topic.py`); this view serves the same forms when there is no script, CSRF-protected
like every POST. Either way every open tab of the user updates through the topic.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from .api import mark_read, unread_count
from .models import Notification
from .texts import unread_sentence
from .validation import read_ids

PAGE_SIZE = 20


@never_cache
@login_required
def notification_list(request: HttpRequest) -> HttpResponse:
    """The user's notifications, newest first, `PAGE_SIZE` a page (`?page=2`)."""
    rows = Notification.objects.filter(recipient_id=request.user.pk).order_by("-id")
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    unread = unread_count(request.user)
    return render(
        request,
        "realtime/notifications/list.html",
        {
            "page_obj": page,
            "unread": unread,
            "sentence": unread_sentence(unread),
            "read_url": reverse("realtime_notifications:read"),
        },
    )


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@never_cache
@require_POST
def read(request: HttpRequest) -> HttpResponse:
    """Mark `ids` (repeated field) or `all=1` read; back to `next` (this site only) or the list.

    Errors have stable codes: `auth_required` (401 for JSON callers; else the login page), `bad_read`
    (400: neither a list of ids nor `all`)."""
    if not request.user.is_authenticated:
        if _wants_json(request):
            return JsonResponse({"error": "auth_required", "message": _("Log in first.")}, status=401)
        return redirect_to_login(reverse("realtime_notifications:list"))
    if request.POST.get("all") == "1":
        ids = None
    else:
        try:
            ids = read_ids([int(i) for i in request.POST.getlist("ids")])
        except ValueError:
            message = _("Send ids=<notification id> (up to 100) or all=1.")
            return JsonResponse({"error": "bad_read", "message": message}, status=400)
    marked = mark_read(request.user, ids)
    if _wants_json(request):
        return JsonResponse({"marked": marked, "unread": unread_count(request.user)})
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        target = reverse("realtime_notifications:list")
    return redirect(target)
