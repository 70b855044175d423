from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("live.urls")),
    # Log in and log out (and password reset), at the LOGIN_URL set in settings.py.
    path("accounts/", include("django.contrib.auth.urls")),
    # realtime's HTTP side: tickets for clients that have no session cookie.
    path("realtime/", include("realtime.urls")),
    # Every comment of a stream, for replaying a recording in sync.
    path("realtime/streams/", include("realtime.streams.urls")),
    path("admin/", admin.site.urls),
]
