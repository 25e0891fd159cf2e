"""The FastAPI service, built by ``create_app`` (never at import time). No torch is imported.

Endpoints: ``GET /livez``, ``GET /readyz`` (503 until the model, and the index when configured,
are loaded and warmed), ``GET /v1/model``, ``GET /v1/index``, ``POST /v1/classify``,
``POST /v1/embed``, ``POST /v1/search``. A clip is JSON joints ``[M][T][V][3]`` or ``[T][V][3]``
with a layout name; the server applies the model's own preprocessing, so raw captures of any
length work. Bad input gets a 4xx JSON error naming what is wrong.
"""

from __future__ import annotations

import hmac
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import numpy as np
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from export.runtime import OnnxModel
from index.action_index import ActionIndex
from index.embed import embed_joints
from server.settings import Settings
from skeleton.clip import Clip, ClipMeta, check_joints
from skeleton.errors import SkeletonError
from skeleton.layouts import get_layout
from skeleton.pipelines import preprocess_clips


class ClipIn(BaseModel):
    joints: list[Any] = Field(description="[M][T][V][3] or [T][V][3] coordinates")
    layout: str = "ntu"
    name: str = "clip"


class ClassifyIn(BaseModel):
    clips: list[ClipIn]
    top_k: int = Field(5, ge=1, le=100)


class EmbedIn(BaseModel):
    clips: list[ClipIn]


class SearchIn(BaseModel):
    clip: ClipIn | None = None
    embedding: list[float] | None = None
    k: int = Field(10, ge=1, le=1000)
    label: str | None = None
    uncertainty_aware: bool = False


def _to_clip(item: ClipIn, index: int) -> Clip:
    layout = get_layout(item.layout)
    try:
        arr = np.asarray(item.joints, dtype=np.float64)
    except (ValueError, TypeError):
        raise SkeletonError(
            f"clips[{index}].joints: expected a numeric array [M][T][V][3] or [T][V][3]"
        ) from None
    if arr.ndim == 3:
        arr = arr[None]
    return Clip(
        joints=check_joints(arr, f"clips[{index}]", layout.num_joints),
        label=None,
        meta=ClipMeta(source=f"request:{item.name}", name=item.name),
        layout=layout.name,
    )


def read_access(request: Request) -> None:
    """Read endpoints: open, or an API key (or the admin key), compared in constant time."""
    settings: Settings = request.app.state.settings
    if settings.read_open:
        return
    given = request.headers.get("x-api-key", "")
    keys = [k for k in (settings.api_key, settings.admin_key) if k]
    if not any(hmac.compare_digest(given.encode(), k.encode()) for k in keys):
        raise HTTPException(status_code=401, detail="missing or wrong X-API-Key")


Reader = Annotated[None, Depends(read_access)]


def _softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def create_app(settings: Settings) -> FastAPI:
    state: dict[str, Any] = {"ready": False}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        model = OnnxModel(settings.model_dir, threads=settings.threads)
        shape = model.manifest["input"]["shape"]
        model.run(np.zeros((1, *shape[1:]), np.float32))  # warm-up
        state["model"] = model
        if settings.index_dir:
            state["index"] = ActionIndex(
                settings.index_dir, model.manifest["model_sha256"], model.manifest["embedding_dim"]
            )
        state["ready"] = True
        yield
        state.clear()

    app = FastAPI(title="VCL skeleton action service", lifespan=lifespan)
    app.state.settings = settings

    @app.exception_handler(SkeletonError)
    async def bad_input(request: Request, exc: SkeletonError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": str(exc)})

    def model() -> OnnxModel:
        if not state.get("ready"):
            raise HTTPException(status_code=503, detail="model not loaded yet")
        return state["model"]

    @app.get("/livez")
    def livez() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> JSONResponse:
        if not state.get("ready"):
            return JSONResponse(status_code=503, content={"status": "loading"})
        return JSONResponse({"status": "ready"})

    @app.get("/v1/model")
    def model_info(_: Reader) -> dict[str, Any]:
        m = model()
        keys = (
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
        return {**{k: m.manifest.get(k) for k in keys}, "providers": m.providers}

    @app.get("/v1/index")
    def index_info(_: Reader) -> dict[str, Any]:
        model()
        if "index" not in state:
            raise HTTPException(status_code=404, detail="no index configured (VCL_INDEX_DIR)")
        info = state["index"].info()
        return {k: info[k] for k in ("version", "count", "dim", "kind", "model_sha256")}

    def prepare(clips: list[ClipIn], m: OnnxModel) -> np.ndarray:
        if not clips:
            raise SkeletonError("clips: expected at least one clip")
        if len(clips) > settings.max_clips:
            raise SkeletonError(f"clips: at most {settings.max_clips} per request, got {len(clips)}")
        return preprocess_clips(
            [_to_clip(c, i) for i, c in enumerate(clips)], m.manifest["layout"], m.manifest["pipeline"]
        )

    @app.post("/v1/classify")
    def classify(body: ClassifyIn, _: Reader) -> dict[str, Any]:
        m = model()
        if not m.manifest.get("num_classes"):
            raise HTTPException(status_code=409, detail="this model has no classifier (pretraining only)")
        out = m.run(prepare(body.clips, m))
        probs = _softmax(out["fused_logits"])
        names = m.manifest["class_names"]
        streams = m.manifest["streams"]
        results = []
        for i, clip in enumerate(body.clips):
            order = np.argsort(-probs[i], kind="stable")[: body.top_k]
            entropy = float(-(probs[i] * np.log(probs[i] + 1e-12)).sum())
            uncertainty: dict[str, Any] = {"softmax_entropy": entropy}
            unknown = False
            if m.manifest["has_gaussian_head"]:
                per_stream = {s: float(np.log(np.square(out[f"{s}_sigma"][i])).mean()) for s in streams}
                score = float(np.mean(list(per_stream.values())))
                uncertainty.update({"score": score, "per_stream": per_stream})
                unknown = settings.unknown_threshold is not None and score > settings.unknown_threshold
            best = int(order[0])
            results.append(
                {
                    "name": clip.name,
                    "label": names[best],
                    "class_index": best,
                    "probability": float(probs[i, best]),
                    "top_k": [
                        {"label": names[int(c)], "class_index": int(c), "probability": float(probs[i, c])}
                        for c in order
                    ],
                    "uncertainty": uncertainty,
                    "unknown": unknown,
                }
            )
        return {"results": results}

    @app.post("/v1/embed")
    def embed(body: EmbedIn, _: Reader) -> dict[str, Any]:
        m = model()
        out = m.run(prepare(body.clips, m))
        results = []
        for i, clip in enumerate(body.clips):
            item: dict[str, Any] = {"name": clip.name, "embedding": out["embedding"][i].tolist()}
            if m.manifest["has_gaussian_head"]:
                item["streams"] = {
                    s: {"mu": out[f"{s}_mu"][i].tolist(), "sigma": out[f"{s}_sigma"][i].tolist()}
                    for s in m.manifest["streams"]
                }
            results.append(item)
        return {"results": results}

    @app.post("/v1/search")
    def search(body: SearchIn, _: Reader) -> dict[str, Any]:
        m = model()
        if "index" not in state:
            raise HTTPException(status_code=404, detail="no index configured (VCL_INDEX_DIR)")
        if (body.clip is None) == (body.embedding is None):
            raise SkeletonError("search: give exactly one of 'clip' or 'embedding'")
        sigma = None
        if body.clip is not None:
            emb = embed_joints(m, prepare([body.clip], m))
            query = emb.embedding
            sigma = emb.sigma if body.uncertainty_aware else None
        else:
            query = np.asarray([body.embedding], dtype=np.float32)
            if query.shape[1] != m.manifest["embedding_dim"] or not all(
                map(math.isfinite, body.embedding or [])
            ):
                raise SkeletonError(
                    f"embedding: expected {m.manifest['embedding_dim']} finite numbers, got {query.shape[1]}"
                )
        hits = state["index"].search(query, body.k, body.label, sigma)[0]
        return {"version": state["index"].version, "neighbours": [h.to_json() for h in hits]}

    return app
