from django.urls import path

from . import views

urlpatterns = [
    path("events/stream/", views.EventStreamApi.as_view(), name="event-stream"),
    path("products/changes/", views.ProductChangesApi.as_view(), name="product-changes"),
]
