"""The FastAPI service, built by ``create_app`` (never at import time). No torch is imported.

Read endpoints: ``GET /livez``, ``GET /readyz``, ``GET /metrics``, ``GET /v1/model``,
``GET /v1/index``, ``GET /v1/index/items/{id}``, ``GET /v1/data/files``, ``POST /v1/classify``,
``/v1/embed`` and ``/v1/search`` (JSON) with ``/files`` variants taking multipart uploads. Admin
endpoints (index mutation): ``POST /v1/index/items[/files]``, ``DELETE /v1/index/items/{id}``,
``POST /v1/index/rebuild[/archive]`` (202 + job id), ``GET /v1/index/jobs/{id}``. The web page is
``GET /``. The layers: ``server.routes`` (one router per concern, thin handlers), ``server.deps``
(keys, the service), ``server.service`` (the model, index, batcher and jobs; knows no HTTP),
``server.schemas`` (request and response bodies). This module holds the lifespan, the middleware
and the one mapping from errors to status codes (``ERRORS``). The middleware, outermost first:
``RequestClock`` (the arrival the deadline counts from), metrics, ``KeyCheck`` (keys on the
headers, before any body), ``BodySizeLimit``. Error details pass through ``Service.redact``, so no
server path (data root, index, model, temporary upload directories) ever reaches a client.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from common.errors import VclError
from server.access import KeyCheck
from server.batching import DeadlineExceeded, QueueFull
from server.errors import BadInput, Conflict, NotFound, NotReady
from server.limits import BodySizeLimit, RequestClock
from server.metrics import Metrics, MetricsMiddleware
from server.routes import admin, health, inference, page, search
from server.schemas import ErrorOut, rule_detail
from server.service import Service
from server.settings import Settings

# every error the service raises on purpose -> (status, extra headers); the most specific class wins
ERRORS: dict[type[Exception], tuple[int, dict[str, str]]] = {
    VclError: (422, {}),  # bad data, model input or index request (SkeletonError, RuntimeModelError, ...)
    BadInput: (422, {}),
    NotFound: (404, {}),
    Conflict: (409, {}),
    NotReady: (503, {}),
    QueueFull: (503, {"Retry-After": "1"}),
    DeadlineExceeded: (504, {}),
}
ERROR_RESPONSE: dict[int | str, dict[str, Any]] = {
    "default": {"model": ErrorOut, "description": "an error; `detail` names what is wrong"}
}


async def answer_error(request: Request, exc: Exception) -> JSONResponse:
    status, headers = next(ERRORS[cls] for cls in type(exc).__mro__ if cls in ERRORS)
    service: Service | None = getattr(request.app.state, "service", None) if request is not None else None
    detail = service.redact(str(exc)) if service is not None else str(exc)
    return JSONResponse(status_code=status, content={"detail": detail}, headers=headers)


async def answer_invalid_request(request: Request, exc: Exception) -> JSONResponse:
    """A broken rule between fields (``server.schemas.RULE``) is one message; anything else is
    pydantic's list, as FastAPI answers it."""
    assert isinstance(exc, RequestValidationError)
    detail = rule_detail(exc.errors())
    if detail is None:
        return await request_validation_exception_handler(request, exc)
    return JSONResponse(status_code=422, content={"detail": detail})


def create_app(settings: Settings) -> FastAPI:
    metrics = Metrics()
    service = Service(settings, metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        yield
        await service.stop()

    app = FastAPI(
        title="VCL skeleton action service",
        description="Action labels with uncertainty, embeddings and similar-motion search.",
        lifespan=lifespan,
        responses=ERROR_RESPONSE,
    )
    app.state.settings = settings
    app.state.service = service
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(KeyCheck, settings=settings)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(RequestClock)
    for error in ERRORS:
        app.add_exception_handler(error, answer_error)
    app.add_exception_handler(RequestValidationError, answer_invalid_request)
    for routes in (health, page, inference, search, admin):
        app.include_router(routes.router)
    if page.STATIC.is_dir():
        app.mount("/static", StaticFiles(directory=page.STATIC), name="static")
    return app


__all__ = ["ERRORS", "create_app"]
