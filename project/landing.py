"""The page at `/`: where a visitor (and the admin's "View site") lands, with links to the rest."""

from django.conf import settings
from django.views.generic import TemplateView


class LandingView(TemplateView):
    """Static links, no database access: it answers in every SERVICE_ROLE."""

    template_name = "landing.html"

    def get_context_data(self, **kwargs):
        # Read at request time, as ServiceRoleMiddleware reads it.
        return {**super().get_context_data(**kwargs), "service_role": getattr(settings, "SERVICE_ROLE", "all")}
