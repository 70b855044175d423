"""A comment deleted by any means (a cascade from its author or stream, `QuerySet.delete()`) is withdrawn
from history and removed from live overlays, as a moderator's delete is; a deleted stream takes its
topic's log with it."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from ..eventlog import store_event, withdraw
from ..models import Event, TopicSequence
from ..publishing import publish_on_commit
from .lookup import forget_stream
from .models import Comment, Stream


@receiver(post_delete, sender=Comment, dispatch_uid="realtime.streams.comment_deleted")
def _on_comment_deleted(sender: Any, instance: Comment, **kwargs: Any) -> None:
    topic = f"stream.{instance.stream_id}"
    if instance.state != Comment.State.VISIBLE or not Stream.objects.filter(pk=instance.stream_id).exists():
        withdraw(topic, instance.seq)  # already announced, or the whole stream is going
        return
    with transaction.atomic():
        withdraw(topic, instance.seq)
        publish_on_commit(store_event(topic, "comment.deleted", {"comment": instance.seq}, resets_history=True))


@receiver(post_delete, sender=Stream, dispatch_uid="realtime.streams.stream_deleted")
def _on_stream_deleted(sender: Any, instance: Stream, **kwargs: Any) -> None:
    forget_stream(instance.pk)
    # The topic's log goes with the stream; a later stream can never inherit its ids or history.
    Event.objects.filter(topic=instance.topic).delete()
    TopicSequence.objects.filter(topic=instance.topic).delete()


@receiver(post_save, sender=Stream, dispatch_uid="realtime.streams.stream_saved")
def _on_stream_saved(sender: Any, instance: Stream, **kwargs: Any) -> None:
    forget_stream(instance.pk)  # this process at once; the others within STREAM_CACHE_SECONDS
