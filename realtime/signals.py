"""Changes made outside realtime's own code still reach open sockets, on every process.

A user who logs out loses that session's sockets and unused tickets. A user who is deactivated, or
whose password (hash) changes, loses all of their sockets: Django ends every other session on a
password change, and a socket is a session that never makes another request to be checked. That
includes the sockets of the session that changed the password (which `update_session_auth_hash`
keeps logged in): they close with 4003 too, and the page reconnects with its refreshed session when
it next loads (Django's PasswordChangeView redirects). Outstanding tickets die with the password as
well (`realtime.tickets` checks the password's fingerprint on redemption).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

from .api import disconnect_user
from .tickets import revoke_session_tickets


@receiver(user_logged_out, dispatch_uid="realtime.signals.logged_out")
def _on_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is None:
        return
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    # Now, in the logout's own transaction: a ticket must not outlive the session by a commit.
    revoke_session_tickets(session_key)
    transaction.on_commit(lambda: disconnect_user(user.pk, session_key=session_key))


@receiver(pre_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="realtime.signals.user_pre_save")
def _remember_access(sender: Any, instance: Any, update_fields: Any = None, **kwargs: Any) -> None:
    instance._realtime_revoke = False
    if not instance.pk:
        return
    # A save that names its fields and leaves out password and is_active (login's last_login) changes
    # neither: no query.
    deactivating = getattr(instance, "is_active", True) is False and (
        update_fields is None or "is_active" in update_fields)
    password_saved = hasattr(instance, "password") and (update_fields is None or "password" in update_fields)
    if not (deactivating or password_saved):
        return
    fields = ["password"] if password_saved else []
    fields += ["is_active"] if deactivating else []
    stored = sender._default_manager.filter(pk=instance.pk).values(*fields).first()
    if stored is None:
        return
    instance._realtime_revoke = (deactivating and stored["is_active"] is True) or (
        password_saved and stored["password"] != instance.password)


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="realtime.signals.user_saved")
def _on_access_revoked(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    if getattr(instance, "_realtime_revoke", False):
        instance._realtime_revoke = False
        transaction.on_commit(lambda: disconnect_user(instance.pk))
