"""Request bodies of the HTTP API (pydantic), shared by the app and its OpenAPI schema."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ClipIn(BaseModel):
    """A clip: JSON joints with a layout name, or a file path under the server's data root."""

    joints: list[Any] | None = Field(None, description="[M][T][V][3] or [T][V][3] coordinates")
    layout: str = Field("ntu", description="skeleton layout of the joints: ntu, kinect_v1 or msr")
    path: str | None = Field(None, description="clip file relative to the data root (VCL_DATA_ROOT)")
    name: str = Field("clip", max_length=200)


class ClassifyIn(BaseModel):
    clips: list[ClipIn]
    top_k: int = Field(5, ge=1, le=100)
    preview: bool = Field(False, description="include each clip's preprocessed skeleton (a few frames)")


class EmbedIn(BaseModel):
    clips: list[ClipIn]


class SearchIn(BaseModel):
    """Exactly one of ``clip``, ``embedding`` or ``id`` (an indexed item's own embedding)."""

    clip: ClipIn | None = None
    embedding: list[float] | None = None
    id: int | None = None
    k: int = Field(10, ge=1, le=1000)
    label: str | None = None
    uncertainty_aware: bool = False
    preview: bool = Field(False, description="include each neighbour's stored skeleton preview")


class LabelledClipIn(ClipIn):
    label: str | None = Field(None, description="class name stored with the item")
    metadata: dict[str, Any] = Field(
        default_factory=dict, description="free-form fields stored with the item"
    )


class AddItemsIn(BaseModel):
    clips: list[LabelledClipIn]


class RebuildIn(BaseModel):
    folder: str = Field(description="clip files or a prepared dataset, relative to the data root")
