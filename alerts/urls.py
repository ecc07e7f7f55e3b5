from django.urls import path

from . import api

urlpatterns = [
    path("alerts/low-stock/", api.LowStockAlertListApi.as_view(), name="alerts-low-stock"),
]
