"""The Command API's routes on a product. Registering is POST /api/products/, the path the
product list shares (projections/api/views.py, ProductsApi)."""

from django.urls import path

from . import views

urlpatterns = [
    path("products/<str:product_id>/update-details/", views.ProductUpdateDetailsApi.as_view(), name="product-update-details"),
    path("products/<str:product_id>/change-price/", views.ProductChangePriceApi.as_view(), name="product-change-price"),
    path("products/<str:product_id>/receive-stock/", views.ProductReceiveStockApi.as_view(), name="product-receive-stock"),
    path("products/<str:product_id>/ship-stock/", views.ProductShipStockApi.as_view(), name="product-ship-stock"),
    path("products/<str:product_id>/discontinue/", views.ProductDiscontinueApi.as_view(), name="product-discontinue"),
]
