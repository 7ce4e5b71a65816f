"""Request-size limits of the API: a body over the limit is refused with 413 before anything is parsed or stored.

Bodies under /api/ may be at most `max_request_bytes` (default 4 MiB). Field limits that keep Temporal payloads
small (run config, location env) are in contracts/; the codec endpoint has its own limit (controlplane/codec_server.py).
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_PREFIX = "/api/"
DEFAULT_MAX_REQUEST_BYTES = 4 * 1024 * 1024


class BodyLimit:
    """ASGI middleware: 413 for API request bodies over `max_bytes` (by Content-Length, or while streaming)."""

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_REQUEST_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send, int(declared))
            return
        if declared is not None:
            await self.app(scope, receive, send)  # the server stops reading at the declared length
            return
        # No declared length (a chunked body): read it here, up to the limit, then hand it on. Raising from the
        # receive channel instead would reach the app's body parser, which turns any error into a 400.
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            received += len(chunks[-1])
            if received > self.max_bytes:
                await self._refuse(send, received)
                return
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, size: int) -> None:
        detail = f"request body of {size} bytes or more is over the limit of {self.max_bytes} bytes"
        body = json.dumps({"detail": detail}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
