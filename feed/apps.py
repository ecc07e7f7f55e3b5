from django.apps import AppConfig


class FeedConfig(AppConfig):
    """The change feed: the log and the catalog, followed live over SSE."""

    name = "feed"
    verbose_name = "Change feed"
