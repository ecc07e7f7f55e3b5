"""GET /api/asyncapi/: the event catalog (projections/asyncapi.py), beside the OpenAPI schema."""

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import asyncapi


class AsyncApiView(APIView):
    """The AsyncAPI 3 document of the events other programs can consume; open, like the OpenAPI schema."""

    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = []
    renderer_classes = [JSONRenderer]

    @extend_schema(exclude=True)  # a schema document, like the OpenAPI schema, not an operation of the API
    def get(self, request):
        # The feed answers where this document is asked for: the same host (or the gateway).
        return Response(asyncapi.document(feed_url=f"{request.scheme}://{request.get_host()}"))
