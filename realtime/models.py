"""What the core stores: the per-topic event log that resume and gap filling read, and tickets."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


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
        # Marked for translation: the admin shows these (Django's own "events" is English only).
        verbose_name = _("event")
        verbose_name_plural = _("events")
        indexes = [models.Index(fields=["created_at"], name="realtime_event_created")]

    def __str__(self) -> str:
        return f"{self.topic}#{self.seq} {self.name}"


class Ticket(models.Model):
    """A single-use WebSocket ticket (`realtime.tickets`). Only the token's SHA-256 is stored, so a
    database dump or a query log does not hand out sockets; the token itself goes to the client once."""

    digest = models.CharField(max_length=64, primary_key=True, help_text="SHA-256 (hex) of the token.")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    session_key = models.CharField(
        max_length=40,
        blank=True,
        default="",
        help_text="The session that asked for it: the ticket dies with it. Empty for a session-less "
        "ticket (manage.py realtime_ticket).",
    )
    fingerprint = models.CharField(max_length=32, help_text="Of the user's password hash when issued.")
    created = models.DateTimeField(default=timezone.now)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["created"], name="realtime_ticket_created"),
            models.Index(fields=["session_key"], name="realtime_ticket_session"),
        ]

    def __str__(self) -> str:
        return f"ticket for user {self.user_id} ({'used' if self.used_at else 'unused'})"


class StatusPage(Event):
    """The admin's "Realtime status" page (`realtime.ops`): a proxy with no rows of its own, so the page is
    listed on the admin index and its permission, `realtime.view_status`, is one Django knows."""

    class Meta:
        proxy = True
        default_permissions = ()  # no add/change/delete/view of rows: there are none
        permissions = [("view_status", _("Can view the realtime status"))]
        verbose_name = _("realtime status")
        verbose_name_plural = _("realtime status")
