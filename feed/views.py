"""The change feed's routes: DRF views that check who asks and where to start, then stream.

Authentication, permissions and every refusal (400 for a position it cannot resume from, 401,
403) are DRF's, answered in JSON before the stream starts. The stream itself needs an ASGI
server (the `feed` service, or `make run`): under WSGI each subscriber would hold a worker
thread for as long as it follows, so there the routes answer 503 and name the service to use.

The WebSocket of the product changes (feed/websocket.py) runs the same view for its checks
alone (`as_view(opening_only=True)`): its answer is then an Opening, and the socket carries the
messages.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable


from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.db import connections
from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import APIException, ParseError
from rest_framework.permissions import IsAdminUser
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from products.domain.events import SCHEMAS, FutureSchemaVersion
from products.eventstore import Checkpoint, RecordedEvent
from products.models import StoredEvent
from project.database.deadline import remaining
from project.http.errors import error_response
from projections import changes
from projections.api.permissions import CanQuery
from projections.api.serializers import EventSerializer

from . import sse
from .sources import LOG, PRODUCT_CHANGES, Source

PRODUCT_CHANGED = "product.changed"  # the SSE event name of a product change


class PositionExpired(APIException):
    status_code = 410
    default_code = "position_expired"


# Followers that start at once (authentication, where to start) each hold a database connection
# for a moment: a thousand reconnecting together (after a restart) would take more than the
# server has. They start a few at a time; the others wait, within the request's deadline.
STARTING_AT_ONCE = 4
_starting = threading.BoundedSemaphore(STARTING_AT_ONCE)


class Opening(HttpResponse):
    """A follower that passed a route's checks, for another transport than SSE to follow: where it
    starts, which items it takes, the (event name, JSON data) of each, and the source."""

    def __init__(self, after: Checkpoint, accept: Callable, shape: Callable[..., tuple[str, str]], source: Source):
        super().__init__(status=200)
        self.after, self.accept, self.shape, self.source = after, accept, shape, source


class FeedApi(APIView):
    """What the feed's routes share: JSON refusals whatever the client accepts, and the start."""

    renderer_classes = [JSONRenderer]
    throttle_classes = []
    opening_only = False  # True: answer an Opening instead of the stream (feed/websocket.py)

    def dispatch(self, request, *args, **kwargs):
        if not _starting.acquire(timeout=max(0.0, remaining() or settings.REQUEST_TIMEOUT or 5)):
            return error_response(503, "Too many followers are starting at once; retry shortly.", "feed_busy",
                                  headers={"Retry-After": "1"})
        try:
            return super().dispatch(request, *args, **kwargs)
        finally:
            # Django keeps this thread, and its database connection, until the stream ends; the
            # stream reads through the hub. Without this, every follower kept a connection.
            connections.close_all()
            _starting.release()

    def perform_content_negotiation(self, request, force=False):
        # An EventSource accepts only text/event-stream; its refusals are still JSON, not 406.
        return super().perform_content_negotiation(request, force=True)

    def start(self, request, source: Source) -> Checkpoint:
        """Where the client resumes: Last-Event-ID (a reconnect), else ?after=, else now."""
        given = request.headers.get("Last-Event-ID") or request.query_params.get("after")
        source_name = "Last-Event-ID" if request.headers.get("Last-Event-ID") else "after"
        if not given:
            return source.last()
        try:
            after = Checkpoint.parse(given)
        except ValueError:
            raise ParseError(f"{source_name} is not a position of this feed (such as 812-5): {given!r}.",
                             code="invalid_position")
        trimmed = source.trimmed_through()
        if after < trimmed or (after == Checkpoint.START and trimmed != Checkpoint.START):
            raise PositionExpired(f"{source_name} {given} is older than this feed keeps (it keeps what came after "
                                  f"{trimmed}). Load the catalog again, then follow from now (without a position).")
        if after != Checkpoint.START and not source.resumable(after):
            raise ParseError(f"{source_name} {given} names no event of this log, so the feed cannot resume from it. "
                             "Start again without it (from now) or from 0-0 (the whole log).", code="unknown_position")
        return after

    def following(self, request, after: Checkpoint, accept: Callable, shape: Callable[..., tuple[str, str]],
                  source: Source = LOG) -> HttpResponse:
        """The stream of what the follower takes from `after` on; an Opening if that is all it asked."""
        if self.opening_only:
            return Opening(after, accept, shape, source)
        return self.streaming(request, sse.stream(after, accept, shape, source))

    def streaming(self, request, messages) -> StreamingHttpResponse:
        if not isinstance(request._request, ASGIRequest):
            return error_response(503, "The change feed is served by the ASGI service (`feed`, or `make run`), "
                                       "not by this WSGI server.", "feed_not_served_here")
        response = StreamingHttpResponse(messages, content_type="text/event-stream; charset=utf-8")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"  # proxies pass each message on at once
        return response


@extend_schema(exclude=True)  # a stream of messages: the event catalog (/api/asyncapi/) describes it
class EventStreamApi(FeedApi):
    """Staff only: every stored event, in log order, as /api/events/ shows it, live."""

    permission_classes = [IsAdminUser]

    def get(self, request):
        after = self.start(request, LOG)
        wanted_type = request.query_params.get("type") or None
        stream_id = _uuid(request.query_params.get("stream_id"), "stream_id")

        def accept(event: RecordedEvent) -> bool:
            return (stream_id is None or event.stream_id == stream_id) and \
                (wanted_type is None or _current_type(event) == wanted_type)

        return self.following(request, after, accept, _event_message)


@extend_schema(exclude=True)  # a stream of messages: the event catalog (/api/asyncapi/) describes it
class ProductChangesApi(FeedApi):
    """Each product as the catalog shows it after each change it applies, live; filters
    `category` (a product that moves out of it is sent once more, showing where it went) and
    `id` (one or more)."""

    permission_classes = [CanQuery]

    def get(self, request):
        after = self.start(request, PRODUCT_CHANGES)
        accept = product_filter(request.query_params)
        return self.following(request, after, accept, product_message, PRODUCT_CHANGES)


def product_filter(params) -> Callable[[changes.Change], bool]:
    """The changes a follower asked for with `category` and `id`; ParseError for a malformed id."""
    category = params.get("category") or None
    ids = {_uuid(value, "id") for value in params.getlist("id") if value} or None

    def accept(change: changes.Change) -> bool:
        return (ids is None or change.product_id in ids) and \
            (category is None or category in (change.category, change.previous_category))

    return accept


def product_message(change: changes.Change) -> tuple[str, str]:
    return PRODUCT_CHANGED, change.state


def _event_message(event: RecordedEvent) -> tuple[str, str]:
    body = EventSerializer(StoredEvent(
        position=event.position, tx=event.tx, stream_type=event.stream_type, stream_id=event.stream_id,
        version=event.version, event_id=event.event_id, type=event.type, schema_version=event.schema_version,
        data=event.data, metadata=event.metadata, recorded_at=event.recorded_at,
    )).data
    return body["type"], sse.to_json(body)


def _current_type(event: RecordedEvent) -> str:
    try:
        return SCHEMAS.upcast(event.type, event.schema_version, event.data)[0]
    except FutureSchemaVersion:
        return event.type


def _uuid(value: str | None, name: str) -> uuid.UUID | None:
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ParseError(f"{name} is not a UUID: {value!r}.", code="invalid_filter")
