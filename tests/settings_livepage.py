"""tests.settings_live plus the page tests/test_live_browser.py opens (tests/livepage)."""

from tests.settings_live import *  # noqa: F401,F403
from tests.settings_live import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.livepage"]
ROOT_URLCONF = "tests.livepage.urls"
