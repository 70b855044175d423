from django.apps import AppConfig


class LiveAppConfig(AppConfig):
    """A small app of the test suite's own for realtime.live (the example project's models stay D1's)."""

    name = "tests.liveapp"
    label = "liveapp"
    default_auto_field = "django.db.models.BigAutoField"
