"""Test settings: the example project's, made fast and deterministic."""

from project.settings import *  # noqa: F401,F403
from project.settings import REALTIME

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
REALTIME = {
    **REALTIME,
    "COALESCE_WINDOW": 0,
    "PRESENCE_INTERVAL": 0.05,
    "REACTION_INTERVAL": 0.05,
    "SYNC_INTERVAL": 0.5,
}

# Tests create and drop their database; connections kept open by worker threads would block the drop.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
