"""What notifications store: one row per recipient, unread until `read_at` is set."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .links import safe_url

LEVELS = ("info", "success", "warning", "error")
MAX_TITLE = 200
MAX_BODY = 2000
MAX_URL = 500


class Level(models.TextChoices):
    INFO = "info", _("Information")
    SUCCESS = "success", _("Success")
    WARNING = "warning", _("Warning")
    ERROR = "error", _("Error")


class Notification(models.Model):
    """A message to one user, kept until deleted; the page's badge counts the unread ones."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="realtime_notifications",
        verbose_name=_("recipient"),
    )
    title = models.CharField(_("title"), max_length=MAX_TITLE)
    body = models.TextField(_("body"), blank=True, default="", max_length=MAX_BODY)
    url = models.CharField(
        _("link"),
        max_length=MAX_URL,
        blank=True,
        default="",
        help_text=_("An http(s) address or a path on this site (/orders/7/)."),
    )
    level = models.CharField(_("level"), max_length=10, choices=Level.choices, default=Level.INFO)
    data = models.JSONField(_("data"), default=dict, blank=True)
    created = models.DateTimeField(_("created"), default=timezone.now)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        indexes = [
            # The badge's count and the list's newest first, per user.
            models.Index(fields=["recipient", "read_at"], name="rt_notification_unread"),
            models.Index(fields=["recipient", "-id"], name="rt_notification_newest"),
        ]

    def __str__(self) -> str:
        return f"{self.title} → {self.recipient_id}"

    @property
    def is_read(self) -> bool:
        return self.read_at is not None

    @property
    def link(self) -> str:
        """The url if it is safe to make a link of, else "" (the page shows the title as text)."""
        return self.url if safe_url(self.url) else ""

    def as_event(self) -> dict[str, object]:
        """The JSON a page is sent (plain values; the page sets them with textContent)."""
        return {
            "id": self.pk,
            "title": self.title,
            "body": self.body,
            "url": self.link,
            "level": self.level,
            "data": self.data,
            "created": self.created.isoformat(),
            "read": self.read_at is not None,
        }
