from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    """Webhooks: events POSTed as CloudEvents to functions elsewhere (Lambda, OpenFaaS, Knative)."""

    name = "webhooks"
    default_auto_field = "django.db.models.BigAutoField"
