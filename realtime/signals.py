"""Changes made outside realtime's own code still reach open sockets, on every process.

A user who logs out loses that session's sockets; a user who is deactivated loses all of theirs.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

from .api import disconnect_user


@receiver(user_logged_out, dispatch_uid="realtime.signals.logged_out")
def _on_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is None:
        return
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    transaction.on_commit(lambda: disconnect_user(user.pk, session_key=session_key))


@receiver(pre_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="realtime.signals.user_pre_save")
def _remember_active(sender: Any, instance: Any, **kwargs: Any) -> None:
    if instance.pk and getattr(instance, "is_active", True) is False:
        instance._realtime_was_active = sender._default_manager.filter(pk=instance.pk, is_active=True).exists()


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="realtime.signals.user_saved")
def _on_deactivate(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    if getattr(instance, "_realtime_was_active", False):
        instance._realtime_was_active = False
        transaction.on_commit(lambda: disconnect_user(instance.pk))
