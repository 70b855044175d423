"""URLs of the example site. The WebSocket route is mounted in project/asgi.py, not here."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("streams/<slug:slug>/", views.watch, name="watch"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    # LogoutView only accepts POST (Django 5): a link cannot log anyone out behind their back.
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("realtime/", include("realtime.urls")),
    path("realtime/streams/", include("realtime.streams.urls")),
    path("realtime/notifications/", include("realtime.notifications.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
]
