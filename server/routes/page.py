"""``GET /``: the web page (``server/static/``, plain ES modules; ``server.app`` mounts the folder
at ``/static``). Not in the OpenAPI document."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from server.deps import JSONRoute

STATIC = Path(__file__).resolve().parent.parent / "static"
router = APIRouter(include_in_schema=False, route_class=JSONRoute)


@router.get("/")
def page() -> FileResponse:
    return FileResponse(STATIC / "index.html")
