"""HTTP URLs: `path("realtime/", include("realtime.urls"))`."""

from django.urls import include, path

from . import views

app_name = "realtime"

urlpatterns = [
    path("ticket/", views.ticket, name="ticket"),
    path("ops/", include("realtime.ops.urls")),
]
