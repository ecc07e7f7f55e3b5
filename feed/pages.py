"""The page a person can watch: the most recently changed products, updated from the change feed
by the browser itself (an EventSource on /api/products/changes/). It reads nothing itself."""

from urllib.parse import urlencode

from django.views.generic import TemplateView


class LiveProductsPage(TemplateView):
    template_name = "feed/live_products.html"

    def get_context_data(self, **kwargs):
        category = self.request.GET.get("category", "")
        filters = {"category": category} if category else {}
        return {
            **super().get_context_data(**kwargs),
            "category": category,
            "feed": {
                "category": category,
                "changes": f"/api/products/changes/?{urlencode(filters)}" if filters else "/api/products/changes/",
                "list": "/api/products/?" + urlencode({**filters, "ordering": "-updated_at", "page_size": 50}),
            },
        }
