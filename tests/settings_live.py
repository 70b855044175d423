"""The example site with the test suite's own live app (tests/liveapp), for realtime.live on daphne."""

from project.settings import *  # noqa: F401,F403
from project.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.liveapp"]
