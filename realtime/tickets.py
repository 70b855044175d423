"""Short-lived signed tickets: how a non-browser client authenticates a WebSocket.

The client asks for a ticket over authenticated HTTP (`POST /realtime/ticket/`) and connects with
`?ticket=...`. The ticket is signed with SECRET_KEY, names the user, and expires after
`REALTIME["TICKET_MAX_AGE"]` seconds, so a URL that leaks into a log is useless a minute later; it also
carries a hash of the user's password so changing the password revokes outstanding tickets.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core import signing
from django.utils.crypto import salted_hmac

from .conf import realtime_settings

SALT = "realtime.ticket"


class TicketError(Exception):
    """The ticket cannot be used; the message says why and what to do."""


def _password_fingerprint(user: Any) -> str:
    return salted_hmac(SALT, user.password or "", algorithm="sha256").hexdigest()[:16]


def issue_ticket(user: Any) -> str:
    """A ticket for `user`, valid for `REALTIME["TICKET_MAX_AGE"]` seconds."""
    if not getattr(user, "is_authenticated", False):
        raise TicketError("Tickets are only issued to logged-in users.")
    return signing.TimestampSigner(salt=SALT).sign_object({"u": user.pk, "p": _password_fingerprint(user)})


def redeem_ticket(ticket: str) -> Any:
    """The active user a ticket names, or `TicketError`. Runs database queries: call it from sync code."""
    max_age = int(realtime_settings.TICKET_MAX_AGE)
    try:
        payload = signing.TimestampSigner(salt=SALT).unsign_object(ticket, max_age=max_age)
    except signing.SignatureExpired:
        raise TicketError(f"The ticket expired (tickets last {max_age} s); request a new one.") from None
    except (signing.BadSignature, ValueError, TypeError):
        raise TicketError("The ticket is not valid; request a new one from /realtime/ticket/.") from None
    try:
        user = get_user_model()._default_manager.get(pk=payload["u"])
    except (get_user_model().DoesNotExist, KeyError, TypeError, ValueError):
        raise TicketError("The ticket's user no longer exists.") from None
    if not user.is_active or payload.get("p") != _password_fingerprint(user):
        raise TicketError("The ticket was revoked; request a new one.")
    return user
