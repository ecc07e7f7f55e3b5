from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path


def api_not_found(request, exception=None):
    """JSON 404 for API paths, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


handler404 = api_not_found

urlpatterns = [
    path("admin/", admin.site.urls),
    # Queries first: their /api/products/ view also takes the register command (POST), so one path
    # lists and registers. The rest of the command routes follow.
    path("api/", include("projections.api.urls")),
    path("api/", include("products.api.urls")),
    path("api-auth/", include("rest_framework.urls")),
]
