"""Connections under uvicorn: slow and idle clients are cut off, open connections are capped.

uvicorn bounds an idle keep-alive connection (``timeout_keep_alive``) and, with
``limit_concurrency``, answers 503 to requests past a number of open connections or running
tasks; it has no timeout for a request that arrives slowly (headers a byte at a time, or a
``Content-Length: 100`` with no body): such a connection stays open as long as the client likes.
``ReadTimeoutH11Protocol`` adds that: from a connection's first byte (or its opening, or the end of
the previous response) the whole request, headers and body, must be in within
``read_timeout_s``, else the connection gets a 408 (when no answer has started) and is closed,
and the application, if it was waiting for the body, sees the client disconnect.
``uvicorn_config`` builds the one configuration ``vcl serve`` and the tests run.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from server.settings import Settings

_TIMEOUT_BODY = json.dumps({"detail": "request not received in time (VCL_READ_TIMEOUT_S)"}).encode()
TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
    + f"content-length: {len(_TIMEOUT_BODY)}\r\n\r\n".encode()
    + _TIMEOUT_BODY
)


class ReadTimeoutH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a read timeout per request (``read_timeout`` seconds)."""

    read_timeout = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._arm()  # a no-op while the request's timer runs: slow bytes do not extend it
        super().data_received(data)
        if self.conn.their_state in (h11.DONE, h11.MUST_CLOSE, h11.CLOSED, h11.ERROR):
            self._disarm()  # the whole request is in

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._disarm()  # idle now: uvicorn's keep-alive timeout takes over until the next byte

    def _arm(self) -> None:
        if self._read_timer is None:
            self._read_timer = self.loop.call_later(self.read_timeout, self._expired)

    def _disarm(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _expired(self) -> None:
        self._read_timer = None
        if self.transport.is_closing():
            return
        if self.conn.their_state in (h11.DONE, h11.MUST_CLOSE):
            return
        if self.conn.their_state is h11.IDLE and self.cycle is not None and not self.conn.trailing_data[0]:
            return  # between requests with nothing sent yet: the keep-alive timeout's business
        if self.cycle is None or not self.cycle.response_started:
            self.transport.write(TIMEOUT_RESPONSE)
        self.transport.close()


def protocol_for(settings: Settings) -> type[ReadTimeoutH11Protocol]:
    """The protocol class with ``settings.read_timeout_s``."""
    return type("VclH11Protocol", (ReadTimeoutH11Protocol,), {"read_timeout": settings.read_timeout_s})


def uvicorn_config(app: Any, settings: Settings, host: str, port: int, **extra: Any) -> uvicorn.Config:
    """uvicorn's configuration for ``app``: the read timeout, keep-alive and connection cap of
    ``settings`` (``limit_concurrency`` answers 503 past ``max_connections``)."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol_for(settings),
        timeout_keep_alive=max(1, round(settings.keep_alive_s)),
        limit_concurrency=settings.max_connections,
        **extra,
    )
