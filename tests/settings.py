"""Test settings: the example project's, made fast and deterministic."""

from project.settings import *  # noqa: F401,F403
from project.settings import INSTALLED_APPS, REALTIME

# realtime.live is the example project's; the live tests declare their own models in tests/liveapp.
INSTALLED_APPS = [*INSTALLED_APPS, "tests.liveapp"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
REALTIME = {
    **REALTIME,
    "COALESCE_WINDOW": 0,
    "PRESENCE_INTERVAL": 0.05,
    "REACTION_INTERVAL": 0.05,
    # The hubs' database sync would hide broken layer delivery and gap filling: off, except in the tests
    # about it (override_realtime(SYNC_INTERVAL=...) before the hub starts, or `await hub.sync()`).
    "SYNC_INTERVAL": 3600,
    # The same for the watch that runs it early on the in-memory layer (tests/test_cross_process.py).
    "WATCH_INTERVAL": 0,
}

# Tests create and drop their database; connections kept open by worker threads would block the drop.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
