"""HTTP endpoints of the app."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from .conf import realtime_settings
from .tickets import SUBPROTOCOL, issue_ticket, ticket_subprotocol


@never_cache
@require_POST
def ticket(request: HttpRequest) -> JsonResponse:
    """A single-use ticket for opening one WebSocket as the logged-in user.

    POST (with CSRF protection) so a cross-site page cannot mint tickets for a visitor. JSON errors
    rather than a login redirect: the callers are programs. The ticket is tied to this session, so
    logging out revokes it; `protocols` is what to offer as the WebSocket's subprotocols.
    """
    if not request.user.is_authenticated:
        return JsonResponse(
            {"error": "auth_required", "message": _("Log in first; tickets are issued to users.")}, status=401
        )
    session = getattr(request, "session", None)
    token = issue_ticket(request.user, session_key=getattr(session, "session_key", None))
    return JsonResponse(
        {
            "ticket": token,
            "expires_in": realtime_settings.TICKET_MAX_AGE,
            "protocols": [SUBPROTOCOL, ticket_subprotocol(token)],
        }
    )
