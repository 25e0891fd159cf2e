"""Server settings from the environment (prefix ``VCL_``), validated at startup."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

KNOWN_DEFAULT_KEYS = frozenset(
    {
        "",
        "changeme",
        "change-me",
        "changeit",
        "admin",
        "administrator",
        "secret",
        "password",
        "default",
        "vcl",
        "apikey",
        "api-key",
        "api_key",
        "adminkey",
        "admin-key",
        "test",
        "letmein",
        "123456",
        "0123456789abcdef",
        "changemechangeme",
        "secretsecretsecret",
        "passwordpassword",
    }
)
MIN_KEY_LENGTH = 16


class Settings(BaseSettings):
    """Where the model and index are, and who may do what.

    ``read_open``: classify/embed/search need no key; otherwise they need ``api_key`` (or the admin
    key) in the ``X-API-Key`` header. Index mutation always needs ``admin_key``, and the server
    refuses to start with ``allow_mutation`` and no admin key. Keys are secrets (never printed in
    a repr or an error): each must have at least 16 characters, not be a well-known default, and
    the two must differ.
    ``data_root``: the only folder request paths may name (rebuild folders, clips by path).
    Batching: at most ``max_batch`` clips per ONNX Runtime call, gathered for ``max_wait_ms``;
    ``max_queue`` waiting requests, each answered within ``request_timeout_s`` of its arrival or 504;
    ``inference_workers`` batches run at once (``server.batching``, ``server.sessions``).
    Connections (``server.connections``): a request must arrive whole (headers and body) within
    ``read_timeout_s`` of its first byte, an idle keep-alive connection closes after
    ``keep_alive_s``, and past ``max_connections`` open connections requests get 503.
    """

    model_config = SettingsConfigDict(env_prefix="VCL_", hide_input_in_errors=True)

    model_dir: str
    index_dir: str | None = None
    # secrets: never in a repr, a dump or an error message
    api_key: str | None = Field(default=None, repr=False, exclude=True)
    admin_key: str | None = Field(default=None, repr=False, exclude=True)
    read_open: bool = True
    allow_mutation: bool = False
    unknown_threshold: float | None = None
    max_clips: Annotated[int, Field(ge=1)] = 64
    threads: Annotated[int, Field(ge=0)] = 0
    precision: Literal["auto", "fp32", "fp16", "int8"] = "auto"  # runtime.model.auto_precision
    data_root: str | None = None
    max_body_bytes: Annotated[int, Field(ge=1024)] = 64 * 1024 * 1024
    max_frames: Annotated[int, Field(ge=1)] = 3000
    max_persons: Annotated[int, Field(ge=1)] = 4
    max_batch: Annotated[int, Field(ge=1)] = 32
    inference_workers: Annotated[int, Field(ge=1)] = 2  # batches in flight at once (server.sessions)
    max_wait_ms: Annotated[float, Field(ge=0)] = 5.0
    max_queue: Annotated[int, Field(ge=1)] = 256
    request_timeout_s: Annotated[float, Field(gt=0)] = 10.0
    read_timeout_s: Annotated[float, Field(gt=0)] = 30.0
    keep_alive_s: Annotated[float, Field(gt=0)] = 5.0
    max_connections: Annotated[int, Field(ge=1)] = 256
    require_gpu: bool = False  # never ready unless ONNX Runtime really got CUDAExecutionProvider
    public_url: str | None = None  # how clients reach this server (named to writes sent to a follower)
    follow_interval_s: Annotated[float, Field(gt=0)] = 2.0  # a follower's CURRENT poll (server.replicas)

    @model_validator(mode="after")
    def _keys(self) -> Settings:
        if self.allow_mutation and self.admin_key is None:
            raise ValueError("VCL_ALLOW_MUTATION is on but VCL_ADMIN_KEY is missing or a well-known default")
        if not self.read_open and not self.api_key:
            raise ValueError("VCL_READ_OPEN is off but no VCL_API_KEY is set: nobody could read")
        for name, key in (("VCL_ADMIN_KEY", self.admin_key), ("VCL_API_KEY", self.api_key)):
            if key is None:
                continue
            value = key
            if value.strip().lower() in KNOWN_DEFAULT_KEYS:
                raise ValueError(f"{name} is missing or a well-known default")
            if len(value) < MIN_KEY_LENGTH:
                raise ValueError(f"{name} is shorter than {MIN_KEY_LENGTH} characters")
        if self.api_key is not None and self.admin_key is not None:
            if self.api_key == self.admin_key:
                raise ValueError(
                    "VCL_API_KEY and VCL_ADMIN_KEY are the same: the reader key would be an admin key"
                )
        return self

    def secret(self, name: str) -> str | None:
        """The value of ``api_key`` or ``admin_key``, or None."""
        key: str | None = getattr(self, name)
        return key
