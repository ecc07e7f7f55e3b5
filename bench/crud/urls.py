from django.urls import path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("products", views.ProductViewSet, basename="crud-product")

urlpatterns = [
    path("products-nocount/", views.ProductListWithoutCount.as_view(), name="crud-product-nocount"),
    path("categories/", views.CategorySummaryList.as_view(), name="crud-categories"),
    *router.urls,
]
