"""The ASGI application: the whole service, and the change feed's streams (feed/), which need it.

`uvicorn project.asgi:application` (the compose file's `feed` service, and `make run`). Django
serves HTTP (and the lifespan, which it declines); its ASGI handler takes no WebSocket, so the
feed's WebSocket route goes to feed/websocket.py, and any other WebSocket path is answered 404.
"""

import json
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
django_application = get_asgi_application()

from feed import websocket  # noqa: E402 - its views need Django set up, as get_asgi_application does

NOT_FOUND = {"code": "not_found", "detail": "No WebSocket is served at this path."}


async def application(scope, receive, send) -> None:
    if scope["type"] != "websocket":
        await django_application(scope, receive, send)
    elif scope["path"].removeprefix(scope.get("root_path", "")) == websocket.PATH:
        await websocket.product_changes(scope, receive, send)
    else:
        await _not_found(scope, receive, send)


async def _not_found(scope, receive, send) -> None:
    """A 404 to the handshake where the server can answer one; else the handshake is refused."""
    await receive()  # websocket.connect
    if "websocket.http.response" not in scope.get("extensions", {}):
        await send({"type": "websocket.close", "code": 4404})
        return
    body = json.dumps(NOT_FOUND).encode()
    await send({"type": "websocket.http.response.start", "status": 404,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "websocket.http.response.body", "body": body})
