"""Reading the index: ``GET /v1/index``, ``GET /v1/index/items/{id}``, and ``POST /v1/search``
(neighbours of a clip, an embedding or an indexed item) with ``/v1/search/files`` for one
uploaded clip file and ``/v1/search/npy`` for one clip as a ``.npy`` body."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile

from server.deps import NPY_REQUEST, JSONRoute, NpyBody, Reader, ServiceDep, read_uploads
from server.schemas import (
    IndexInfo,
    IntegerText,
    ItemId,
    ItemOut,
    SearchIn,
    SearchOptions,
    SearchOut,
    SearchQuery,
)

router = APIRouter(tags=["search"], route_class=JSONRoute)


@router.get("/v1/index")
def index_info(_: Reader, service: ServiceDep) -> IndexInfo:
    """Index version, count, dim, kind."""
    return service.index_info()


@router.get("/v1/index/items/{item_id}")
def index_item(item_id: ItemId, _: Reader, service: ServiceDep) -> ItemOut:
    """One item's metadata and skeleton preview."""
    return service.item(item_id)


@router.post("/v1/search", response_model_exclude_unset=True)
async def search(body: SearchIn, _: Reader, service: ServiceDep) -> SearchOut:
    """Neighbours of a clip, an embedding or an indexed item, with the answering index version."""
    return await service.search(body)


@router.post("/v1/search/files", response_model_exclude_unset=True)
async def search_files(
    _: Reader,
    service: ServiceDep,
    file: Annotated[UploadFile, File(description="one clip file")],
    k: Annotated[int, Form(ge=1, le=1000), IntegerText] = 10,
    label: Annotated[str | None, Form()] = None,
    uncertainty_aware: Annotated[bool, Form()] = False,
    preview: Annotated[bool, Form()] = False,
) -> SearchOut:
    """As /v1/search, for one uploaded clip file."""
    uploads = await read_uploads([file])
    options = SearchOptions(k=k, label=label, uncertainty_aware=uncertainty_aware, preview=preview)
    return await service.search_clip(service.clips.upload_source(uploads), options)


@router.post("/v1/search/npy", response_model_exclude_unset=True, openapi_extra=NPY_REQUEST)
async def search_npy(
    _: Reader, service: ServiceDep, body: NpyBody, query: Annotated[SearchQuery, Query()]
) -> SearchOut:
    """As /v1/search, for one clip as a .npy array in the body; the options are query parameters."""
    return await service.search_clip(service.clips.npy_source(body, query), query)
