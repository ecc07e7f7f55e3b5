from django.apps import AppConfig


class AlertsConfig(AppConfig):
    """The low-stock alert: the consumer the project ships (projections/consumers.py)."""

    name = "alerts"
    default_auto_field = "django.db.models.BigAutoField"
