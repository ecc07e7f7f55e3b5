"""The browsable API, which on a path of peers (project/http/peers.py) shows every peer's form."""

from rest_framework import renderers


class BrowsableAPIRenderer(renderers.BrowsableAPIRenderer):
    """DRF's browsable API; the page of `GET /api/products/` also holds the registration form (POST)."""

    def get_rendered_html_form(self, data, view, method, request):
        return super().get_rendered_html_form(data, _view_for(view, method, request), method, request)

    def get_raw_data_form(self, data, view, method, request):
        return super().get_raw_data_form(data, _view_for(view, method, request), method, request)


def _view_for(view, method: str, request):
    """The view that serves `method` on this request's path: `view` itself, or a peer of it."""
    # Imported here: peers imports rest_framework.views, which imports the renderers of the settings.
    from .peers import peer_view

    path_view = getattr(getattr(request, "resolver_match", None), "func", None)
    peer = getattr(getattr(path_view, "cls", None), "peers", {}).get(method)
    if peer is None or isinstance(view, peer):
        return view
    return peer_view(peer, view, request)
