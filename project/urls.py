from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from project import health
from project.landing import LandingView


def api_not_found(request, exception=None):
    """JSON 404 for API paths, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


handler404 = api_not_found

urlpatterns = [
    path("", LandingView.as_view(), name="landing"),
    # Operations, outside /api/ so that every SERVICE_ROLE serves them (see project/health.py).
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("metrics", health.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    # The OpenAPI schema and its documentation pages (GET; served in every SERVICE_ROLE).
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/docs/redoc/", SpectacularRedocView.as_view(url_name="schema", template_name="api/redoc.html"), name="redoc"),
    # Queries first: their /api/products/ view also takes the register command (POST), so one path
    # lists and registers. The rest of the command routes follow.
    path("api/", include("projections.api.urls")),
    path("api/", include("products.api.urls")),
    path("api-auth/", include("rest_framework.urls")),
]
