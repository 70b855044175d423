"""What live streams store: streams, their comments, restrictions (mute/timeout/ban) and reaction totals.

The tables keep the names they had when streams lived in the core app (`realtime_stream`, ...), so a
database created before the split needs no data migration; `0001_initial` only moves the models' state.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

MODERATE_PERMISSION = "realtime_streams.moderate_stream"


class Stream(models.Model):
    """A live stream viewers watch and comment on; its topic is `stream.<pk>`."""

    class Status(models.TextChoices):
        LIVE = "live", _("Live")
        ENDED = "ended", _("Ended")

    title = models.CharField(_("title"), max_length=200)
    slug = models.SlugField(_("slug"), unique=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="owned_streams",
        verbose_name=_("owner"),
    )
    description = models.TextField(_("description"), blank=True)
    video_url = models.URLField(
        _("video URL"),
        blank=True,
        help_text=_("The video or its recording; comments replay in sync with it."),
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.LIVE)
    allow_anonymous = models.BooleanField(
        _("anonymous viewers"), default=True, help_text=_("Viewers who are not logged in may watch.")
    )
    comments_open = models.BooleanField(_("comments open"), default=True)
    slow_mode_seconds = models.PositiveIntegerField(
        _("slow mode (seconds)"),
        default=0,
        help_text=_("Seconds a viewer must wait between two comments (0 = off)."),
    )
    blocked_terms = models.TextField(
        _("blocked terms"), blank=True, help_text=_("One term per line, refused in comments.")
    )
    moderators = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="moderated_streams", verbose_name=_("moderators")
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        db_table = "realtime_stream"
        permissions = [("moderate_stream", "Can moderate any live stream")]
        ordering = ["-created_at"]
        verbose_name = _("live stream")
        verbose_name_plural = _("live streams")

    def __str__(self) -> str:
        return self.title

    @property
    def topic(self) -> str:
        return f"stream.{self.pk}"

    @property
    def is_live(self) -> bool:
        return self.status == self.Status.LIVE

    def is_moderator(self, user) -> bool:
        """The owner, users named as moderators, and staff with `realtime.moderate_stream`."""
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return False
        if user.pk == self.owner_id or user.has_perm(MODERATE_PERMISSION):
            return True
        return self.moderators.filter(pk=user.pk).exists()

    def blocked_term_list(self) -> list[str]:
        return [line.strip().lower() for line in self.blocked_terms.splitlines() if line.strip()]


class Comment(models.Model):
    class Mode(models.TextChoices):
        SCROLL = "scroll", _("Scroll across")
        TOP = "top", _("Fixed at top")
        BOTTOM = "bottom", _("Fixed at bottom")

    class State(models.TextChoices):
        VISIBLE = "visible", _("Visible")
        HIDDEN = "hidden", _("Hidden by a moderator")
        DELETED = "deleted", _("Deleted")

    stream = models.ForeignKey(
        Stream, on_delete=models.CASCADE, related_name="comments", verbose_name=_("stream")
    )
    seq = models.PositiveBigIntegerField(
        _("number"), help_text=_("The id of its event on the stream's topic.")
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="stream_comments",
        verbose_name=_("author"),
    )
    client_id = models.CharField(
        _("client id"), max_length=64, help_text=_("Chosen by the client; makes a retried post idempotent.")
    )
    text = models.CharField(_("text"), max_length=500)
    color = models.CharField(_("colour"), max_length=7, blank=True)
    mode = models.CharField(_("display"), max_length=10, choices=Mode.choices, default=Mode.SCROLL)
    media_time = models.FloatField(
        _("media time"), null=True, blank=True, help_text=_("Seconds into the video when posted.")
    )
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.VISIBLE)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        db_table = "realtime_comment"
        verbose_name = _("comment")
        verbose_name_plural = _("comments")
        constraints = [
            models.UniqueConstraint(fields=["stream", "seq"], name="realtime_comment_stream_seq"),
            models.UniqueConstraint(
                fields=["stream", "author", "client_id"], name="realtime_comment_idempotency"
            ),
        ]
        indexes = [
            models.Index(fields=["stream", "author", "created_at"], name="realtime_comment_rate"),
            # The replay read: a stream's comments in media-time order (realtime.streams.views).
            models.Index(fields=["stream", "media_time", "seq"], name="realtime_comment_replay"),
        ]
        ordering = ["stream", "seq"]

    def __str__(self) -> str:
        return f"{self.author}: {self.text[:40]}"


class StreamRestriction(models.Model):
    """A user's restriction on one stream: a mute (may watch, may not post or react) until lifted, a
    timeout (the same for a set time, with a reason: Twitch's timeouts) or a ban (may do neither).

    One row per (stream, user, kind): setting it again replaces it, lifting deletes it. Rows whose
    `until` has passed are expired, not deleted: `active` decides, so nothing needs a sweeper.
    """

    class Kind(models.TextChoices):
        MUTE = "mute", _("Muted")
        TIMEOUT = "timeout", _("Timed out")
        BAN = "ban", _("Banned")

    stream = models.ForeignKey(
        Stream, on_delete=models.CASCADE, related_name="restrictions", verbose_name=_("stream")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="stream_restrictions",
        verbose_name=_("user"),
    )
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    until = models.DateTimeField(_("until"), null=True, blank=True, help_text=_("Empty means until lifted."))
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        db_table = "realtime_streamrestriction"
        verbose_name = _("restriction")
        verbose_name_plural = _("restrictions")
        constraints = [
            models.UniqueConstraint(fields=["stream", "user", "kind"], name="realtime_restriction_once")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.user} on {self.stream}"

    def clean(self) -> None:
        if self.kind == self.Kind.TIMEOUT and self.until is None:
            raise ValidationError({"until": _("A timeout needs an end time; a mute lasts until lifted.")})

    @property
    def active(self) -> bool:
        return self.until is None or self.until > timezone.now()


class ReactionTotal(models.Model):
    """Running total of one reaction kind on a stream, updated once per flush interval per process."""

    stream = models.ForeignKey(
        Stream, on_delete=models.CASCADE, related_name="reaction_totals", verbose_name=_("stream")
    )
    kind = models.CharField(_("reaction"), max_length=20)
    count = models.PositiveBigIntegerField(_("count"), default=0)

    class Meta:
        db_table = "realtime_reactiontotal"
        verbose_name = _("reaction total")
        verbose_name_plural = _("reaction totals")
        constraints = [
            models.UniqueConstraint(fields=["stream", "kind"], name="realtime_reaction_total_once")
        ]

    def __str__(self) -> str:
        return f"{self.kind} x{self.count} on {self.stream}"
