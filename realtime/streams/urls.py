"""HTTP URLs of live streams: `path("realtime/streams/", include("realtime.streams.urls"))`.

Optional: without them the stream page works, but a recording replays only the comments the socket
brings (the latest HISTORY_LIMIT), not every comment at its moment.
"""

from django.urls import path

from . import views

app_name = "realtime_streams"

urlpatterns = [
    path("<int:pk>/comments/", views.replay, name="replay"),
]
