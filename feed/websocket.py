"""The product changes over a WebSocket: `ws://…/ws/products/changes/`, the messages of
GET /api/products/changes/ (feed/views.py) as JSON text frames, served by uvicorn.

Who may follow, where it starts and what it takes are the SSE route's own checks: its view runs
on the handshake, read as that GET (`?after=`, a `Last-Event-ID` header, `?category=`, `?id=`,
`Authorization: Token <key>` or the session cookie), so permissions, refusals and the limit of
followers starting at once are the same code.

Frames, server to client (what a client sends is dropped):

- `{"id": "812-5", "event": "product.changed", "data": <the product>}`: a change; resume after
  the last `id` received with `?after=` (or `Last-Event-ID`), and nothing is missing or twice.
- `{"event": "heartbeat"}` after FEED_HEARTBEAT_SECONDS without a change.
- `{"id": ..., "event": "resume", "data": {"after", "detail"}}`, then close 4008: the client fell
  behind the feed; reconnect with `?after=<data.after>`.
- `{"event": "expired", "data": {"trimmed_through", "detail"}}`, then close 4410: the feed no
  longer keeps what comes after the client's position; load the catalog again, follow from now.
- `{"event": "error", "data": {"code", "detail"}}`, then close 4000 + the HTTP status the SSE
  route answers: 4400 (invalid_position, unknown_position, invalid_filter), 4401
  (not_authenticated), 4403 (permission_denied), 4410 (position_expired), 4503 (feed_busy,
  unavailable: retry shortly).

Close 1012 says the process's hub stopped: reconnect with the last id. The session cookie counts
only when the handshake's Origin is the site's own (or trusted, as for Django's CSRF check): a
browser sends its cookies to any page's socket.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.core.handlers.asgi import ASGIRequest
from django.middleware.csrf import CsrfViewMiddleware

from project.database.deadline import deadline

from . import sse, views
from .hub import Expired, Heartbeat, TooSlow, follow, the_hub

log = logging.getLogger(__name__)

PATH = "/ws/products/changes/"
FELL_BEHIND = 4008
HUB_STOPPED = 1012  # "service restart": the client reconnects, to the hub that replaces it
INTERNAL_ERROR = 1011
# Sent rather than left to uvicorn's pings: a browser's WebSocket never shows pings to its page,
# which could not tell a quiet feed from a dead connection; and the SSE route's interval holds.
HEARTBEAT = sse.to_json({"event": "heartbeat"})

_opening_view = views.ProductChangesApi.as_view(opening_only=True)
_HTTP_SCHEMES = {"ws": "http", "wss": "https"}


async def product_changes(scope, receive, send) -> None:
    """The ASGI application of PATH (project/asgi.py routes it here)."""
    if (await receive())["type"] != "websocket.connect":
        return
    opening = await _open(scope)
    await send({"type": "websocket.accept"})
    if isinstance(opening, views.Opening):
        await _serve(opening, receive, send)
    else:
        await _refuse(opening, send)


async def _open(scope):
    """The SSE route's checks, on a thread of its own as Django gives each request: an Opening,
    or the route's refusal. A thread of the loop's shared pool would hold the hub's reads up
    while followers wait for their turn to start."""
    async with ThreadSensitiveContext():
        return await sync_to_async(_checked, thread_sensitive=True)(scope)


def _checked(scope):
    # The view closes this thread's database connections when it ends (FeedApi.dispatch): a
    # follower holds none.
    with deadline(settings.REQUEST_TIMEOUT):
        return _opening_view(_as_request(scope))


def _as_request(scope) -> ASGIRequest:
    """The handshake as the GET the SSE route answers."""
    http_scope = {**scope, "type": "http", "method": "GET", "scheme": _HTTP_SCHEMES.get(scope.get("scheme"), "http")}
    request = ASGIRequest(http_scope, io.BytesIO())
    if _own_origin(request):
        # What SessionAuthentication reads: the user of the session cookie, as these middlewares set it.
        SessionMiddleware(_no_response).process_request(request)
        AuthenticationMiddleware(_no_response).process_request(request)
    return request


def _own_origin(request) -> bool:
    """No Origin (not a browser), or one Django's CSRF check takes for this site's own."""
    return "HTTP_ORIGIN" not in request.META or CsrfViewMiddleware(_no_response)._origin_verified(request)


def _no_response(request):
    raise AssertionError("only the middlewares' process_request runs here")


async def _refuse(response, send) -> None:
    body = _body(response)
    error = {"code": body.get("code", "error"), "detail": body.get("detail", "")}
    await _send(send, sse.to_json({"event": "error", "data": error}))
    await _close(send, 4000 + response.status_code)


def _body(response) -> dict:
    data = getattr(response, "data", None)  # a DRF Response is not rendered yet
    body = data if data is not None else json.loads(response.content)
    return body if isinstance(body, dict) else {}


async def _serve(opening: views.Opening, receive, send) -> None:
    """Follows until the client leaves, or until the follower closes the socket: uvicorn then
    tells this loop that it is disconnected, either way."""
    following = asyncio.create_task(_follow_then_close(opening, send))
    try:
        while (await receive())["type"] != "websocket.disconnect":
            pass  # the feed only talks
    finally:
        following.cancel()


async def _follow_then_close(opening: views.Opening, send) -> None:
    try:
        code = await _follow(opening, send)
    except OSError:  # mostly uvicorn's ClientDisconnected, the client gone: the close is then dropped
        code = INTERNAL_ERROR
    except Exception:
        log.exception("A WebSocket follower of the change feed failed; it is closed.")
        code = INTERNAL_ERROR
    await _close(send, code)


async def _follow(opening: views.Opening, send) -> int:
    """Sends what the follower takes, as feed/sse.py does; the close code when the feed lets it go."""
    hub = await the_hub(opening.source)
    async for item in follow(hub, opening.after, opening.accept, settings.FEED_HEARTBEAT_SECONDS):
        if isinstance(item, Heartbeat):
            await _send(send, HEARTBEAT)
        elif isinstance(item, TooSlow):
            await _send(send, frame("resume", sse.to_json(sse.too_slow(item)), str(item.after)))
            return FELL_BEHIND
        elif isinstance(item, Expired):
            await _send(send, frame("expired", sse.to_json(sse.expired(item))))
            return 4000 + views.PositionExpired.status_code
        else:
            for change in item:
                name, data = opening.shape(change)
                await _send(send, frame(name, data, str(change.checkpoint)))
    return HUB_STOPPED


def frame(event: str, data: str, message_id: str | None = None) -> str:
    """A message as one JSON text frame; `data` is JSON text already (a product's is stored so,
    made by json.dumps), spliced in as it is rather than decoded and encoded again."""
    head = f'"id":{json.dumps(message_id)},' if message_id is not None else ""
    return f'{{{head}"event":{json.dumps(event)},"data":{data}}}'


async def _send(send, text: str) -> None:
    await send({"type": "websocket.send", "text": text})


async def _close(send, code: int) -> None:
    try:
        await send({"type": "websocket.close", "code": code})
    except OSError:
        pass  # the client is gone already
