"""What routes take from a request, as typed dependencies: the app's ``Service`` (``ServiceDep``)
and who is asking (``Reader``, ``Admin``); plus reading uploaded files and ``.npy`` bodies
(``NpyBody``, documented by ``NPY_REQUEST``), and ``JSONRoute``, the
route class every router uses: it parses a JSON body larger than ``OFF_LOOP_BYTES`` in a worker
thread, in steps (``loads_in_steps``): ``json.loads`` holds the GIL for the whole document (2 s
for 42 MB), which would stall the event loop even from a thread, so the outer levels are walked
here and each inner value (one clip's joints) is one C-speed ``raw_decode``; between values the
loop runs, and ``/livez`` and other requests keep being answered while a large body parses. The
cyclic garbage collector is paused while such a body parses: JSON builds no cycles, and its full
collections over millions of fresh floats were 80% of the parse (42 MB: 2.3 s with it, 0.5 s
without) and each a GIL hold of up to 0.4 s.

Keys travel in the ``X-API-Key`` header and are compared in constant time. Read endpoints are
open, or need the API key (or the admin key). Index mutation needs the admin key: 401 without a
valid key, 403 with the reader key or when mutation is disabled. ``server.access.KeyCheck``
decides this on the headers before any body is read; the dependencies here apply the same rule
(``server.access.refusal``) where the routes declare it.
"""

from __future__ import annotations

import gc
import json
import re
import threading
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import anyio.to_thread
from fastapi import Depends, HTTPException, Request, Response, UploadFile
from fastapi.routing import APIRoute

from server import npy
from server.access import refusal
from server.clips import Upload
from server.service import Service
from server.settings import Settings

OFF_LOOP_BYTES = 64 * 1024  # JSON bodies above this are parsed in a worker thread, in steps
STEP_DEPTH = 3  # levels walked in Python: body -> clips -> clip -> (one raw_decode per value)
_SPACE = re.compile(r"[ \t\n\r]*")


def loads_in_steps(data: bytes | str, depth: int = STEP_DEPTH) -> Any:
    """``json.loads(data)``, with the outer ``depth`` levels of arrays and objects walked here and
    each value below them decoded in one ``raw_decode`` call, so no single call holds the GIL for
    the whole document. Raises ``json.JSONDecodeError`` as ``json.loads`` does."""
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    decoder = json.JSONDecoder()
    value, end = _value(text, _skip(text, 0), depth, decoder)
    end = _skip(text, end)
    if end != len(text):
        raise json.JSONDecodeError("Extra data", text, end)
    return value


def _skip(text: str, i: int) -> int:
    match = _SPACE.match(text, i)
    return match.end() if match else i


def _value(text: str, i: int, depth: int, decoder: json.JSONDecoder) -> tuple[Any, int]:
    if depth == 0 or i >= len(text) or text[i] not in "[{":
        return decoder.raw_decode(text, i)
    close = "]" if text[i] == "[" else "}"
    items: list[Any] = []
    fields: dict[str, Any] = {}
    i = _skip(text, i + 1)
    if text.startswith(close, i):
        return (items if close == "]" else fields), i + 1
    while True:
        if close == "}":
            if not text.startswith('"', i):
                raise json.JSONDecodeError("Expecting property name enclosed in double quotes", text, i)
            key, i = decoder.raw_decode(text, i)
            i = _skip(text, i)
            if not text.startswith(":", i):
                raise json.JSONDecodeError("Expecting ':' delimiter", text, i)
            fields[key], i = _value(text, _skip(text, i + 1), depth - 1, decoder)
        else:
            item, i = _value(text, i, depth - 1, decoder)
            items.append(item)
        i = _skip(text, i)
        if text.startswith(",", i):
            i = _skip(text, i + 1)
        elif text.startswith(close, i):
            return (items if close == "]" else fields), i + 1
        else:
            raise json.JSONDecodeError(f"Expecting ',' delimiter or {close!r}", text, i)


_GC_LOCK = threading.Lock()
_gc_pausers = 0
_gc_was_enabled = True


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The cyclic collector off while any caller is inside (its state is restored by the last)."""
    global _gc_pausers, _gc_was_enabled
    with _GC_LOCK:
        if _gc_pausers == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pausers += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _gc_pausers -= 1
            if _gc_pausers == 0 and _gc_was_enabled:
                gc.enable()


def _parse_large(body: bytes) -> Any:
    with _gc_paused():
        return loads_in_steps(body)


class _OffLoopJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            if len(body) > OFF_LOOP_BYTES:
                self._json = await anyio.to_thread.run_sync(_parse_large, body)
            else:
                self._json = json.loads(body)
        return self._json


class JSONRoute(APIRoute):
    """An ``APIRoute`` whose request parses large JSON bodies off the event loop."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            return await handler(_OffLoopJSONRequest(request.scope, request.receive))

        return route_handler


def _check(request: Request, needed: str) -> None:
    settings: Settings = request.app.state.settings
    refused = refusal(settings, needed, request.headers.get("x-api-key", ""))
    if refused is not None:
        raise HTTPException(status_code=refused[0], detail=refused[1])


async def get_service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


async def read_access(request: Request) -> None:
    """Read endpoints: open, or an API key (or the admin key)."""
    _check(request, "read")


async def admin_access(request: Request) -> None:
    """Index mutation: the admin key only (401 without a valid key, 403 with a reader key)."""
    _check(request, "admin")


ServiceDep = Annotated[Service, Depends(get_service)]
Reader = Annotated[None, Depends(read_access)]
Admin = Annotated[None, Depends(admin_access)]


async def read_uploads(files: list[UploadFile]) -> list[Upload]:
    """Each uploaded file's name (as sent) and content."""
    return [(f.filename, await f.read()) for f in files]


async def npy_body(request: Request) -> bytes:
    """The body of a ``Content-Type: application/x-npy`` request (415 for any other type)."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != npy.MEDIA_TYPE:
        raise HTTPException(
            status_code=415,
            detail=f"Content-Type {media_type or '(none)'}: this route takes {npy.MEDIA_TYPE} "
            "(one array as numpy.save writes it); JSON clips go to the route without /npy",
        )
    return await request.body()


NpyBody = Annotated[bytes, Depends(npy_body)]
NPY_REQUEST: dict[str, Any] = {  # the OpenAPI requestBody of a route taking NpyBody
    "requestBody": {
        "required": True,
        "description": f"one array, as numpy.save writes it: {npy.SHAPES}, {', '.join(npy.DTYPES)}",
        "content": {npy.MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
    }
}
