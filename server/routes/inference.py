"""The model and what it computes: ``GET /v1/model``, ``GET /v1/data/files`` (clips a request may
name by path), ``POST /v1/classify`` and ``/v1/embed``, each with a ``/files`` variant taking
multipart uploads (every clip in every file) and a ``/npy`` variant taking one ``.npy`` array as
the body (a clip or a batch; the options as query parameters)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Query, UploadFile

from server.deps import NPY_REQUEST, JSONRoute, NpyBody, Reader, ServiceDep, read_uploads
from server.schemas import (
    ClassifyIn,
    ClassifyOut,
    ClassifyQuery,
    ClipOptions,
    DataFiles,
    EmbedIn,
    EmbedOut,
    IntegerText,
    ModelInfo,
)

router = APIRouter(tags=["inference"], route_class=JSONRoute)
ClipFiles = Annotated[
    list[UploadFile],
    File(description="clip files (.skeleton, .npz, .txt, .mat, .npy, .json, .csv; see docs/data.md)"),
]


@router.get("/v1/model")
def model_info(_: Reader, service: ServiceDep) -> ModelInfo:
    """Manifest summary, class names, layout bones, execution providers in use."""
    return service.model_info()


@router.get("/v1/data/files")
def data_files(_: Reader, service: ServiceDep) -> DataFiles:
    """Clip files under the data root (at most 1000)."""
    return service.data_files()


@router.post("/v1/classify", response_model_exclude_unset=True)
async def classify(body: ClassifyIn, _: Reader, service: ServiceDep) -> ClassifyOut:
    """Label, top-k, uncertainty (sigma score per stream, softmax entropy) and `unknown` per clip."""
    return await service.classify(
        service.clips.json_source(body.clips),
        body.top_k,
        body.preview,
        body.per_person,
        body.by,
        explain=body.explain,
        explain_label=body.explain_label,
    )


@router.post("/v1/classify/files", response_model_exclude_unset=True)
async def classify_files(
    _: Reader,
    service: ServiceDep,
    files: ClipFiles,
    top_k: Annotated[int, Form(ge=1, le=100), IntegerText] = 5,
    preview: Annotated[bool, Form()] = False,
    per_person: Annotated[bool, Form()] = False,
    by: Annotated[Literal["model", "index", "both"], Form()] = "model",
    explain: Annotated[bool, Form()] = False,
) -> ClassifyOut:
    """As /v1/classify, for uploaded clip files (every clip in every file)."""
    uploads = await read_uploads(files)
    return await service.classify(
        service.clips.upload_source(uploads), top_k, preview, per_person, by, explain=explain
    )


@router.post("/v1/classify/npy", response_model_exclude_unset=True, openapi_extra=NPY_REQUEST)
async def classify_npy(
    _: Reader, service: ServiceDep, body: NpyBody, query: Annotated[ClassifyQuery, Query()]
) -> ClassifyOut:
    """As /v1/classify, for one .npy array in the body (Content-Type: application/x-npy): a clip
    (M, T, V, C) or (T, V, C), or a batch (N, M, T, V, C); the options are query parameters."""
    source = service.clips.npy_source(body, query)
    return await service.classify(
        source,
        query.top_k,
        query.preview,
        query.per_person,
        query.by,
        explain=query.explain,
        explain_label=query.explain_label,
    )


@router.post("/v1/embed", response_model_exclude_unset=True)
async def embed(body: EmbedIn, _: Reader, service: ServiceDep) -> EmbedOut:
    """Per clip: mu and sigma per stream, and the fused retrieval embedding."""
    return await service.embed(service.clips.json_source(body.clips))


@router.post("/v1/embed/files", response_model_exclude_unset=True)
async def embed_files(_: Reader, service: ServiceDep, files: ClipFiles) -> EmbedOut:
    """As /v1/embed, for uploaded clip files."""
    uploads = await read_uploads(files)
    return await service.embed(service.clips.upload_source(uploads))


@router.post("/v1/embed/npy", response_model_exclude_unset=True, openapi_extra=NPY_REQUEST)
async def embed_npy(
    _: Reader, service: ServiceDep, body: NpyBody, query: Annotated[ClipOptions, Query()]
) -> EmbedOut:
    """As /v1/embed, for one .npy array in the body (a clip or a batch; see /v1/classify/npy)."""
    return await service.embed(service.clips.npy_source(body, query))
