"""Index administration (the admin key; ``VCL_ALLOW_MUTATION``): ``POST /v1/index/items[/files]``
(201), ``DELETE /v1/index/items/{id}``, ``POST /v1/index/rebuild[/archive]`` (202 with a job) and
``GET /v1/index/jobs/{id}``. Adding and removing are synchronous; rebuilds are background jobs,
one at a time (409 while one runs)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.concurrency import run_in_threadpool

from server.deps import Admin, JSONRoute, ServiceDep, read_uploads
from server.schemas import AddedOut, AddItemsIn, ItemId, JobOut, JobStarted, RebuildIn, RemovedOut

router = APIRouter(tags=["index administration"], route_class=JSONRoute)


@router.post("/v1/index/items", status_code=201)
def add_items(body: AddItemsIn, _: Admin, service: ServiceDep) -> AddedOut:
    """Embed and add clips (with optional labels and metadata); returns their ids and the new version."""
    return service.add_json_items(body.clips)


@router.post("/v1/index/items/files", status_code=201)
async def add_item_files(
    _: Admin,
    service: ServiceDep,
    files: Annotated[list[UploadFile], File(description="clip files")],
    label: Annotated[str | None, Form()] = None,
) -> AddedOut:
    """As /v1/index/items, for uploaded clip files, all with one label."""
    uploads = await read_uploads(files)
    return await run_in_threadpool(service.add_upload_items, uploads, label)


@router.delete("/v1/index/items/{item_id}")
def remove_item(item_id: ItemId, _: Admin, service: ServiceDep) -> RemovedOut:
    """Remove one item; returns the new version."""
    return service.remove_item(item_id)


@router.post("/v1/index/rebuild", status_code=202)
def rebuild(body: RebuildIn, _: Admin, service: ServiceDep) -> JobStarted:
    """Rebuild the index from clip files (or a prepared dataset) in a folder under the data root."""
    return service.rebuild_folder(body.folder)


@router.post("/v1/index/rebuild/archive", status_code=202)
async def rebuild_archive(
    _: Admin,
    service: ServiceDep,
    archive: Annotated[UploadFile, File(description=".zip or .tar[.gz] of clip files")],
) -> JobStarted:
    """Rebuild the index from an uploaded archive of clip files."""
    data = await archive.read()
    return await run_in_threadpool(service.rebuild_archive, data, archive.filename)


@router.get("/v1/index/jobs/{job_id}")
def job_status(job_id: str, _: Admin, service: ServiceDep) -> JobOut:
    """Job status: queued, running (with its stage), succeeded (version, count) or failed (error)."""
    return service.job(job_id)
