from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AnnouncementsConfig(AppConfig):
    """Announcements from the Django admin: compose, target, schedule, expire, receipts.

    A separate app built on the core's public API, like `realtime.streams`; it works with or without
    the streams app (without it, the 'viewers of one stream' audience is refused).
    """

    name = "realtime.announcements"
    label = "realtime_announcements"
    verbose_name = _("Announcements")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from realtime.topics import register_kind

        from . import checks, conf, receivers, signals  # noqa: F401  (declare settings; register checks, receivers)

        register_kind("announcements", "realtime.announcements.topic.AnnouncementTopic")
        register_kind("announcement_stats", "realtime.announcements.topic.StatsTopic")
