"""Server settings from the environment (prefix ``VCL_``), validated at startup."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

KNOWN_DEFAULT_KEYS = frozenset({"", "changeme", "change-me", "admin", "secret", "password", "default", "vcl"})


class Settings(BaseSettings):
    """Where the model and index are, and who may do what.

    ``read_open``: classify/embed/search need no key; otherwise they need ``api_key`` (or the admin
    key) in the ``X-API-Key`` header. Index mutation always needs ``admin_key``, and the server
    refuses to start with ``allow_mutation`` and no admin key or a well-known default one.
    ``data_root``: the only folder request paths may name (rebuild folders, clips by path).
    Batching: at most ``max_batch`` clips per ONNX Runtime call, gathered for ``max_wait_ms``;
    ``max_queue`` waiting requests, each answered within ``request_timeout_s`` or 504.
    """

    model_config = SettingsConfigDict(env_prefix="VCL_")

    model_dir: str
    index_dir: str | None = None
    api_key: str | None = None
    admin_key: str | None = None
    read_open: bool = True
    allow_mutation: bool = False
    unknown_threshold: float | None = None
    max_clips: Annotated[int, Field(ge=1)] = 64
    threads: Annotated[int, Field(ge=0)] = 0
    data_root: str | None = None
    max_body_bytes: Annotated[int, Field(ge=1024)] = 64 * 1024 * 1024
    max_frames: Annotated[int, Field(ge=1)] = 3000
    max_persons: Annotated[int, Field(ge=1)] = 4
    max_batch: Annotated[int, Field(ge=1)] = 32
    max_wait_ms: Annotated[float, Field(ge=0)] = 5.0
    max_queue: Annotated[int, Field(ge=1)] = 256
    request_timeout_s: Annotated[float, Field(gt=0)] = 10.0

    @model_validator(mode="after")
    def _keys(self) -> Settings:
        if self.allow_mutation and (
            self.admin_key is None or self.admin_key.strip().lower() in KNOWN_DEFAULT_KEYS
        ):
            raise ValueError("VCL_ALLOW_MUTATION is on but VCL_ADMIN_KEY is missing or a well-known default")
        if not self.read_open and not self.api_key:
            raise ValueError("VCL_READ_OPEN is off but no VCL_API_KEY is set: nobody could read")
        return self
