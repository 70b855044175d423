from django.urls import include, path

from . import views

urlpatterns = [
    path("livepage/<int:pk>/", views.page),
    path("livepage/<int:pk>/card/", views.card),
    path("livepage/empty/", views.empty),
    path("", include("project.urls")),
]
