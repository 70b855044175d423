"""Single-use tickets: how a client that cannot use the session cookie authenticates a WebSocket.

The client asks for a ticket over authenticated HTTP (`POST /realtime/ticket/`) and presents it once,
preferably as a WebSocket subprotocol (`Sec-WebSocket-Protocol: realtime, realtime.ticket.<ticket>`),
else as `?ticket=<ticket>`. A ticket

- is a random token of which only the SHA-256 is stored (`realtime.models.Ticket`);
- works once: redeeming it marks it used in one conditional UPDATE, so of two handshakes racing with
  the same ticket, on any processes, one gets the user and the other `auth_failed`;
- expires `REALTIME["TICKET_MAX_AGE"]` seconds after it was issued (the setting as it is when the
  ticket is redeemed, so lowering it also shortens tickets already out);
- dies with the session that asked for it (logout, session expiry), with a password change, and with
  the user's deactivation, for good: `realtime.signals` marks the user's unused tickets revoked when
  the user is deactivated, so reactivating the user does not bring them back. (A bulk
  `QuerySet.update(is_active=False)` sends no signal: such a user's tickets are refused while they
  stay inactive, and come back with them.)

See docs/security.md for why a ticket in a URL is acceptable under these rules.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import import_module
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext as _

from .conf import realtime_settings

SALT = "realtime.ticket"
# What the server selects when the client offers it; a ticket travels as TICKET_PROTOCOL_PREFIX + token.
SUBPROTOCOL = "realtime"
TICKET_PROTOCOL_PREFIX = "realtime.ticket."
# token_urlsafe's alphabet: valid in a URL query and in a Sec-WebSocket-Protocol token as it is.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,128}")
# A fingerprint no user's password hashes to (those are 32 hex digits): the ticket was revoked.
REVOKED = "revoked"
# Django's own session keys are 32 characters (40 at most). A longer "key" (the signed-cookie engine
# puts the whole session in it) cannot be revoked server-side, so such a ticket is not tied to it.
_MAX_SESSION_KEY = 40


class TicketError(Exception):
    """The ticket cannot be used; the message says why and what to do."""


def ticket_subprotocol(ticket: str) -> str:
    """The `Sec-WebSocket-Protocol` value that presents `ticket` (offer it after "realtime")."""
    return TICKET_PROTOCOL_PREFIX + ticket


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def _fingerprint(user: Any) -> str:
    # Changes whenever the password hash does, which is when Django ends the user's other sessions.
    return salted_hmac(SALT, user.password or "", algorithm="sha256").hexdigest()[:32]


def _expired_before(now: datetime) -> datetime:
    return now - timedelta(seconds=int(realtime_settings.TICKET_MAX_AGE))


def issue_ticket(user: Any, session_key: str | None = None) -> str:
    """A new single-use ticket for `user`; pass the requesting session's key so logout revokes it.

    Without a session (`manage.py realtime_ticket`, a bot's token auth) only expiry, a password change
    or deactivation revoke it. Runs database queries: call it from sync code.
    """
    from .models import Ticket

    if not getattr(user, "is_authenticated", False):
        raise TicketError(_("Tickets are only issued to logged-in users."))
    now = timezone.now()
    # Tidying on issue keeps the table at about one ticket lifetime's worth of rows; the indexed
    # range delete finds nothing to do most of the time.
    Ticket.objects.filter(created__lt=_expired_before(now)).delete()
    token = secrets.token_urlsafe(32)
    bound = session_key if session_key and len(session_key) <= _MAX_SESSION_KEY else ""
    Ticket.objects.create(
        digest=_digest(token), user=user, session_key=bound, fingerprint=_fingerprint(user), created=now
    )
    return token


@dataclass(frozen=True)
class Redemption:
    user: Any
    session_key: str  # the session that asked for the ticket; "" for a session-less ticket


def redeem_ticket(ticket: str) -> Any:
    """The active user a ticket names, or `TicketError`; the ticket is used up either way.

    Runs database queries: call it from sync code.
    """
    return redeem(ticket).user


def redeem(ticket: str) -> Redemption:
    """`redeem_ticket`, also naming the session the ticket belongs to."""
    from .models import Ticket

    if not isinstance(ticket, str) or not _TOKEN.fullmatch(ticket):
        raise TicketError(_("The ticket is not valid; request a new one from /realtime/ticket/."))
    digest = _digest(ticket)
    now = timezone.now()
    cutoff = _expired_before(now)
    # The one atomic step: of concurrent redemptions exactly one UPDATE matches the unused row.
    claimed = Ticket.objects.filter(digest=digest, used_at__isnull=True, created__gt=cutoff).update(
        used_at=now
    )
    row = Ticket.objects.select_related("user").filter(digest=digest).first()
    if row is None:
        raise TicketError(_("The ticket is not valid (unknown, or revoked by a logout); request a new one."))
    if not claimed:
        if row.created <= cutoff:
            raise TicketError(
                _("The ticket expired (tickets last %(seconds)s s); request a new one.")
                % {"seconds": realtime_settings.TICKET_MAX_AGE}
            )
        raise TicketError(
            _("The ticket was already used; tickets are single-use, request one per connection.")
        )
    user = row.user
    if (
        not getattr(user, "is_active", True)
        or not constant_time_compare(row.fingerprint, _fingerprint(user))
        or (row.session_key and not session_belongs_to(row.session_key, user))
    ):
        raise TicketError(
            _("The ticket was revoked (logout, password change or deactivation); request a new one.")
        )
    return Redemption(user, row.session_key)


def session_belongs_to(session_key: str, user: Any) -> bool:
    """Whether the session still exists, unexpired, logged in as `user`: asked of the session engine,
    so it holds for database, cache and file sessions alike."""
    from django.contrib.auth import SESSION_KEY

    engine = import_module(settings.SESSION_ENGINE)
    data = engine.SessionStore(session_key).load()
    return str(data.get(SESSION_KEY, "")) == str(user.pk)


def revoke_user_tickets(user_id: Any) -> int:
    """Mark every unused ticket of a user revoked (on deactivation or a password change); returns how
    many. The rows stay until they expire, so redeeming one says it was revoked rather than unknown."""
    from .models import Ticket

    return Ticket.objects.filter(user_id=user_id, used_at__isnull=True).update(fingerprint=REVOKED)


def revoke_session_tickets(session_key: str | None) -> int:
    """Delete the unused tickets a session asked for (on logout); returns how many there were."""
    from .models import Ticket

    if not session_key:
        return 0
    deleted, _ = Ticket.objects.filter(session_key=session_key, used_at__isnull=True).delete()
    return deleted
