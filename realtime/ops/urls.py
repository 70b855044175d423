"""Operations URLs, included by `realtime.urls` under `ops/` (so `/realtime/ops/...` in the example)."""

from django.urls import path

from . import health, views

urlpatterns = [
    path("metrics/", views.metrics_view, name="metrics"),
    path("health/live/", health.live, name="health-live"),
    path("health/ready/", health.ready, name="health-ready"),
]
