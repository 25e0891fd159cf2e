"""Who may call what, decided from the method, path and ``X-API-Key`` header alone, before any body
is read: ``KeyCheck`` is pure ASGI middleware that answers 401/403 on the headers, so a request
without a valid key costs no body reading or parsing however large it claims to be.

Levels: ``open`` (``/livez``, ``/readyz``, the web page and its files), ``admin`` (index mutation:
``POST /v1/index/items[/files]``, ``DELETE /v1/index/items/{id}``, ``/v1/index/rebuild*``,
``/v1/index/jobs/*``) and ``read`` (everything else, ``/docs`` and ``/openapi.json`` included):
open when ``VCL_READ_OPEN``, else the API key or the admin key. Admin: 403 when mutation is off
or with the reader key, 401 without a valid key. Keys are compared in constant time. The route
dependencies of ``server.deps`` apply the same ``refusal``, so a route is never reachable around it.
"""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from server.limits import reject
from server.replicas import describe_writer
from server.settings import Settings

OPEN_PATHS = frozenset({"/livez", "/readyz", "/"})


def level(method: str, path: str) -> str:
    """``open``, ``read`` or ``admin`` for a request line."""
    if path in OPEN_PATHS or path.startswith("/static/"):
        return "open"
    if path.startswith(("/v1/index/rebuild", "/v1/index/jobs")):
        return "admin"
    if path == "/v1/index/items" or path.startswith("/v1/index/items/"):
        return "read" if method in ("GET", "HEAD") else "admin"
    return "read"


def _matches(given: str, key: str | None) -> bool:
    return bool(key) and hmac.compare_digest(given.encode(), (key or "").encode())


def refusal(settings: Settings, needed: str, given: str) -> tuple[int, str] | None:
    """(status, detail) when a request at level ``needed`` with key ``given`` is refused, else None."""
    api_key, admin_key = settings.secret("api_key"), settings.secret("admin_key")
    if needed == "open":
        return None
    if needed == "read":
        if settings.read_open or _matches(given, api_key) or _matches(given, admin_key):
            return None
        return 401, "missing or wrong X-API-Key"
    if not settings.allow_mutation:
        writer = describe_writer(settings.index_dir) if settings.index_dir else None
        if writer is not None:
            return (
                403,
                f"this server follows the index and takes no writes; send them to the writer, {writer}",
            )
        return 403, "index mutation is disabled (VCL_ALLOW_MUTATION)"
    if _matches(given, admin_key):
        return None
    if _matches(given, api_key):
        return 403, "this endpoint needs the admin key"
    return 401, "missing or wrong X-API-Key"


class KeyCheck:
    """Refuse on the headers: the application (and its body reading) never runs for a refused key."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = ""
            for name, value in scope.get("headers") or []:
                if name == b"x-api-key":
                    given = value.decode("latin-1")
                    break
            refused = refusal(self.settings, level(scope["method"], scope["path"]), given)
            if refused is not None:
                await reject(send, *refused)
                return
        await self.app(scope, receive, send)
