"""What the core stores: the per-topic event log that resume and gap filling read."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class TopicSequence(models.Model):
    """The last id handed out on a topic. Incremented inside the storing transaction, so committed ids
    are dense (1, 2, 3 ...): a hub that sees id N knows every id below it is already committed."""

    topic = models.CharField(max_length=80, primary_key=True)
    last_id = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.topic} @ {self.last_id}"


class Event(models.Model):
    """One stored event on a topic: what a resuming client is replayed."""

    topic = models.CharField(max_length=80)
    seq = models.PositiveBigIntegerField(help_text="Per-topic increasing id, sent to clients as 'id'.")
    name = models.CharField(max_length=40)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)
    withdrawn = models.BooleanField(default=False, help_text="Withdrawn events are not replayed.")
    marker = models.BooleanField(
        default=False,
        help_text="Announces a change to earlier events or to the topic's state (e.g. a comment deleted); "
                  "replayed alongside them, never counted against HISTORY_LIMIT.",
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["topic", "seq"], name="realtime_event_topic_seq")]
        ordering = ["topic", "seq"]
        indexes = [models.Index(fields=["created_at"], name="realtime_event_created")]

    def __str__(self) -> str:
        return f"{self.topic}#{self.seq} {self.name}"
