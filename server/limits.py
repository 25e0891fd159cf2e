"""Request limits as pure ASGI middleware: the body size (no body is buffered to check it), and
the arrival time the batcher's deadline counts from (``RequestClock``).

A declared ``Content-Length`` over the limit is refused before anything is read; a chunked body
(or one that lies about its length) is counted as it streams in and refused with 413 as soon as it
passes the limit. Either way the application never sees more than ``max_bytes``.
"""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.batching import ARRIVAL


class BodyTooLarge(HTTPException):
    """Raised from ``receive``; an HTTPException so the framework's own handlers answer 413 even
    where they wrap body-reading errors."""

    def __init__(self, detail: str) -> None:
        super().__init__(status_code=413, detail=detail)


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_bytes
            except ValueError:
                await reject(send, 400, "Content-Length is not a number")
                return
            if too_big:
                await reject(send, 413, self._message(int(declared)))
                return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self._message(received))
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge as exc:
            if not started:
                await reject(send, 413, exc.detail)

    def _message(self, size: int) -> str:
        limit = f"the limit is {self.max_bytes} (VCL_MAX_BODY_BYTES)"
        return f"request body too large: {size} bytes or more, {limit}"


class RequestClock:
    """Marks when a request arrived (its headers are in): ``ARRIVAL`` for the whole request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = ARRIVAL.set(time.monotonic()) if scope["type"] == "http" else None
        try:
            await self.app(scope, receive, send)
        finally:
            if token is not None:
                ARRIVAL.reset(token)


async def reject(send: Send, status: int, detail: str) -> None:
    """Answer ``{"detail": detail}`` with ``status`` straight from the middleware."""
    body: Any = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
