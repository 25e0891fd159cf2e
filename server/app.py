"""The FastAPI service, built by ``create_app`` (never at import time). No torch is imported.

Read endpoints: ``GET /livez``, ``GET /readyz`` (503 until the model, and the index when one is
configured, are loaded and warmed), ``GET /metrics``, ``GET /v1/model``, ``GET /v1/index``,
``GET /v1/index/items/{id}``, ``GET /v1/data/files``, ``POST /v1/classify``, ``/v1/embed`` and
``/v1/search`` (JSON) with ``/files`` variants taking multipart uploads. Admin endpoints (index
mutation): ``POST /v1/index/items[/files]``, ``DELETE /v1/index/items/{id}``,
``POST /v1/index/rebuild[/archive]`` (202 + job id), ``GET /v1/index/jobs/{id}``. The web page is
``GET /``. A clip is JSON joints ``[M][T][V][3]`` or ``[T][V][3]`` with a layout name, a path
under the data root, or an uploaded file in any format the data layer reads; the server applies
the model's own preprocessing, so raw captures of any length work. Inference goes through the
dynamic batcher (``server.batching``). Bad input gets a 4xx JSON error naming what is wrong.
"""

from __future__ import annotations

import hmac
import logging
import math
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import Depends, FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from runtime.model import RuntimeModelError
from index.build import CLIP_SUFFIXES
from index.store import IndexStoreError
from server.batching import Batcher, BatchStats
from server.files import confine, extract_archive, list_clip_files
from server.jobs import JobBusy
from server.limits import BodySizeLimit
from server.metrics import Metrics, MetricsMiddleware
from server.schemas import AddItemsIn, ClassifyIn, EmbedIn, RebuildIn, SearchIn
from server.service import Service, skeleton_json
from server.settings import Settings
from skeleton.clip import Clip
from skeleton.errors import SkeletonError
from skeleton.layouts import get_layout

log = logging.getLogger("vcl.server")
STATIC = Path(__file__).parent / "static"
MODEL_KEYS = (
    "layout",
    "streams",
    "fusion_weights",
    "class_names",
    "num_classes",
    "embedding_dim",
    "has_gaussian_head",
    "pipeline",
    "model_sha256",
    "outputs",
    "opset",
    "method",
)


# ---------------------------------------------------------------------------- access
def _key_matches(given: str, key: str | None) -> bool:
    return bool(key) and hmac.compare_digest(given.encode(), (key or "").encode())


def read_access(request: Request) -> None:
    """Read endpoints: open, or an API key (or the admin key), compared in constant time."""
    settings: Settings = request.app.state.settings
    if settings.read_open:
        return
    given = request.headers.get("x-api-key", "")
    if not (_key_matches(given, settings.api_key) or _key_matches(given, settings.admin_key)):
        raise HTTPException(status_code=401, detail="missing or wrong X-API-Key")


def admin_access(request: Request) -> None:
    """Index mutation: the admin key only (401 without a valid key, 403 with a reader key)."""
    settings: Settings = request.app.state.settings
    given = request.headers.get("x-api-key", "")
    if not settings.allow_mutation:
        raise HTTPException(status_code=403, detail="index mutation is disabled (VCL_ALLOW_MUTATION)")
    if _key_matches(given, settings.admin_key):
        return
    if _key_matches(given, settings.api_key):
        raise HTTPException(status_code=403, detail="this endpoint needs the admin key")
    raise HTTPException(status_code=401, detail="missing or wrong X-API-Key")


Reader = Annotated[None, Depends(read_access)]
Admin = Annotated[None, Depends(admin_access)]


async def _read_files(files: list[UploadFile]) -> list[tuple[str | None, bytes]]:
    return [(f.filename, await f.read()) for f in files]


def create_app(settings: Settings) -> FastAPI:
    metrics = Metrics()
    service = Service(settings, metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(service.load)
        assert service.model is not None
        service.batcher = Batcher(
            service.model.run,
            max_batch=settings.max_batch,
            max_wait_s=settings.max_wait_ms / 1000,
            max_queue=settings.max_queue,
            timeout_s=settings.request_timeout_s,
            stats=BatchStats(metrics.on_batch),
        )
        service.batcher.start()
        service.ready = True
        yield
        service.ready = False
        await service.batcher.stop()

    app = FastAPI(
        title="VCL skeleton action service",
        description="Action labels with uncertainty, embeddings and similar-motion search.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.service = service
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    @app.exception_handler(SkeletonError)
    async def bad_input(request: Request, exc: SkeletonError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": str(exc)})

    @app.exception_handler(IndexStoreError)
    async def bad_index_request(request: Request, exc: IndexStoreError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": str(exc)})

    @app.exception_handler(RuntimeModelError)
    async def bad_model_input(request: Request, exc: RuntimeModelError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": str(exc)})

    # ------------------------------------------------------------------ health, page, metrics
    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    if STATIC.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/livez")
    def livez() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> JSONResponse:
        if not service.ready:
            return JSONResponse(status_code=503, content={"status": "loading"})
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", response_class=Response)
    def metrics_page(_: Reader) -> Response:
        if service.batcher is not None:
            metrics.queue_depth.set(service.batcher.depth)
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    # ------------------------------------------------------------------ model and index info
    @app.get("/v1/model")
    def model_info(_: Reader) -> dict[str, Any]:
        m = service.require_model()
        layout = get_layout(m.manifest["layout"])
        pipeline = (m.manifest.get("pipeline") or {}).get("name")
        return {
            **{k: m.manifest.get(k) for k in MODEL_KEYS},
            "num_joints": layout.num_joints,
            "bones": [list(edge) for edge in layout.edges],
            # the vertical axis of preprocessed skeletons (vcl-official turns the spine onto +z)
            "preview_up_axis": 2 if pipeline == "vcl-official" else layout.up_axis,
            "providers": m.providers,
        }

    @app.get("/v1/index")
    def index_info(_: Reader) -> dict[str, Any]:
        info = service.require_index().info()
        return {k: info[k] for k in ("version", "count", "dim", "kind", "model_sha256")}

    @app.get("/v1/index/items/{item_id}")
    def index_item(item_id: int, _: Reader) -> dict[str, Any]:
        index = service.require_index()
        try:
            row, blob = index.item(item_id)
        except (KeyError, OverflowError):  # OverflowError: an id past 64 bits, so in no index
            raise HTTPException(status_code=404, detail=f"item {item_id} is not in the index") from None
        return {"id": item_id, "metadata": row, "skeleton": skeleton_json(blob), "version": index.version}

    @app.get("/v1/data/files")
    def data_files(_: Reader) -> dict[str, Any]:
        service.require_model()
        if service.data_root is None:
            raise HTTPException(status_code=404, detail="no data root configured (VCL_DATA_ROOT)")
        return {"files": list_clip_files(service.data_root)}

    # ------------------------------------------------------------------ inference
    async def classify_clips(clips_fn: Callable[[], list[Clip]], top_k: int, preview: bool) -> dict[str, Any]:
        m = service.require_model()
        if not m.manifest.get("num_classes"):
            raise HTTPException(status_code=409, detail="this model has no classifier (pretraining only)")
        clips, joints, out = await service.infer(clips_fn)
        return {"results": service.classify_results(clips, joints, out, top_k, preview)}

    @app.post("/v1/classify")
    async def classify(body: ClassifyIn, _: Reader) -> dict[str, Any]:
        """Label, top-k, uncertainty (sigma score per stream, softmax entropy) and `unknown` per clip."""
        return await classify_clips(
            lambda: [
                c for i, item in enumerate(body.clips) for c in service.clip_from_json(item, f"clips[{i}]")
            ],
            body.top_k,
            body.preview,
        )

    @app.post("/v1/classify/files")
    async def classify_files(
        _: Reader,
        files: Annotated[list[UploadFile], File(description="clip files (.skeleton, .npz, .txt, .mat)")],
        top_k: Annotated[int, Form(ge=1, le=100)] = 5,
        preview: Annotated[bool, Form()] = False,
    ) -> dict[str, Any]:
        """As /v1/classify, for uploaded clip files (every clip in every file)."""
        uploads = await _read_files(files)
        return await classify_clips(lambda: service.clips_from_uploads(uploads), top_k, preview)

    async def embed_clips(clips_fn: Callable[[], list[Clip]]) -> dict[str, Any]:
        clips, _, out = await service.infer(clips_fn)
        return {"results": service.embed_results(clips, out)}

    @app.post("/v1/embed")
    async def embed(body: EmbedIn, _: Reader) -> dict[str, Any]:
        """Per clip: mu and sigma per stream, and the fused retrieval embedding."""
        return await embed_clips(
            lambda: [
                c for i, item in enumerate(body.clips) for c in service.clip_from_json(item, f"clips[{i}]")
            ]
        )

    @app.post("/v1/embed/files")
    async def embed_files(
        _: Reader, files: Annotated[list[UploadFile], File(description="clip files")]
    ) -> dict[str, Any]:
        uploads = await _read_files(files)
        return await embed_clips(lambda: service.clips_from_uploads(uploads))

    async def search_clip(clips_fn: Callable[[], list[Clip]], body: SearchIn) -> dict[str, Any]:
        service.require_index()

        def one_clip() -> list[Clip]:
            clips = clips_fn()
            if len(clips) != 1:
                raise SkeletonError(f"search: expected one clip, the input holds {len(clips)}")
            return clips

        _, _, out = await service.infer(one_clip)
        query, sigma = service.query_from_output(out)
        return await run_in_threadpool(
            service.search_results,
            query,
            sigma if body.uncertainty_aware else None,
            body.k,
            body.label,
            body.preview,
        )

    @app.post("/v1/search")
    async def search(body: SearchIn, _: Reader) -> dict[str, Any]:
        """Neighbours of a clip, an embedding or an indexed item, with the answering index version."""
        m = service.require_model()
        index = service.require_index()
        given = sum(x is not None for x in (body.clip, body.embedding, body.id))
        if given != 1:
            raise SkeletonError("search: give exactly one of 'clip', 'embedding' or 'id'")
        if body.clip is not None:
            clip = body.clip
            return await search_clip(lambda: service.clip_from_json(clip, "clip"), body)
        if body.id is not None:
            try:
                query = index.vector(body.id)[None]
            except (KeyError, OverflowError):  # OverflowError: an id past 64 bits, so in no index
                raise HTTPException(status_code=404, detail=f"item {body.id} is not in the index") from None
        else:
            values = body.embedding or []
            dim = m.manifest["embedding_dim"]
            if len(values) != dim or not all(map(math.isfinite, values)):
                raise SkeletonError(f"embedding: expected {dim} finite numbers, got {len(values)}")
            query = np.asarray([values], dtype=np.float32)
            if not np.any(query):
                raise SkeletonError("embedding: all zeros has no direction")
        return await run_in_threadpool(service.search_results, query, None, body.k, body.label, body.preview)

    @app.post("/v1/search/files")
    async def search_files(
        _: Reader,
        file: Annotated[UploadFile, File(description="one clip file")],
        k: Annotated[int, Form(ge=1, le=1000)] = 10,
        label: Annotated[str | None, Form()] = None,
        uncertainty_aware: Annotated[bool, Form()] = False,
        preview: Annotated[bool, Form()] = False,
    ) -> dict[str, Any]:
        uploads = await _read_files([file])
        body = SearchIn(k=k, label=label, uncertainty_aware=uncertainty_aware, preview=preview)
        return await search_clip(lambda: service.clips_from_uploads(uploads), body)

    # ------------------------------------------------------------------ mutation (admin)
    @app.post("/v1/index/items", status_code=201)
    async def add_items(body: AddItemsIn, _: Admin) -> dict[str, Any]:
        """Embed and add clips (with optional labels and metadata); returns their ids and the new version."""
        service.require_index()

        def work() -> dict[str, Any]:
            clips, labels, extra = [], [], []
            for i, item in enumerate(body.clips):
                for clip in service.clip_from_json(item, f"clips[{i}]"):
                    clips.append(clip)
                    labels.append(item.label)
                    extra.append(item.metadata)
            if not clips or len(clips) > settings.max_clips:
                raise SkeletonError(f"clips: expected 1 to {settings.max_clips} clips, got {len(clips)}")
            return service.add_items(clips, labels, extra)

        return await run_in_threadpool(work)

    @app.post("/v1/index/items/files", status_code=201)
    async def add_item_files(
        _: Admin,
        files: Annotated[list[UploadFile], File(description="clip files")],
        label: Annotated[str | None, Form()] = None,
    ) -> dict[str, Any]:
        service.require_index()
        uploads = await _read_files(files)

        def work() -> dict[str, Any]:
            clips = service.clips_from_uploads(uploads)
            if not clips or len(clips) > settings.max_clips:
                raise SkeletonError(f"clips: expected 1 to {settings.max_clips} clips, got {len(clips)}")
            return service.add_items(clips, [label] * len(clips), [{}] * len(clips))

        return await run_in_threadpool(work)

    @app.delete("/v1/index/items/{item_id}")
    async def remove_item(item_id: int, _: Admin) -> dict[str, Any]:
        service.require_index()
        try:
            return await run_in_threadpool(service.remove_item, item_id)
        except IndexStoreError:
            raise HTTPException(status_code=404, detail=f"item {item_id} is not in the index") from None

    def start_rebuild(source: Path, cleanup: Path | None, label: str, prefix: str) -> JSONResponse:
        try:
            job = service.jobs.start("rebuild", service.rebuild(source, cleanup, label, prefix))
        except JobBusy as err:
            if cleanup is not None:
                shutil.rmtree(cleanup, ignore_errors=True)
            raise HTTPException(status_code=409, detail=f"a rebuild is already running ({err})") from None
        return JSONResponse(
            status_code=202, content={"job": job.to_json(), "status_url": f"/v1/index/jobs/{job.id}"}
        )

    def check_rebuild_allowed() -> None:
        service.require_model()
        if not settings.index_dir:
            raise HTTPException(status_code=404, detail="no index configured (VCL_INDEX_DIR)")
        if service.jobs.running is not None:
            raise HTTPException(
                status_code=409, detail=f"a rebuild is already running (job {service.jobs.running})"
            )

    @app.post("/v1/index/rebuild", status_code=202)
    def rebuild(body: RebuildIn, _: Admin) -> JSONResponse:
        """Rebuild the index from clip files (or a prepared dataset) in a folder under the data root."""
        check_rebuild_allowed()
        source = confine(service.data_root, body.folder)
        if not source.is_dir():
            raise SkeletonError(f"folder {body.folder!r}: not a folder")
        return start_rebuild(source, None, f"folder {body.folder!r}", body.folder.rstrip("/"))

    @app.post("/v1/index/rebuild/archive", status_code=202)
    async def rebuild_archive(
        _: Admin, archive: Annotated[UploadFile, File(description=".zip or .tar[.gz] of clip files")]
    ) -> JSONResponse:
        """Rebuild the index from an uploaded archive of clip files."""
        check_rebuild_allowed()
        data = await archive.read()
        tmp = Path(tempfile.mkdtemp(prefix="vcl-rebuild-"))
        try:
            count = await run_in_threadpool(
                extract_archive, data, archive.filename, tmp, 8 * settings.max_body_bytes
            )
            clip_count = sum(1 for p in tmp.rglob("*") if p.is_file() and p.suffix.lower() in CLIP_SUFFIXES)
            if count == 0 or clip_count == 0:
                raise SkeletonError(
                    f"archive {archive.filename!r}: no clip files in it "
                    f"(expected {', '.join(sorted(CLIP_SUFFIXES))})"
                )
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return start_rebuild(tmp, tmp, f"archive {archive.filename!r}", f"archive:{archive.filename}")

    @app.get("/v1/index/jobs/{job_id}")
    def job_status(job_id: str, _: Admin) -> dict[str, Any]:
        job = service.jobs.get(job_id)
        if job is None:
            raise HTTPException(status_code=404, detail=f"no job {job_id!r}")
        return job.to_json()

    return app


__all__ = ["admin_access", "create_app", "read_access"]
