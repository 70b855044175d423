"""Changes made outside realtime's own code still reach open sockets, on every process.

A user who logs out loses that session's sockets; a user who is deactivated loses all of theirs. A
comment deleted by any means (a cascade from its author or stream, `QuerySet.delete()`) is withdrawn
from history and removed from live overlays, as a moderator's delete is.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from . import eventlog
from .api import disconnect_user, publish_on_commit
from .models import Comment, Event, Stream, TopicSequence


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


@receiver(post_delete, sender=Comment, dispatch_uid="realtime.signals.comment_deleted")
def _on_comment_deleted(sender: Any, instance: Comment, **kwargs: Any) -> None:
    topic = f"stream.{instance.stream_id}"
    if instance.state != Comment.State.VISIBLE or not Stream.objects.filter(pk=instance.stream_id).exists():
        eventlog.withdraw(topic, instance.seq)  # already announced, or the whole stream is going
        return
    with transaction.atomic():
        eventlog.withdraw(topic, instance.seq)
        publish_on_commit(eventlog.store_event(topic, "comment.deleted", {"comment": instance.seq},
                                               resets_history=True))


@receiver(post_delete, sender=Stream, dispatch_uid="realtime.signals.stream_deleted")
def _on_stream_deleted(sender: Any, instance: Stream, **kwargs: Any) -> None:
    # The topic's log goes with the stream; a later stream can never inherit its ids or history.
    Event.objects.filter(topic=instance.topic).delete()
    TopicSequence.objects.filter(topic=instance.topic).delete()
