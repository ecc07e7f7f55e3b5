"""One path, one view per method: peers composed into a path, as DRF composes its generic views.

`GET /api/products/` lists products (a query) and `POST /api/products/` registers one (a
command), so that a gateway can route by method. Each method is answered by its own view, with
its own authentication, permissions, throttles, serializer and error handling, exactly as on a
path of its own; the composing view only picks the peer. It answers OPTIONS itself (with each
peer's fields), and 405 for a method no peer serves, under its own permissions.
"""

from rest_framework.metadata import SimpleMetadata
from rest_framework.views import APIView


class PeersMetadata(SimpleMetadata):
    """OPTIONS on a path of peers: its name and methods, and the fields of the peers that take a body."""

    def determine_metadata(self, request, view):
        metadata = super().determine_metadata(request, view)
        actions = {}
        for method, peer in view.peers.items():
            if method in ("PUT", "POST"):
                actions.update(self.determine_actions(request, peer_view(peer, view, request)))
        if actions:
            metadata["actions"] = actions
        return metadata


class MethodPeersApi(APIView):
    """A path whose methods are served by peer views: `peers` maps a method ("GET") to its view class."""

    peers: dict = {}
    metadata_class = PeersMetadata

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # A handler per method, as Django's View expects (`get`, `post`; `head` follows `get`):
        # `allowed_methods`, Allow and the SERVICE_ROLE middleware then see every method of the path.
        for method, peer in cls.peers.items():
            setattr(cls, method.lower(), staticmethod(peer.as_view()))

    def dispatch(self, request, *args, **kwargs):
        method = request.method.lower()
        if method not in {served.lower() for served in self.peers} | ({"head"} if "GET" in self.peers else set()):
            return super().dispatch(request, *args, **kwargs)  # OPTIONS, and 405 for what no peer serves
        response = getattr(self, method)(request, *args, **kwargs)
        response["Allow"] = ", ".join(self.allowed_methods)  # the path's methods, not only this peer's
        return response


def peer_view(view_class, source, request):
    """An instance of `view_class` set up as DRF set up `source` for `request`.

    For what asks a peer about a request it does not serve: the browsable API's form for POST
    on the page of a GET, or OPTIONS.
    """
    view = view_class()
    view.args, view.kwargs, view.format_kwarg = source.args, source.kwargs, getattr(source, "format_kwarg", None)
    view.request = request
    view.headers = {}
    return view


def document_peers(endpoints):
    """drf-spectacular preprocessing hook: each method of a peers path is documented by its peer."""
    return [
        (path, path_regex, method, getattr(callback.cls, method.lower()) if _composes(callback) else callback)
        for path, path_regex, method, callback in endpoints
    ]


def _composes(callback) -> bool:
    return isinstance(getattr(callback, "cls", None), type) and issubclass(callback.cls, MethodPeersApi)
