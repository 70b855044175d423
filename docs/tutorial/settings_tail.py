
# -- realtime -------------------------------------------------------------------------------------
from realtime.layers import memory_layer

# daphne first (its `runserver` then serves ASGI); channels, the realtime core, its two features,
# and this tutorial's own app, `live`.
INSTALLED_APPS = [
    "daphne",
    *INSTALLED_APPS,
    "channels",
    "realtime",
    "realtime.streams",
    "realtime.announcements",
    "live",
]

# The application daphne serves: HTTP and WebSockets (mysite/asgi.py).
ASGI_APPLICATION = "mysite.asgi.application"

# How the server's parts pass events to each other. In memory: one daphne process, nothing to set up.
CHANNEL_LAYERS = {"default": memory_layer()}

# SQLite: concurrent writers wait for the lock instead of failing with "database is locked".
DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE"}

# Where "Log in" links go: django.contrib.auth's login view, included in mysite/urls.py.
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"
