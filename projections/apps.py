from django.apps import AppConfig


class ProjectionsConfig(AppConfig):
    """The read side: projectors, read-model tables, the engine that feeds them, the Query API."""

    name = "projections"
    default_auto_field = "django.db.models.BigAutoField"
