from django.apps import AppConfig


class ProductsConfig(AppConfig):
    """The write side: the product aggregate, the event store and the Command API."""

    name = "products"
    default_auto_field = "django.db.models.BigAutoField"
