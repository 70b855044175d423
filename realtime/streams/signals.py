"""A comment deleted by any means (a cascade from its author, `QuerySet.delete()`) is withdrawn from
history and removed from live overlays, as a moderator's delete is; a deleted stream takes its topic's
log with it; a stream made members-only (`save()`, the admin) sheds its anonymous viewers.

One deletion may take comments from several streams (a user's, cascading from their account): their
`comment.deleted` events are stored together once the last of them is gone, through
`eventlog.store_on_topics`, which locks the streams' id counters in the one order every multi-topic
writer shares; a deletion that also removes streams (their owner's) locks their counters in the same
sorted statement first. Taken as each comment or stream went, the counters would be locked in deletion
order, and two such deletions (or one and an announcement round) could deadlock on PostgreSQL, which
then aborts one of them.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete, pre_save
from django.dispatch import receiver

from ..api import reauthorize
from ..eventlog import lock_topics, store_on_topics, withdraw
from ..models import Event, TopicSequence
from ..publishing import publish_on_commit
from ..topics import ACCOUNT
from .lookup import forget_stream
from .models import Comment, Stream

# Streams whose deletion is under way in this thread, with the object `delete()` was called on. A
# cascade deletes a stream's comments (and sends their post_delete) while its row still exists; their
# topic log goes with the stream, so nothing is stored or published per comment. Keyed by the origin
# so that a deletion that failed half-way cannot silence a later, unrelated comment delete.
_deleting = threading.local()
_NOT_DELETING = object()


def _streams_being_deleted() -> dict[int, Any]:
    marks = getattr(_deleting, "streams", None)
    if marks is None:
        marks = _deleting.streams = {}
    return marks


@receiver(pre_delete, sender=Stream, dispatch_uid="realtime.streams.stream_deleting")
def _on_stream_deleting(sender: Any, instance: Stream, origin: Any = None, **kwargs: Any) -> None:
    _streams_being_deleted()[instance.pk] = origin
    _deleting.locked_for = None  # a deletion is starting: its counters are not locked yet


def _lock_counters(origin: Any, announced: list[tuple[str, str, dict[str, Any]]]) -> None:
    """Before the first counter a deletion changes, lock all it will change in the shared order: the
    streams it announces deletions on and the streams it deletes (their counter rows go with them).
    Django sends every pre_delete before the first post_delete, so all are known by then."""
    if getattr(_deleting, "locked_for", None) is origin:
        return
    doomed = [f"stream.{pk}" for pk, by in _streams_being_deleted().items() if by is origin]
    lock_topics([topic for topic, _name, _data in announced] + doomed)
    _deleting.locked_for = origin


@dataclass(slots=True)
class _Deletion:
    """The comments one `delete()` removes, between their pre_delete and their post_delete signals
    (Django sends every pre_delete of a deletion before the first post_delete)."""

    origin: Any
    left: set[int] = field(default_factory=set)  # comments whose post_delete has not come yet
    announced: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    removing: bool = False  # a post_delete came: a pre_delete now is another deletion's


def _deletions() -> dict[int, _Deletion]:
    """This thread's deletions under way, by id() of their origin (the deletion keeps it alive)."""
    deletions = getattr(_deleting, "comments", None)
    if deletions is None:
        deletions = _deleting.comments = {}
    return deletions


@receiver(pre_delete, sender=Comment, dispatch_uid="realtime.streams.comment_deleting")
def _on_comment_deleting(sender: Any, instance: Comment, origin: Any = None, **kwargs: Any) -> None:
    deletion = _deletions().get(id(origin))
    # New; or left by a deletion of the same object that failed half-way (it is retried).
    if deletion is None or deletion.origin is not origin or deletion.removing:
        deletion = _deletions()[id(origin)] = _Deletion(origin)
    deletion.left.add(instance.pk)
    _deleting.locked_for = None  # a deletion is starting: its counters are not locked yet


@receiver(post_delete, sender=Comment, dispatch_uid="realtime.streams.comment_deleted")
def _on_comment_deleted(sender: Any, instance: Comment, origin: Any = None, **kwargs: Any) -> None:
    deletion = _deletions().get(id(origin))
    if deletion is None or deletion.origin is not origin or instance.pk not in deletion.left:
        deletion = _Deletion(origin, {instance.pk})  # a post_delete sent without its pre_delete
    deletion.removing = True
    deletion.left.discard(instance.pk)
    if _streams_being_deleted().get(instance.stream_id, _NOT_DELETING) is not origin:
        topic = f"stream.{instance.stream_id}"
        withdraw(topic, instance.seq)
        if instance.state == Comment.State.VISIBLE:  # else its removal was announced already
            deletion.announced.append((topic, "comment.deleted", {"comment": instance.seq}))
    # else: the stream's whole log is deleted with it below
    if deletion.left:
        return
    if _deletions().get(id(origin)) is deletion:
        del _deletions()[id(origin)]
    if deletion.announced:
        with transaction.atomic():
            _lock_counters(origin, deletion.announced)
            for event in store_on_topics(deletion.announced, resets_history=True):
                publish_on_commit(event)


@receiver(post_delete, sender=Stream, dispatch_uid="realtime.streams.stream_deleted")
def _on_stream_deleted(sender: Any, instance: Stream, origin: Any = None, **kwargs: Any) -> None:
    _lock_counters(origin, [])
    _streams_being_deleted().pop(instance.pk, None)
    forget_stream(instance.pk)
    # The topic's log goes with the stream; a later stream can never inherit its ids or history.
    Event.objects.filter(topic=instance.topic).delete()
    TopicSequence.objects.filter(topic=instance.topic).delete()


# Set on the instance between pre_save and post_save (not a model field): the save closes a stream that
# anonymous viewers could watch until now.
_CLOSING_TO_ANONYMOUS = "_realtime_closing_to_anonymous"


@receiver(pre_save, sender=Stream, dispatch_uid="realtime.streams.stream_pre_save")
def _remember_anonymous(sender: Any, instance: Stream, update_fields: Any = None, **kwargs: Any) -> None:
    closing = (
        instance.pk is not None
        and not instance.allow_anonymous
        and (update_fields is None or "allow_anonymous" in update_fields)
    )
    was_open = closing and sender._default_manager.filter(pk=instance.pk, allow_anonymous=True).exists()
    setattr(instance, _CLOSING_TO_ANONYMOUS, was_open)


@receiver(post_save, sender=Stream, dispatch_uid="realtime.streams.stream_saved")
def _on_stream_saved(sender: Any, instance: Stream, **kwargs: Any) -> None:
    forget_stream(instance.pk)  # this process at once; the others within STREAM_CACHE_SECONDS
    if getattr(instance, _CLOSING_TO_ANONYMOUS, False):
        setattr(instance, _CLOSING_TO_ANONYMOUS, False)
        topic = instance.topic
        # Members-only now: every process re-checks its subscribers and kicks anonymous ones.
        transaction.on_commit(lambda: reauthorize(topic))


@receiver(m2m_changed, sender=Stream.moderators.through, dispatch_uid="realtime.streams.moderators_changed")
def _on_moderators_removed(
    sender: Any, instance: Any, action: str, reverse: bool, pk_set: Any, **kwargs: Any
) -> None:
    """A user no longer a stream's moderator leaves its moderators' topic (`stream_mod.<id>`, which
    follows ACCOUNT) on every process; moderation requests already re-read their rights."""
    if action not in ("post_remove", "post_clear"):
        return
    if reverse:  # user.moderated_streams.remove(...) / .clear()
        users: Any = [instance.pk]
    elif pk_set is None:  # stream.moderators.clear(): whoever they were, re-check the topic's subscribers
        topic = f"stream_mod.{instance.pk}"
        transaction.on_commit(lambda: reauthorize(topic))
        transaction.on_commit(lambda: reauthorize(f"stream.{instance.pk}"))  # who sees its viewer list
        return
    else:
        users = sorted(pk_set)
    # The stream's viewer list (presence) is for its moderators: re-check who sees it too.
    streams = (sorted(pk_set) if pk_set else []) if reverse else [instance.pk]
    for user_id in users:
        transaction.on_commit(functools.partial(reauthorize, ACCOUNT, user_id=user_id))
        for stream_id in streams:
            transaction.on_commit(functools.partial(reauthorize, f"stream.{stream_id}", user_id=user_id))
