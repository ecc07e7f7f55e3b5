"""The Query API's routes; /api/products/ lists (GET) and, through its command peer, registers (POST)."""

from django.urls import path

from . import views

urlpatterns = [
    path("products/", views.ProductsApi.as_view(), name="product-list"),
    path("products/<str:product_id>/", views.ProductDetailApi.as_view(), name="product-detail"),
    path("products/<str:product_id>/price-history/", views.PriceHistoryApi.as_view(), name="product-price-history"),
    path("categories/", views.CategoryListApi.as_view(), name="category-list"),
    # A category name may hold a slash.
    path("categories/<path:name>/", views.CategoryDetailApi.as_view(), name="category-detail"),
    path("events/", views.EventListApi.as_view(), name="event-list"),
    path("projections/", views.ProjectionListApi.as_view(), name="projection-list"),
]
