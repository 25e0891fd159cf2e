"""``Service``: the loaded model, index, batcher and jobs of one app, and the answers built from
them. The routes in ``server.app`` only parse requests and call it. No torch is imported."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import HTTPException
from fastapi.concurrency import run_in_threadpool

from runtime.model import OnnxModel
from index.action_index import ActionIndex
from index.build import from_clips, from_files, from_prepared
from index.embed import fused_sigma
from index.preview import load_preview, make_previews
from server.batching import Batcher, DeadlineExceeded, QueueFull
from server.files import confine, read_upload
from server.jobs import Jobs
from server.metrics import Metrics
from server.schemas import ClipIn
from server.settings import Settings
from skeleton.clip import Clip, ClipMeta, check_joints
from skeleton.errors import SkeletonError
from skeleton.layouts import get_layout
from skeleton.pipelines import preprocess_clips

log = logging.getLogger("vcl.server")
MAX_COORDINATE = 1e6  # beyond any capture's units; far beyond it float32 maths in the model overflows


def _softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def skeleton_json(blob: bytes | None) -> dict[str, Any] | None:
    if blob is None:
        return None
    frames = load_preview(blob)  # (F, M, V, 3)
    return {"frames": np.round(frames, 4).tolist()}


class Service:
    """The loaded model, index, batcher and jobs of one app; every endpoint goes through it."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.ready = False
        self.model: OnnxModel | None = None
        self.index: ActionIndex | None = None
        self.batcher: Batcher | None = None
        self.jobs = Jobs()
        self.data_root = Path(settings.data_root) if settings.data_root else None

    # -- lifecycle
    def load(self) -> None:
        s = self.settings
        model = OnnxModel(s.model_dir, threads=s.threads, spin=False)
        shape = model.manifest["input"]["shape"]
        model.run(np.zeros((1, *shape[1:]), np.float32))  # warm-up
        self.model = model
        for provider in model.providers:
            self.metrics.provider.labels(provider).set(1)
        if s.index_dir:
            if (Path(s.index_dir) / "CURRENT").exists():
                self.index = ActionIndex(
                    s.index_dir, model.manifest["model_sha256"], model.manifest["embedding_dim"]
                )
                self.index.search(np.ones((1, model.manifest["embedding_dim"]), np.float32), 1)  # warm-up
                self._index_changed()
            else:
                log.warning(
                    "%s holds no index: search answers 404%s",
                    s.index_dir,
                    " until a rebuild" if s.allow_mutation else " (build one with vcl index build)",
                )

    def _index_changed(self) -> None:
        if self.index is not None:
            info = self.index.info()
            self.metrics.set_index(info["version"], info["count"])

    # -- access to parts
    def require_model(self) -> OnnxModel:
        if not self.ready or self.model is None:
            raise HTTPException(status_code=503, detail="model not loaded yet")
        return self.model

    def require_index(self) -> ActionIndex:
        self.require_model()
        if self.index is None:
            detail = (
                "no index configured (VCL_INDEX_DIR)"
                if not self.settings.index_dir
                else "no index built yet in VCL_INDEX_DIR"
            )
            raise HTTPException(status_code=404, detail=detail)
        return self.index

    # -- clips
    def _check_size(self, joints: np.ndarray, where: str) -> None:
        s = self.settings
        if joints.shape[0] > s.max_persons:
            raise SkeletonError(
                f"{where}: {joints.shape[0]} persons, at most {s.max_persons} (VCL_MAX_PERSONS)"
            )
        if joints.shape[1] > s.max_frames:
            raise SkeletonError(f"{where}: {joints.shape[1]} frames, at most {s.max_frames} (VCL_MAX_FRAMES)")
        with np.errstate(invalid="ignore"):
            too_far = np.abs(joints) > MAX_COORDINATE
        if too_far.any():
            raise SkeletonError(
                f"{where}: coordinates beyond ±{MAX_COORDINATE:g} (largest {np.nanmax(np.abs(joints)):.3g}); "
                "captures are in metres, millimetres or pixels, all far below that"
            )

    def clip_from_json(self, item: ClipIn, where: str) -> list[Clip]:
        if (item.joints is None) == (item.path is None):
            raise SkeletonError(f"{where}: give exactly one of 'joints' or 'path'")
        if item.path is not None:
            path = confine(self.data_root, item.path)
            if not path.is_file():
                raise SkeletonError(f"{where}.path {item.path!r}: not a file")
            from skeleton.readers.auto import read_clips

            clips = read_clips(path)
            for clip in clips:
                self._check_size(clip.joints, where)
            return clips
        layout = get_layout(item.layout)
        try:
            arr = np.asarray(item.joints, dtype=np.float64)
        except (ValueError, TypeError, OverflowError):  # ragged, not numbers, or ints past float range
            raise SkeletonError(
                f"{where}.joints: expected a numeric array [M][T][V][3] or [T][V][3]"
            ) from None
        if arr.ndim == 3:
            arr = arr[None]
        if arr.ndim != 4:
            raise SkeletonError(
                f"{where}.joints: expected [M][T][V][3] or [T][V][3], got {arr.ndim} dimensions"
            )
        self._check_size(arr, where)
        joints = check_joints(arr, where, layout.num_joints)
        return [
            Clip(
                joints=joints,
                label=None,
                meta=ClipMeta(source=f"request:{item.name}", name=item.name),
                layout=layout.name,
            )
        ]

    def clips_from_uploads(self, files: list[tuple[str | None, bytes]]) -> list[Clip]:
        clips: list[Clip] = []
        for name, data in files:
            for clip in read_upload(name, data):
                self._check_size(clip.joints, f"upload {name!r}")
                clips.append(clip)
        return clips

    def preprocess(self, clips: list[Clip]) -> np.ndarray:
        m = self.require_model()
        if not clips:
            raise SkeletonError("clips: expected at least one clip")
        if len(clips) > self.settings.max_clips:
            raise SkeletonError(f"clips: at most {self.settings.max_clips} per request, got {len(clips)}")
        return preprocess_clips(clips, m.manifest["layout"], m.manifest["pipeline"])

    async def infer(
        self, clips_fn: Callable[[], list[Clip]]
    ) -> tuple[list[Clip], np.ndarray, dict[str, np.ndarray]]:
        """Read the clips and preprocess them in a worker thread, then run them through the batcher.
        The request is announced to the batcher first, so a forming batch may wait for it.
        Returns (clips, preprocessed joints (N, C, T, V, M), model outputs)."""
        assert self.batcher is not None

        def prepare() -> tuple[list[Clip], np.ndarray]:
            clips = clips_fn()
            return clips, self.preprocess(clips)

        with self.batcher.announce() as announcement:
            clips, joints = await run_in_threadpool(prepare)
            self.metrics.queue_depth.set(self.batcher.depth)
            try:
                out = await self.batcher.submit(joints, announcement)
            except QueueFull as err:
                self.metrics.rejected.labels("queue_full").inc()
                raise HTTPException(status_code=503, detail=str(err), headers={"Retry-After": "1"}) from None
            except DeadlineExceeded as err:
                self.metrics.rejected.labels("deadline").inc()
                raise HTTPException(status_code=504, detail=str(err)) from None
        return clips, joints, out

    # -- answers
    def classify_results(
        self, clips: list[Clip], joints: np.ndarray, out: dict[str, np.ndarray], top_k: int, preview: bool
    ) -> list[dict[str, Any]]:
        m = self.require_model().manifest
        probs = _softmax(out["fused_logits"])
        names = m["class_names"]
        previews = make_previews(joints) if preview else None
        results = []
        for i, clip in enumerate(clips):
            order = np.argsort(-probs[i], kind="stable")[:top_k]
            entropy = float(-(probs[i] * np.log(probs[i] + 1e-12)).sum())
            uncertainty: dict[str, Any] = {"softmax_entropy": entropy}
            unknown = False
            if m["has_gaussian_head"]:
                per_stream = {s: float(np.log(np.square(out[f"{s}_sigma"][i])).mean()) for s in m["streams"]}
                score = float(np.mean(list(per_stream.values())))
                uncertainty.update({"score": score, "per_stream": per_stream})
                threshold = self.settings.unknown_threshold
                unknown = threshold is not None and score > threshold
            best = int(order[0])
            result = {
                "name": clip.meta.name,
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
            if previews is not None:
                result["skeleton"] = skeleton_json(previews[i])
            results.append(result)
        return results

    def embed_results(self, clips: list[Clip], out: dict[str, np.ndarray]) -> list[dict[str, Any]]:
        m = self.require_model().manifest
        results = []
        for i, clip in enumerate(clips):
            item: dict[str, Any] = {"name": clip.meta.name, "embedding": out["embedding"][i].tolist()}
            if m["has_gaussian_head"]:
                item["streams"] = {
                    s: {"mu": out[f"{s}_mu"][i].tolist(), "sigma": out[f"{s}_sigma"][i].tolist()}
                    for s in m["streams"]
                }
            results.append(item)
        return results

    def query_from_output(self, out: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        """The fused embedding (1, D) and its per-dimension sigma (as ``index.embed``)."""
        return out["embedding"], fused_sigma(self.require_model().manifest, out)

    def search_results(
        self, query: np.ndarray, sigma: np.ndarray | None, k: int, label: str | None, preview: bool
    ) -> dict[str, Any]:
        index = self.require_index()
        hits = index.search(query, k, label, sigma)[0]
        version = hits[0].version if hits else index.version
        neighbours = []
        for hit in hits:
            row = hit.to_json()
            if preview:
                try:
                    row["skeleton"] = skeleton_json(index.item(hit.id)[1])
                except KeyError:  # removed since the search; the search's own answer stands
                    row["skeleton"] = None
            neighbours.append(row)
        return {"version": version, "neighbours": neighbours}

    # -- mutation
    def add_items(
        self, clips: list[Clip], labels: list[str | None], extra: list[dict[str, Any]]
    ) -> dict[str, Any]:
        index = self.require_index()
        model = self.require_model()
        emb, items = from_clips(model, clips)
        names = model.manifest.get("class_names") or []
        for item, label, user in zip(items, labels, extra, strict=True):
            if label is not None:
                item.label = label
                item.label_index = names.index(label) if label in names else None
            item.user = {**item.user, **user}
        version = index.add(emb.embedding, items, emb.sigma)
        self._index_changed()
        return {"ids": [item.id for item in items], "version": version}

    def remove_item(self, item_id: int) -> dict[str, Any]:
        index = self.require_index()
        version = index.remove([item_id])
        self._index_changed()
        return {"removed": item_id, "version": version}

    def rebuild(
        self, source: Path, cleanup: Path | None, label: str, prefix: str
    ) -> Callable[[Callable[[str], None]], dict[str, Any]]:
        """The job body: embed every clip under ``source`` and swap the index to a new version.
        Errors name the source by ``label`` (the request's folder or archive) and item sources
        start with ``prefix`` (the folder relative to the data root, or ``archive:NAME``), never
        with a server path."""
        model = self.require_model()
        settings = self.settings
        assert settings.index_dir is not None

        def job(stage: Callable[[str], None]) -> dict[str, Any]:
            try:
                stage("embedding")
                if (source / "manifest.json").is_file() and (source / "joints.npy").is_file():
                    emb, items = from_prepared(model, source)
                else:
                    emb, items = from_files(model, [source], first_id=0)
                for item in items:
                    if item.source and item.source.startswith(str(source)):
                        item.source = prefix + item.source[len(str(source)) :]
                stage("writing")
                if self.index is None:
                    self.index = ActionIndex.create(
                        settings.index_dir or "",
                        emb.embedding,
                        items,
                        emb.sigma,
                        model.manifest["model_sha256"],
                    )
                    version = self.index.version
                else:
                    version = self.index.rebuild(
                        emb.embedding, items, emb.sigma, model.manifest["model_sha256"]
                    )
                self._index_changed()
                return {"version": version, "count": len(items)}
            except SkeletonError as err:
                raise SkeletonError(str(err).replace(str(source), label)) from None
            finally:
                if cleanup is not None:
                    shutil.rmtree(cleanup, ignore_errors=True)

        return job
