"""``GET /livez``, ``GET /readyz`` (503 until the model, and the index when one is configured, are
loaded and warmed) and ``GET /metrics`` (Prometheus text, for readers)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import PlainTextResponse

from server.deps import JSONRoute, Reader, ServiceDep
from server.schemas import Status

router = APIRouter(tags=["health"], route_class=JSONRoute)
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


@router.get("/livez")
def livez() -> Status:
    """The process is up."""
    return Status(status="ok")


@router.get("/readyz", responses={503: {"model": Status, "description": "still loading"}})
def readyz(service: ServiceDep, response: Response) -> Status:
    """Ready once the model (and index) are loaded and warmed."""
    if not service.ready:
        response.status_code = 503
        return Status(status=f"refused: {service.refused}" if service.refused else "loading")
    return Status(status="ready")


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def metrics(_: Reader, service: ServiceDep) -> Response:
    """Prometheus text: requests, latency, batches, queue depth, rejections, index, providers."""
    return Response(service.metrics_text(), media_type=PROMETHEUS_TEXT)
