"""Every request answers within REQUEST_TIMEOUT seconds, whatever the database does."""

from django.conf import settings

from project.database.deadline import deadline


class RequestDeadlineMiddleware:
    """Sets the deadline that every database wait of this request honours (project/database)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with deadline(settings.REQUEST_TIMEOUT):
            return self.get_response(request)
