from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class StreamsConfig(AppConfig):
    """Live streams: comments over the video, reactions, viewer counts, moderation.

    A separate app (like `django.contrib.auth` next to `contenttypes`) so that a project that only wants
    topics installs the core alone, and so that this feature is built on the core's public API only.
    """

    name = "realtime.streams"
    label = "realtime_streams"
    verbose_name = _("Live streams")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from realtime.topics import register_kind

        from . import checks, conf, signals  # noqa: F401  (declare settings; register checks, receivers)

        register_kind("stream", "realtime.streams.topic.StreamTopic")
        register_kind("stream_mod", "realtime.streams.modtopic.StreamModeratorsTopic")
