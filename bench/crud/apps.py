from django.apps import AppConfig


class CrudConfig(AppConfig):
    name = "bench.crud"
    label = "crud"
    default_auto_field = "django.db.models.BigAutoField"
