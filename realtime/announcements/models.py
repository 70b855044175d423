"""What announcements store: the message with its audience and times, and one receipt row per user.

The stream a `stream` announcement targets is kept as a plain id (`stream_id`), not a foreign key: a
key to `realtime_streams.Stream` would make this app's migrations require the streams app, and a key
added only when streams are installed would make the migration state depend on INSTALLED_APPS. The id
is checked when the announcement is validated, and at delivery the stream topic's own rules decide who
may watch; a deleted stream's announcement reaches nobody.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

SEND_PERMISSION = "realtime_announcements.send_announcement"
STREAMS_APP = "realtime.streams"


def streams_installed() -> bool:
    return apps.is_installed(STREAMS_APP)


class Level(models.TextChoices):
    INFO = "info", _("Info")
    SUCCESS = "success", _("Success")
    WARNING = "warning", _("Warning")
    CRITICAL = "critical", _("Critical")


class Audience(models.TextChoices):
    EVERYONE = "everyone", _("Everyone (anonymous visitors included)")
    SIGNED_IN = "signed_in", _("Signed-in users")
    STAFF = "staff", _("Staff")
    GROUPS = "groups", _("Members of the chosen groups")
    USERS = "users", _("The chosen users")
    STREAM = "stream", _("Viewers of one stream")


#: Audiences delivered one user at a time, on each recipient's own topic.
TARGETED = frozenset({Audience.STAFF, Audience.GROUPS, Audience.USERS})


class State(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SCHEDULED = "scheduled", _("Scheduled")
    LIVE = "live", pgettext_lazy("announcement state", "Live")
    ENDED = "ended", pgettext_lazy("announcement state", "Ended")
    CANCELLED = "cancelled", _("Cancelled")


class Announcement(models.Model):
    """A banner staff send to the people on the site. Change its state through `realtime.announcements`
    (`announce`, `send_now`, `end`, `cancel`, ...), never by saving `state`: those store and publish."""

    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(
        _("body"), blank=True, help_text=_("Plain text; shown as written, never as HTML.")
    )
    link = models.CharField(
        _("link"),
        max_length=500,
        blank=True,
        validators=[URLValidator(schemes=["http", "https"])],
        help_text=_("Optional http(s) address the banner links to."),
    )
    level = models.CharField(_("level"), max_length=10, choices=Level.choices, default=Level.INFO)
    audience = models.CharField(
        _("audience"), max_length=10, choices=Audience.choices, default=Audience.EVERYONE
    )
    groups = models.ManyToManyField(
        "auth.Group",
        verbose_name=_("groups"),
        blank=True,
        related_name="+",
        help_text=_("For the audience 'Members of the chosen groups'."),
    )
    users = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("users"),
        blank=True,
        related_name="+",
        help_text=_("For the audience 'The chosen users'."),
    )
    stream_id = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        verbose_name=_("stream"),
        help_text=_("For the audience 'Viewers of one stream' (needs realtime.streams)."),
    )
    starts_at = models.DateTimeField(
        _("starts at"),
        null=True,
        blank=True,
        help_text=_("When it goes live if scheduled; empty: when it is sent."),
    )
    ends_at = models.DateTimeField(
        _("ends at"), null=True, blank=True, help_text=_("When it ends; empty: until ended.")
    )
    dismissible = models.BooleanField(
        _("dismissible"),
        null=True,
        blank=True,
        choices=[(None, _("Default: yes, except critical")), (True, _("Yes")), (False, _("No"))],
        help_text=_("Whether people can close the banner."),
    )
    state = models.CharField(
        _("state"), max_length=10, choices=State.choices, default=State.DRAFT, editable=False
    )
    round = models.PositiveIntegerField(
        _("round"),
        default=0,
        editable=False,
        help_text=_(
            "Delivery round: 1 when first sent, one more on each resend. Receipts and dismissals "
            "count per round, so a resend reaches everyone again."
        ),
    )
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True, editable=False)
    # A targeted round goes out after its claim, in chunks (`delivery`): the last round sent to all of
    # its recipients, and until when the process sending the current one holds it.
    delivered_round = models.PositiveIntegerField(_("delivered round"), default=0, editable=False)
    delivery_lease = models.DateTimeField(_("delivery lease"), null=True, blank=True, editable=False)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("announcement")
        verbose_name_plural = _("announcements")
        ordering = ["-created_at"]
        permissions = [("send_announcement", _("Can send, schedule, end, cancel and resend announcements"))]
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
        errors: dict[str, Any] = {}
        if self.audience == Audience.STREAM:
            if not streams_installed():
                errors["audience"] = _("Add %(app)s to INSTALLED_APPS to announce to a stream's viewers.") % {
                    "app": repr(STREAMS_APP)
                }
            elif self.stream_id is None:
                errors["stream_id"] = _("Choose the stream whose viewers should see this.")
            elif (
                not apps.get_model("realtime_streams", "Stream")
                ._default_manager.filter(pk=self.stream_id)
                .exists()
            ):
                errors["stream_id"] = _("There is no stream with id %(id)s.") % {"id": self.stream_id}
        if self.starts_at is not None and self.ends_at is not None and self.ends_at <= self.starts_at:
            errors["ends_at"] = _("The end must come after the start.")
        if errors:
            raise ValidationError(errors)


class Receipt(models.Model):
    """What one user's clients reported for one delivery round of an announcement, each at most once.

    Rows for targeted audiences (staff, groups, chosen users) are made when the round is sent, one per
    recipient, so they also record who was sent it."""

    announcement = models.ForeignKey(
        Announcement, on_delete=models.CASCADE, related_name="receipts", verbose_name=_("announcement")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("user")
    )
    round = models.PositiveIntegerField(_("round"))
    sent_at = models.DateTimeField(
        _("sent at"), null=True, blank=True, help_text=_("When the round was stored on the user's topic.")
    )
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    seen_at = models.DateTimeField(
        _("seen at"), null=True, blank=True, help_text=_("On screen while the tab was visible.")
    )
    dismissed_at = models.DateTimeField(_("dismissed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("receipt")
        verbose_name_plural = _("receipts")
        constraints = [
            models.UniqueConstraint(fields=["announcement", "round", "user"], name="rt_receipt_once_per_user")
        ]
        indexes = [models.Index(fields=["user", "dismissed_at"], name="rt_receipt_user_dismissed")]

    def __str__(self) -> str:
        return _("%(user)s on %(announcement)s (round %(round)s)") % {
            "user": self.user,
            "announcement": self.announcement,
            "round": self.round,
        }
