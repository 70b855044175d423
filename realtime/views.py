"""HTTP endpoints of the app."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from .conf import realtime_settings
from .tickets import issue_ticket


@never_cache
@require_POST
def ticket(request: HttpRequest) -> JsonResponse:
    """A short-lived ticket for opening a WebSocket as the logged-in user (`?ticket=...`).

    POST (with CSRF protection) so a cross-site page cannot mint tickets for a visitor. JSON errors
    rather than a login redirect: the callers are programs.
    """
    if not request.user.is_authenticated:
        return JsonResponse({"error": "auth_required", "message": "Log in first; tickets are issued to users."},
                            status=401)
    return JsonResponse({"ticket": issue_ticket(request.user), "expires_in": realtime_settings.TICKET_MAX_AGE})
