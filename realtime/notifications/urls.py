"""HTTP URLs of notifications: `path("realtime/notifications/", include("realtime.notifications.urls"))`.

Optional: without them the badge works (it marks read over the socket) but has no "See all" link."""

from django.urls import path

from . import views

app_name = "realtime_notifications"

urlpatterns = [
    path("", views.notification_list, name="list"),
    path("read/", views.read, name="read"),
]
