from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from feed.pages import LiveProductsPage
from project import health
from project.http.errors import error_response
from project.landing import LandingView
from projections.api.event_catalog import AsyncApiView


def api_not_found(request, exception=None):
    """JSON 404 for API paths, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return error_response(404, "Not found.", "not_found")
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


handler404 = api_not_found

urlpatterns = [
    path("", LandingView.as_view(), name="landing"),
    path("products/live/", LiveProductsPage.as_view(), name="products-live"),
    # Operations, outside /api/ so that every SERVICE_ROLE serves them (see project/health.py).
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("metrics", health.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    # The OpenAPI schema and its documentation pages (GET; served in every SERVICE_ROLE).
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/docs/redoc/", SpectacularRedocView.as_view(url_name="schema", template_name="api/redoc.html"), name="redoc"),
    # The event catalog: the AsyncAPI document of the events other programs consume (GET; every role).
    path("api/asyncapi/", AsyncApiView.as_view(), name="asyncapi"),
    # /api/products/ lists (GET, a query) and registers (POST, a command): see projections/api/views.py.
    path("api/", include("feed.urls")),
    path("api/", include("alerts.urls")),
    path("api/", include("projections.api.urls")),
    path("api/", include("products.api.urls")),
    path("api-auth/", include("rest_framework.urls")),
]
