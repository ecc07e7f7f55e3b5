"""The project's URLs plus the CRUD baseline under /crud/."""

from django.urls import include, path

from project.urls import urlpatterns as project_urlpatterns

handler404 = "project.urls.api_not_found"

urlpatterns = [
    *project_urlpatterns,
    path("crud/", include("bench.crud.urls")),
]
