from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    """Per-user notifications on the core's public API: stored rows, a `notify.<user id>` topic kind,
    a header badge, a list page."""

    name = "realtime.notifications"
    label = "realtime_notifications"
    verbose_name = _("Notifications")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from realtime.topics import register_kind

        register_kind("notify", "realtime.notifications.topic.NotifyTopic")
