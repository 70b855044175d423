"""Changes made outside realtime's own code still reach open sockets, on every process.

A user who logs out loses that session's sockets and unused tickets. A user who is deactivated, or
whose password (hash) changes, loses all of their sockets: Django ends every other session on a
password change, and a socket is a session that never makes another request to be checked. That
includes the sockets of the session that changed the password (which `update_session_auth_hash`
keeps logged in): they close with 4003 too, and the page reconnects with its refreshed session when
it next loads (Django's PasswordChangeView redirects). Outstanding tickets die with the password or
the deactivation as well, for good (marked revoked here; a reactivation does not revive them). A deleted user loses their
sockets too.

Group membership is checked when a `group.<id>` topic is subscribed to, so removing a user from a
group (from either side of the relation, or by clearing it) or deleting the group re-checks that
topic's subscribers on every process after commit: those no longer in it are kicked.

Taking away staff or superuser status, a permission (from the user or from a group) or a group
membership re-checks every topic that follows `realtime.topics.ACCOUNT` (the announcements' live panel
does), for that user (for every user when a group loses a permission or its members are cleared).
"""

from __future__ import annotations

import functools
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.signals import user_logged_out
from django.core.exceptions import FieldDoesNotExist
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save
from django.dispatch import Signal, receiver

from .api import disconnect_user, reauthorize
from .tickets import revoke_session_tickets, revoke_user_tickets
from .topics.base import ACCOUNT

#: Presence (docs/presence.md): a user's first connection joined a topic's roster in this process, or
#: their last one here left it. Sent with sender=the topic kind's class, topic=<name>, user_id=<key str>,
#: by the process that saw it (across processes, each sends for its own connections). Receivers run in
#: the event loop: keep them quick (queue any database write).
presence_joined = Signal()
presence_left = Signal()


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
    instance._realtime_revoke = instance._realtime_demoted = False
    if not instance.pk:
        return
    # A save that names its fields and leaves out password and is_active (login's last_login) changes
    # neither: no query.
    deactivating = getattr(instance, "is_active", True) is False and (
        update_fields is None or "is_active" in update_fields
    )
    password_saved = hasattr(instance, "password") and (update_fields is None or "password" in update_fields)
    demoting = [
        flag
        for flag in ("is_staff", "is_superuser")
        if getattr(instance, flag, True) is False and (update_fields is None or flag in update_fields)
    ]
    if not (deactivating or password_saved or demoting):
        return
    fields = ["password"] if password_saved else []
    fields += ["is_active"] if deactivating else []
    stored = sender._default_manager.filter(pk=instance.pk).values(*fields, *demoting).first()
    if stored is None:
        return
    instance._realtime_demoted = any(stored[flag] is True for flag in demoting)
    instance._realtime_revoke = (deactivating and stored["is_active"] is True) or (
        password_saved and stored["password"] != instance.password
    )


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="realtime.signals.user_saved")
def _on_access_revoked(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    if getattr(instance, "_realtime_demoted", False):
        instance._realtime_demoted = False
        _recheck_account(instance.pk)
    if getattr(instance, "_realtime_revoke", False):
        instance._realtime_revoke = False
        # Now, in the save's own transaction, as on logout. Marked revoked rather than judged by
        # `is_active` at redemption only: a reactivation must not bring the tickets back.
        revoke_user_tickets(instance.pk)
        transaction.on_commit(lambda: disconnect_user(instance.pk))


@receiver(post_delete, sender=settings.AUTH_USER_MODEL, dispatch_uid="realtime.signals.user_deleted")
def _on_user_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    user_id = instance.pk  # Django clears it once the delete is done
    transaction.on_commit(lambda: disconnect_user(user_id))


@functools.cache
def _user_groups_through() -> Any:
    """The m2m table between the user model and auth's Group, or None (a user model without groups)."""
    try:
        field = get_user_model()._meta.get_field("groups")
    except FieldDoesNotExist:
        return None
    if not field.many_to_many or field.related_model is not Group:
        return None
    return field.remote_field.through


def _recheck_account(user_id: int | None) -> None:
    """After commit, re-check the topics that follow the account of `user_id` (None: of everyone)."""
    transaction.on_commit(lambda: reauthorize(ACCOUNT, user_id=user_id))


def _recheck_accounts(instance: Any, action: str, reverse: bool, pk_set: Any) -> None:
    """For an m2m removal on the user's side (`user.x.remove()`: that user) or the other side
    (`x.user_set.remove(...)`: those users; `.clear()` or many: everyone, in one message)."""
    if not reverse:
        _recheck_account(instance.pk)
    elif action == "post_remove" and len(pk_set or ()) <= 20:
        for user_id in sorted(pk_set or ()):
            _recheck_account(user_id)
    else:
        _recheck_account(None)


def _recheck_groups(group_ids: Any) -> None:
    topics = [f"group.{pk}" for pk in sorted(set(group_ids))]
    if topics:

        def recheck() -> None:
            for topic in topics:
                reauthorize(topic)

        transaction.on_commit(recheck)


@receiver(m2m_changed, dispatch_uid="realtime.signals.groups_changed")
def _on_groups_changed(
    sender: Any, instance: Any, action: str, reverse: bool, pk_set: Any, **kwargs: Any
) -> None:
    if action not in ("pre_clear", "post_clear", "post_remove") or sender is not _user_groups_through():
        return
    if action != "pre_clear":  # the group's permissions went with the membership
        _recheck_accounts(instance, action, reverse, pk_set)
    if reverse:  # group.user_set.remove(...) / .clear(): one group
        if action != "pre_clear":
            _recheck_groups([instance.pk])
    elif action == "pre_clear":  # user.groups.clear(): which groups is only known before
        instance._realtime_cleared_groups = list(instance.groups.values_list("pk", flat=True))
    elif action == "post_clear":
        _recheck_groups(getattr(instance, "_realtime_cleared_groups", ()))
        instance._realtime_cleared_groups = ()
    else:
        _recheck_groups(pk_set or ())


@receiver(post_delete, sender=Group, dispatch_uid="realtime.signals.group_deleted")
def _on_group_deleted(sender: Any, instance: Group, **kwargs: Any) -> None:
    _recheck_groups([instance.pk])  # its topic now names nothing: every subscriber is kicked
    _recheck_account(None)  # and its members lost its permissions


@functools.cache
def _permission_throughs() -> tuple[Any, Any]:
    """The m2m tables user <-> Permission and Group <-> Permission (None where the user model has none)."""
    try:
        field = get_user_model()._meta.get_field("user_permissions")
        users = field.remote_field.through if field.many_to_many else None
    except FieldDoesNotExist:
        users = None
    return users, Group.permissions.through


@receiver(m2m_changed, dispatch_uid="realtime.signals.permissions_changed")
def _on_permissions_changed(
    sender: Any, instance: Any, action: str, reverse: bool, pk_set: Any, **kwargs: Any
) -> None:
    if action not in ("post_remove", "post_clear"):
        return
    users, groups = _permission_throughs()
    if sender is users:
        _recheck_accounts(instance, action, reverse, pk_set)
    elif sender is groups:
        _recheck_account(None)  # every member of the group (or groups) may have lost it
