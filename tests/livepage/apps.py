from django.apps import AppConfig


class LivePageConfig(AppConfig):
    """The page tests/test_live_browser.py opens in Chromium: realtime.live's three forms on one page,
    with a form field inside a fragment and inside each row (the user's typing must survive updates),
    and htmx swapping a fragment in and out. Built on tests.liveapp's Gauge; no models of its own."""

    name = "tests.livepage"
    label = "livepage"
