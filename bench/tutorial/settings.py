"""Settings for the Channels tutorial baseline: nothing but what the tutorial's chat room needs.

`BENCH_LAYER=memory` (default) uses Channels' InMemoryChannelLayer; `BENCH_LAYER=redis` uses
channels_redis.core.RedisChannelLayer on `BENCH_REDIS_URL`, configured as the tutorial shows it.
"""

import os
import tempfile

SECRET_KEY = "bench-tutorial-insecure"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "channels",
]
ROOT_URLCONF = "bench.tutorial.urls"
ASGI_APPLICATION = "bench.tutorial.asgi.application"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.path.join(tempfile.gettempdir(), "realtime-bench-tutorial.sqlite3"),
    }
}
USE_TZ = True
TIME_ZONE = "UTC"

if os.environ.get("BENCH_LAYER", "memory") == "redis":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
