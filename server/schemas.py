"""Request and response bodies of the HTTP API (pydantic): the app validates against them and its
OpenAPI document shows them.

Requests. Field constraints the OpenAPI schema can state (``top_k`` 1..100, ``k`` 1..1000, at
least one clip, names of at most 200 characters) are pydantic's and answered with its 422 list.
Rules between fields (a clip has exactly one of ``joints`` and ``path``, a search exactly one of
``clip``, ``embedding`` and ``id``) raise a :data:`RULE` error, which the app answers as one
message naming the place and both fields: ``clips[0]: give exactly one of 'joints' or 'path'``.
What depends on the settings or the model (clips per request after reading files, persons and
frames per clip, the embedding's length) is checked by the service, with the same kind of message.

Responses. Optional parts (``skeleton`` without ``preview``, the sigma score and per-stream
``mu``/``sigma`` of a model without a Gaussian head) are left out of an answer, not null: routes
that return them serialise with ``response_model_exclude_unset``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from skeleton.clip import CHANNELS
from skeleton.layouts import LAYOUTS

RULE = "vcl_rule"  # the error type of a rule between fields, answered as one message


def rule_detail(errors: Sequence[Any]) -> str | None:
    """``where: message; ...`` when every validation error is a :data:`RULE`, else None.
    ``where`` is the error's location in the body, as ``clips[0]`` or ``clip``."""
    if not errors or any(e.get("type") != RULE for e in errors):
        return None
    parts = []
    for error in errors:
        where = ""
        for key in error.get("loc", ())[1:]:  # [0] is "body"
            where += f"[{key}]" if isinstance(key, int) else f".{key}" if where else str(key)
        parts.append(f"{where}: {error['msg']}" if where else str(error["msg"]))
    return "; ".join(parts)


def _integer_text(value: Any) -> Any:
    """A path or form value given as text must be written as an integer: ``+0.0`` or ``1e3``
    would otherwise be taken as 0 and 1000 by pydantic's lax parsing."""
    if isinstance(value, str) and not re.fullmatch(r"-?[0-9]+", value):
        raise ValueError("expected an integer written in digits")
    return value


IntegerText = BeforeValidator(_integer_text)  # for int path and form parameters
ItemId = Annotated[int, IntegerText]


def _exactly_one(model: BaseModel, fields: Sequence[str], message: str) -> None:
    if sum(getattr(model, f) is not None for f in fields) != 1:
        raise PydanticCustomError(RULE, message)


# ---------------------------------------------------------------------------- requests
class ClipOptions(BaseModel):
    """What a clip's values are and its name: the fields of ``ClipIn`` beside its joints, also
    the query parameters of a binary (``.npy``) clip body."""

    layout: str = Field(
        default="ntu",
        description=f"skeleton layout of the joints: {', '.join(LAYOUTS)}; a clip in another layout "
        "than the model's is mapped to it when a mapping exists (the answer says mapped_from)",
    )
    channels: str | None = Field(
        default=None,
        description=f"what the C values of a joint are: {', '.join(CHANNELS)} (xys = x, y, score); "
        "default xy for C=2, xys for C=3 in an estimator layout, xyz for C=3 in a capture layout",
    )
    name: str = Field(default="clip", max_length=200)


class ClipIn(ClipOptions):
    """A clip: JSON joints with a layout name, or a file path under the server's data root."""

    joints: list[Any] | None = Field(
        default=None, description="[M][T][V][C] or [T][V][C] values (C channels, see 'channels')"
    )
    path: str | None = Field(default=None, description="clip file relative to the data root (VCL_DATA_ROOT)")

    @model_validator(mode="after")
    def _one_source(self) -> ClipIn:
        _exactly_one(self, ("joints", "path"), "give exactly one of 'joints' or 'path'")
        return self


class ClassifyIn(BaseModel):
    clips: list[ClipIn] = Field(min_length=1)
    top_k: int = Field(default=5, ge=1, le=100)
    preview: bool = Field(
        default=False, description="include each clip's preprocessed skeleton (a few frames)"
    )
    per_person: bool = Field(
        default=False,
        description="one result per person (track) of each clip, with its track id and frame span",
    )
    by: Literal["model", "index", "both"] = Field(
        default="model",
        description="who labels a clip: the model's classifier, a vote of the index's labelled "
        "neighbours (enrolled actions, no retraining), or both: the index when its label is not "
        "one of the model's classes or its vote share beats the model's probability (docs/index.md)",
    )
    explain: bool = Field(
        default=False,
        description="which joints mattered: per-frame, per-joint attribution of the predicted class",
    )
    explain_label: str | None = Field(
        default=None, description="attribute this class instead of the predicted one (implies explain)"
    )


class EmbedIn(BaseModel):
    clips: list[ClipIn] = Field(min_length=1)


class SearchOptions(BaseModel):
    """How to search and what to answer, whatever the query."""

    k: int = Field(default=10, ge=1, le=1000)
    label: str | None = None
    uncertainty_aware: bool = False
    preview: bool = Field(default=False, description="include each neighbour's stored skeleton preview")


class SearchIn(SearchOptions):
    """Exactly one of ``clip``, ``embedding`` or ``id`` (an indexed item's own embedding)."""

    clip: ClipIn | None = None
    embedding: list[float] | None = Field(
        default=None, description="the model's embedding_dim finite numbers"
    )
    id: int | None = None

    @model_validator(mode="after")
    def _one_query(self) -> SearchIn:
        _exactly_one(
            self, ("clip", "embedding", "id"), "search: give exactly one of 'clip', 'embedding' or 'id'"
        )
        return self


class ClassifyQuery(ClipOptions):
    """``/v1/classify/npy``'s query parameters: the clip options and ``ClassifyIn``'s."""

    top_k: Annotated[int, IntegerText] = Field(default=5, ge=1, le=100)
    preview: bool = Field(default=False, description="include each clip's preprocessed skeleton")
    per_person: bool = Field(default=False, description="one result per person (track) of each clip")
    by: Literal["model", "index", "both"] = Field(
        default="model", description="who labels a clip (as ClassifyIn's by; docs/index.md)"
    )
    explain: bool = Field(default=False, description="per-frame, per-joint attribution (as ClassifyIn's)")
    explain_label: str | None = Field(default=None, description="attribute this class (implies explain)")


class SearchQuery(ClipOptions, SearchOptions):
    """``/v1/search/npy``'s query parameters: the clip options and the search options."""

    k: Annotated[int, IntegerText] = Field(default=10, ge=1, le=1000)


class LabelledClipIn(ClipIn):
    label: str | None = Field(default=None, description="class name stored with the item")
    metadata: dict[str, Any] = Field(
        default_factory=dict, description="free-form fields stored with the item"
    )


class AddItemsIn(BaseModel):
    clips: list[LabelledClipIn] = Field(min_length=1)


class RebuildIn(BaseModel):
    folder: str = Field(description="clip files or a prepared dataset, relative to the data root")


# ---------------------------------------------------------------------------- responses
class ErrorOut(BaseModel):
    """Every error answer: a message naming what is wrong, or pydantic's list for schema violations."""

    detail: str | list[dict[str, Any]]


class Status(BaseModel):
    status: str = Field(description="ok (livez); ready or loading (readyz)")


class ModelInfo(BaseModel):
    """The manifest summary, the layout's bones and the execution providers in use."""

    layout: str
    streams: list[str]
    fusion_weights: dict[str, float]
    class_names: list[str] | None
    num_classes: int | None
    embedding_dim: int
    has_gaussian_head: bool
    pipeline: dict[str, Any]
    model_sha256: str
    outputs: list[str]
    opset: int
    method: str
    explainable: bool = Field(
        default=False, description="classify takes explain: the graph has its 'cam' output"
    )
    uncertainty: dict[str, Any] | None = Field(
        default=None,
        description="reference clips, unknown score and default threshold (exported with --reference)",
    )
    num_joints: int
    bones: list[list[int]]
    preview_up_axis: int = Field(description="the vertical axis of preprocessed skeletons")
    providers: list[str]
    precision: str = Field(
        default="fp32",
        description="the graph served: fp32 or a variant (VCL_PRECISION; auto serves int8 on a CPU where "
        "the export's int8 guard passed)",
    )


class IndexInfo(BaseModel):
    version: str
    count: int
    dim: int
    kind: str
    model_sha256: str


class Skeleton(BaseModel):
    frames: list[list[list[list[float]]]] = Field(description="a few frames [F][M][V][3]")


class ItemOut(BaseModel):
    id: int
    metadata: dict[str, Any]
    skeleton: Skeleton | None
    version: str


class DataFiles(BaseModel):
    files: list[str] = Field(description="clip files relative to the data root, sorted")


class ClassScore(BaseModel):
    label: str
    class_index: int
    probability: float


class VoteNeighbour(BaseModel):
    id: int
    label: str | None
    score: float = Field(description="cosine similarity")


class IndexVote(BaseModel):
    """With ``by`` index or both: the vote of the index's nearest labelled items (``index.vote``)."""

    label: str | None = Field(description="the winning label; null when no neighbour has a label")
    share: float = Field(description="the winning label's share of the vote, in [0, 1]")
    shares: dict[str, float] = Field(description="every voted label's share, largest first")
    neighbours: list[VoteNeighbour] = Field(description="the items that were asked, nearest first")
    version: str = Field(description="the index version that answered")


class Uncertainty(BaseModel):
    softmax_entropy: float
    score: float | None = Field(
        default=None, description="sigma score: mean log sigma^2 (Gaussian head only)"
    )
    per_stream: dict[str, float] | None = Field(default=None, description="sigma score per stream")
    percentile: dict[str, float] | None = Field(
        default=None,
        description="per score (sigma; softmax = 1 - max p): its percentile among the model's validation "
        "clips, 0-100, higher = more uncertain (models exported with --reference only)",
    )
    wrong_probability: float | None = Field(
        default=None,
        description="calibrated probability that the label is wrong, fitted on validation clips "
        "(models exported with --reference only)",
    )


class Explanation(BaseModel):
    """The class activation map of one class (``runtime.attribution``), over the model's input
    frames (the preprocessed clip, ``pipeline.num_frames``) and the layout's joints."""

    label: str
    class_index: int
    frames: list[list[float]] = Field(
        description="[T][V] signed share of the evidence for the class (positive: for it); "
        "absolute values sum to 1"
    )
    joints: list[float] = Field(description="[V] the shares summed over frames")
    joint_names: list[str]
    total: float = Field(description="the class's fused logit minus its bias: the sum of the raw map")
    bias: float = Field(description="the class's fused bias (total + bias = the fused logit)")
    preview_frames: list[int] | None = Field(
        default=None, description="with preview: the row of 'frames' each skeleton frame shows"
    )


class ClassifyResult(BaseModel):
    name: str
    label: str
    class_index: int | None = Field(
        description="the label's index among the model's classes; null for a label only the index knows"
    )
    probability: float = Field(
        description="the model's softmax probability of the label; its vote share when decided_by is index"
    )
    top_k: list[ClassScore]
    uncertainty: Uncertainty
    unknown: bool = Field(
        description="the model's unknown score (see /v1/model uncertainty; the sigma score when the model "
        "has none) is above VCL_UNKNOWN_THRESHOLD, or unset, the model's validation threshold"
    )
    skeleton: Skeleton | None = Field(default=None, description="with preview: the preprocessed skeleton")
    mapped_from: str | None = Field(
        default=None, description="the clip's layout, when it was mapped to the model's"
    )
    synthesised: list[str] | None = Field(
        default=None, description="with mapped_from: the model-layout joints made up by the mapping"
    )
    track: int | None = Field(default=None, description="with per_person: the person's track id")
    span: list[int] | None = Field(default=None, description="with per_person: [first, last + 1] frame")
    decided_by: Literal["model", "index"] | None = Field(
        default=None, description="with by index or both: who gave the label"
    )
    index_vote: IndexVote | None = Field(default=None, description="with by index or both: the vote")
    explanation: Explanation | None = Field(default=None, description="with explain: which joints mattered")


class ClassifyOut(BaseModel):
    results: list[ClassifyResult]


class StreamEmbedding(BaseModel):
    mu: list[float]
    sigma: list[float]


class EmbedResult(BaseModel):
    name: str
    embedding: list[float] = Field(description="the fused retrieval embedding")
    streams: dict[str, StreamEmbedding] | None = Field(default=None, description="Gaussian head only")


class EmbedOut(BaseModel):
    results: list[EmbedResult]


class Neighbour(BaseModel):
    id: int
    label: str | None
    score: float = Field(description="cosine similarity")
    mls: float | None = Field(description="mutual likelihood score, when uncertainty-aware")
    metadata: dict[str, Any]
    version: str
    skeleton: Skeleton | None = Field(default=None, description="with preview: the stored skeleton preview")


class SearchOut(BaseModel):
    version: str = Field(description="the index version that answered")
    neighbours: list[Neighbour]


class AddedOut(BaseModel):
    ids: list[int]
    version: str


class RemovedOut(BaseModel):
    removed: int
    version: str


class JobOut(BaseModel):
    id: str
    kind: str
    status: str = Field(description="queued, running, succeeded or failed")
    stage: str
    created: float
    started: float | None
    finished: float | None
    result: dict[str, Any] = Field(description="version and count, once succeeded")
    error: str | None


class JobStarted(BaseModel):
    job: JobOut
    status_url: str
