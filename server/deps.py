"""What routes take from a request, as typed dependencies: the app's ``Service`` (``ServiceDep``)
and who is asking (``Reader``, ``Admin``); plus reading uploaded files.

Keys travel in the ``X-API-Key`` header and are compared in constant time. Read endpoints are
open, or need the API key (or the admin key). Index mutation needs the admin key: 401 without a
valid key, 403 with the reader key or when mutation is disabled.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, UploadFile

from server.clips import Upload
from server.service import Service
from server.settings import Settings


def _key_matches(given: str, key: str | None) -> bool:
    return bool(key) and hmac.compare_digest(given.encode(), (key or "").encode())


def get_service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def read_access(request: Request) -> None:
    """Read endpoints: open, or an API key (or the admin key)."""
    settings: Settings = request.app.state.settings
    if settings.read_open:
        return
    given = request.headers.get("x-api-key", "")
    if not (_key_matches(given, settings.api_key) or _key_matches(given, settings.admin_key)):
        raise HTTPException(status_code=401, detail="missing or wrong X-API-Key")


def admin_access(request: Request) -> None:
    """Index mutation: the admin key only (401 without a valid key, 403 with a reader key)."""
    settings: Settings = request.app.state.settings
    given = request.headers.get("x-api-key", "")
    if not settings.allow_mutation:
        raise HTTPException(status_code=403, detail="index mutation is disabled (VCL_ALLOW_MUTATION)")
    if _key_matches(given, settings.admin_key):
        return
    if _key_matches(given, settings.api_key):
        raise HTTPException(status_code=403, detail="this endpoint needs the admin key")
    raise HTTPException(status_code=401, detail="missing or wrong X-API-Key")


ServiceDep = Annotated[Service, Depends(get_service)]
Reader = Annotated[None, Depends(read_access)]
Admin = Annotated[None, Depends(admin_access)]


async def read_uploads(files: list[UploadFile]) -> list[Upload]:
    """Each uploaded file's name (as sent) and content."""
    return [(f.filename, await f.read()) for f in files]
