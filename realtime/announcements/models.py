"""What announcements store: the message with its audience and times, and one receipt row per user.

The stream a `stream` announcement targets is kept as a plain id (`stream_id`), not a foreign key: a
key to `realtime_streams.Stream` would make this app's migrations require the streams app, and a key
added only when streams are installed would make the migration state depend on INSTALLED_APPS. The id
is checked when the announcement is validated, and at delivery the stream topic's own rules decide who
may watch; a deleted stream's announcement reaches nobody.
"""

from __future__ import annotations

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models
from django.utils import timezone

SEND_PERMISSION = "realtime_announcements.send_announcement"
STREAMS_APP = "realtime.streams"


def streams_installed() -> bool:
    return apps.is_installed(STREAMS_APP)


class Level(models.TextChoices):
    INFO = "info", "Info"
    SUCCESS = "success", "Success"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


class Audience(models.TextChoices):
    EVERYONE = "everyone", "Everyone (anonymous visitors included)"
    SIGNED_IN = "signed_in", "Signed-in users"
    STAFF = "staff", "Staff"
    GROUPS = "groups", "Members of the chosen groups"
    USERS = "users", "The chosen users"
    STREAM = "stream", "Viewers of one stream"


#: Audiences delivered one user at a time, on each recipient's own topic.
TARGETED = frozenset({Audience.STAFF, Audience.GROUPS, Audience.USERS})


class State(models.TextChoices):
    DRAFT = "draft", "Draft"
    SCHEDULED = "scheduled", "Scheduled"
    LIVE = "live", "Live"
    ENDED = "ended", "Ended"
    CANCELLED = "cancelled", "Cancelled"


class Announcement(models.Model):
    """A banner staff send to the people on the site. Change its state through `realtime.announcements`
    (`announce`, `send_now`, `end`, `cancel`, ...), never by saving `state`: those store and publish."""

    title = models.CharField(max_length=200)
    body = models.TextField(blank=True, help_text="Plain text; shown as written, never as HTML.")
    link = models.CharField(
        max_length=500,
        blank=True,
        validators=[URLValidator(schemes=["http", "https"])],
        help_text="Optional http(s) address the banner links to.",
    )
    level = models.CharField(max_length=10, choices=Level.choices, default=Level.INFO)
    audience = models.CharField(max_length=10, choices=Audience.choices, default=Audience.EVERYONE)
    groups = models.ManyToManyField(
        "auth.Group",
        blank=True,
        related_name="+",
        help_text="For the audience 'Members of the chosen groups'.",
    )
    users = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="+",
        help_text="For the audience 'The chosen users'.",
    )
    stream_id = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        verbose_name="stream",
        help_text="For the audience 'Viewers of one stream' (needs realtime.streams).",
    )
    starts_at = models.DateTimeField(
        null=True, blank=True, help_text="When it goes live if scheduled; empty: when it is sent."
    )
    ends_at = models.DateTimeField(null=True, blank=True, help_text="When it ends; empty: until ended.")
    dismissible = models.BooleanField(
        null=True,
        blank=True,
        choices=[(None, "Default: yes, except critical"), (True, "Yes"), (False, "No")],
        help_text="Whether people can close the banner.",
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.DRAFT, editable=False)
    round = models.PositiveIntegerField(
        default=0,
        editable=False,
        help_text="Delivery round: 1 when first sent, one more on each resend. Receipts and dismissals "
        "count per round, so a resend reaches everyone again.",
    )
    sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    ended_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("send_announcement", "Can send, schedule, end, cancel and resend announcements")]
        indexes = [
            models.Index(fields=["state", "starts_at"], name="rt_announcement_due_start"),
            models.Index(fields=["state", "ends_at"], name="rt_announcement_due_end"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_dismissible(self) -> bool:
        """Critical announcements stay on screen unless `dismissible` is set to yes."""
        if self.dismissible is None:
            return self.level != Level.CRITICAL
        return self.dismissible

    @property
    def targeted(self) -> bool:
        return self.audience in TARGETED

    def is_showing(self, now=None) -> bool:
        """Live by the server's clock: what pages render and topics hand out, whether or not the
        scheduler has run yet."""
        now = now or timezone.now()
        return (
            self.state == State.LIVE
            and (self.starts_at is None or self.starts_at <= now)
            and (self.ends_at is None or self.ends_at > now)
        )

    def clean(self) -> None:
        """Rules across fields (the audience's groups and users are checked once they exist, by
        `audience.validate_choices`)."""
        errors: dict[str, str] = {}
        if self.audience == Audience.STREAM:
            if not streams_installed():
                errors["audience"] = (
                    f"Add {STREAMS_APP!r} to INSTALLED_APPS to announce to a stream's viewers."
                )
            elif self.stream_id is None:
                errors["stream_id"] = "Choose the stream whose viewers should see this."
            elif (
                not apps.get_model("realtime_streams", "Stream")
                ._default_manager.filter(pk=self.stream_id)
                .exists()
            ):
                errors["stream_id"] = f"There is no stream with id {self.stream_id}."
        if self.starts_at is not None and self.ends_at is not None and self.ends_at <= self.starts_at:
            errors["ends_at"] = "The end must come after the start."
        if errors:
            raise ValidationError(errors)


class Receipt(models.Model):
    """What one user's clients reported for one delivery round of an announcement, each at most once.

    Rows for targeted audiences (staff, groups, chosen users) are made when the round is sent, one per
    recipient, so they also record who was sent it."""

    announcement = models.ForeignKey(Announcement, on_delete=models.CASCADE, related_name="receipts")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    round = models.PositiveIntegerField()
    delivered_at = models.DateTimeField(null=True, blank=True)
    seen_at = models.DateTimeField(null=True, blank=True, help_text="On screen while the tab was visible.")
    dismissed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["announcement", "round", "user"], name="rt_receipt_once_per_user")
        ]
        indexes = [models.Index(fields=["user", "dismissed_at"], name="rt_receipt_user_dismissed")]

    def __str__(self) -> str:
        return f"{self.user} on {self.announcement} (round {self.round})"
