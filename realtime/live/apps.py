from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LiveConfig(AppConfig):
    """Live data (models, fragments, rows, values kept up to date in the page), on the core's public API.

    `ready()` registers the topic kinds and imports each installed app's `live` module, where projects
    declare what is live (as the admin imports `admin.py`).
    """

    name = "realtime.live"
    label = "realtime_live"
    verbose_name = _("Live data")

    def ready(self) -> None:
        from django.utils.module_loading import autodiscover_modules

        from realtime.topics import register_kind

        from . import conf  # noqa: F401  (declare settings)

        register_kind("live", "realtime.live.topics.ModelTopic")
        register_kind("livev", "realtime.live.topics.ViewTopic")
        autodiscover_modules("live")
