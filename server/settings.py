"""Server settings from the environment (prefix ``VCL_``), validated at startup."""

from __future__ import annotations

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

KNOWN_DEFAULT_KEYS = frozenset({"", "changeme", "change-me", "admin", "secret", "password", "default", "vcl"})


class Settings(BaseSettings):
    """Where the model and index are, and who may do what.

    ``read_open``: classify/embed/search need no key; otherwise they need ``api_key`` (or the admin
    key) in the ``X-API-Key`` header. Index mutation always needs ``admin_key``, and the server
    refuses to start with ``allow_mutation`` and no admin key or a well-known default one.
    """

    model_config = SettingsConfigDict(env_prefix="VCL_")

    model_dir: str
    index_dir: str | None = None
    api_key: str | None = None
    admin_key: str | None = None
    read_open: bool = True
    allow_mutation: bool = False
    unknown_threshold: float | None = None
    max_clips: int = 64
    threads: int = 0

    @model_validator(mode="after")
    def _keys(self) -> Settings:
        if self.allow_mutation and (
            self.admin_key is None or self.admin_key.strip().lower() in KNOWN_DEFAULT_KEYS
        ):
            raise ValueError("VCL_ALLOW_MUTATION is on but VCL_ADMIN_KEY is missing or a well-known default")
        if not self.read_open and not self.api_key:
            raise ValueError("VCL_READ_OPEN is off but no VCL_API_KEY is set: nobody could read")
        return self
