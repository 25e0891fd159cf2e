"""``Service``: the loaded model, index, batcher and jobs of one app, and the answers built from
them (``server.answers``). It knows no HTTP: it takes parsed requests (``server.schemas``) and
raw uploads, returns response models, and refuses with domain errors (``server.errors``, and
``SkeletonError`` for bad data), which ``server.app`` maps to status codes. Blocking work
(reading and preprocessing clips, searching, writing the index) runs in worker threads from the
``async`` methods, or in the caller's thread for the plain ones. No torch is imported.

Writes and rebuilds: a rebuild replaces the collection as it was when the rebuild was accepted
(the 202); adds and removes acknowledged after that are re-applied on top of the rebuilt version
(``ActionIndex.begin_rebuild``), so no acknowledged write is lost, and every automatic id comes
from the index's persisted counter. What leaves the service names no server path: item sources
are relative to the data root (``upload:NAME``, ``archive:NAME/...``), and ``redact`` cleans any
message.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio.to_thread
import numpy as np

from index.action_index import ActionIndex
from index.build import CLIP_SUFFIXES, from_clips, from_files, from_prepared
from index.store import IndexStoreError
from index.vote import VOTE_K
from runtime.attribution import CAM_OUTPUT, require_explain
from runtime.manifest import ExplainSpec
from runtime.model import OnnxModel, RuntimeModelError
from runtime.scores import fused_sigma
from server.answers import add_explanations, classify_results, embed_results, skeleton_json
from server.batching import Batcher, BatchStats, DeadlineExceeded, QueueFull
from server.clips import ClipReader, ClipSource, Upload
from server.enrolment import apply_votes
from server.errors import BadInput, Conflict, NotFound, NotReady
from server.files import confine, confined_files, extract_archive, list_clip_files, redact
from server.jobs import JobBusy, JobFn, Jobs
from server.metrics import Metrics
from server.replicas import WriterLock, follow
from server.schemas import (
    AddedOut,
    ClassifyOut,
    DataFiles,
    EmbedOut,
    IndexInfo,
    ItemOut,
    JobOut,
    JobStarted,
    LabelledClipIn,
    ModelInfo,
    Neighbour,
    RemovedOut,
    SearchIn,
    SearchOptions,
    SearchOut,
)
from server.sessions import Sessions
from server.settings import Settings
from skeleton.clip import Clip
from skeleton.errors import LayoutError, SkeletonError
from skeleton.layouts import get_layout
from skeleton.mapping import map_clip
from skeleton.pipelines import preprocess_clips
from skeleton.readers.limits import ReadLimits, bounded
from skeleton.tracking import split_persons

log = logging.getLogger("vcl.server")
WORK_DIR = ".work"  # in the index directory: unpacked rebuild archives


class Service:
    """The loaded model, index, batcher and jobs of one app; every endpoint goes through it."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.ready = False
        self.refused: str | None = None  # why the service will never be ready (VCL_REQUIRE_GPU)
        self.model: OnnxModel | None = None
        self.sessions: Sessions | None = None
        self.index: ActionIndex | None = None
        self.batcher: Batcher | None = None
        self.jobs = Jobs()
        self.clips = ClipReader(settings)
        self.writer_lock: WriterLock | None = None
        self._follower: asyncio.Task[None] | None = None

    # -- lifecycle
    def load(self) -> None:
        """Load and warm the model, and the index when one is configured and built."""
        st = self.settings
        sessions = Sessions(st)
        model = sessions.alone
        m = model.manifest
        variant = m.variants.get(st.precision)
        if variant is not None and variant.guard_passed is False:
            raise RuntimeModelError(
                f"VCL_PRECISION={st.precision}: the model's {st.precision} variant failed its export "
                "guard (kept with --lossy-int8); serve fp32 or re-export"
            )
        sessions.warm()
        self.model, self.sessions = model, sessions
        log.info(
            "serving the %s graph on %s (VCL_PRECISION=%s)", model.precision, model.providers[0], st.precision
        )
        for provider in model.providers:
            self.metrics.provider.labels(provider).set(1)
        if not st.index_dir:
            return
        if st.allow_mutation:  # the one writer of this index directory (server.replicas)
            self.writer_lock = WriterLock(st.index_dir, st.public_url)
            shutil.rmtree(Path(st.index_dir) / WORK_DIR, ignore_errors=True)  # a crashed rebuild's files
        if (Path(st.index_dir) / "CURRENT").exists():
            self.index = ActionIndex(st.index_dir, m.model_sha256, m.embedding_dim, writer=st.allow_mutation)
            self.index.search(np.ones((1, m.embedding_dim), np.float32), 1)  # warm-up
            self._index_changed()
        else:
            log.warning(
                "%s holds no index: search answers 404%s",
                st.index_dir,
                " until a rebuild" if st.allow_mutation else " (build one with vcl index build)",
            )

    async def start(self) -> None:
        """Load (in a worker thread), start the batcher, and answer as ready. With
        ``VCL_REQUIRE_GPU`` and no usable CUDA the service stays up but never becomes ready."""
        try:
            await anyio.to_thread.run_sync(self.load)
        except RuntimeModelError as err:
            if not self.settings.require_gpu:
                raise
            self.refused = f"VCL_REQUIRE_GPU is set but CUDA is not usable: {self.redact(str(err))}"
            log.error(self.refused)
            return
        assert self.sessions is not None
        st = self.settings
        self.batcher = Batcher(
            self.sessions.runner(lambda: self.batcher.running if self.batcher is not None else 1),
            max_batch=st.max_batch,
            max_wait_s=st.max_wait_ms / 1000,
            max_queue=st.max_queue,
            timeout_s=st.request_timeout_s,
            stats=BatchStats(self.metrics.on_batch),
            workers=st.inference_workers,
        )
        self.batcher.start()
        if st.index_dir and not st.allow_mutation:
            self._follower = asyncio.create_task(follow(self.follow_once, st.follow_interval_s))
        self.ready = True

    async def stop(self) -> None:
        self.ready = False
        if self._follower is not None:
            self._follower.cancel()
        if self.batcher is not None:
            await self.batcher.stop()
        if self.writer_lock is not None:
            self.writer_lock.release()

    def _work_dir(self) -> Path | None:
        """Where unpacked rebuild archives go: inside the index directory, so the writer removes
        what a crash leaves there when it starts (None: the system's temporary directory)."""
        if not self.settings.index_dir:
            return None
        work = Path(self.settings.index_dir) / WORK_DIR
        work.mkdir(parents=True, exist_ok=True)
        return work

    def follow_once(self) -> bool:
        """A follower's step: serve the version ``CURRENT`` names now; True when it changed."""
        st = self.settings
        assert st.index_dir is not None and self.model is not None
        m = self.model.manifest
        if self.index is None:
            if not (Path(st.index_dir) / "CURRENT").exists():
                return False
            self.index = ActionIndex(st.index_dir, m.model_sha256, m.embedding_dim)
            changed = True
        else:
            changed = self.index.reload()
        if changed:
            self._index_changed()
        return changed

    # -- what leaves the service
    def redact(self, text: str) -> str:
        """``text`` without server paths: the data root becomes relative names, the index and model
        directories ``<index>`` and ``<model>``, temporary upload directories nothing."""
        st = self.settings
        places: dict[str, str] = {}
        for value, name in ((st.data_root, ""), (st.index_dir, "<index>"), (st.model_dir, "<model>")):
            if value:
                places[str(Path(value))] = name
                places[str(Path(value).resolve())] = name
        places[os.path.realpath(tempfile.gettempdir())] = "<tmp>"
        places[tempfile.gettempdir()] = "<tmp>"
        return redact(text, places)

    def public_source(self, source: str | None) -> str | None:
        """An item's source as a client may see it: relative to the data root, else its file name."""
        if source is None or not os.path.isabs(source):
            return source
        root = self.clips.data_root
        if root is not None:
            for base in (root, root.resolve()):
                try:
                    return Path(source).relative_to(base).as_posix()
                except ValueError:
                    continue
        return Path(source).name

    def _public_row(self, row: dict[str, Any]) -> dict[str, Any]:
        return {**row, "source": self.public_source(row.get("source"))}

    def _index_changed(self) -> None:
        if self.index is not None:
            info = self.index.info()
            self.metrics.set_index(info["version"], info["count"])

    # -- access to parts
    def require_model(self) -> OnnxModel:
        if not self.ready or self.model is None:
            raise NotReady(self.refused or "model not loaded yet")
        return self.model

    def require_index(self) -> ActionIndex:
        self.require_model()
        if self.index is None:
            if not self.settings.index_dir:
                raise NotFound("no index configured (VCL_INDEX_DIR)")
            raise NotFound("no index built yet in VCL_INDEX_DIR")
        return self.index

    # -- information
    def model_info(self) -> ModelInfo:
        model = self.require_model()
        m = model.manifest
        layout = get_layout(m.layout)
        summary = m.summary()
        if self.settings.unknown_threshold is not None:  # overrides the manifest's default threshold
            rule = summary["uncertainty"] or {"unknown_score": "sigma"}
            summary["uncertainty"] = {**rule, "unknown_threshold": self.settings.unknown_threshold}
        return ModelInfo(
            **summary,
            num_joints=layout.num_joints,
            bones=[list(edge) for edge in layout.edges],
            # the vertical axis of preprocessed skeletons (vcl-official turns the spine onto +z)
            preview_up_axis=2 if m.pipeline.get("name") == "vcl-official" else layout.up_axis,
            providers=list(model.providers),
            precision=model.precision,
        )

    def index_info(self) -> IndexInfo:
        info = self.require_index().info()
        return IndexInfo.model_validate({**info, "messages": [self.redact(m) for m in info["messages"]]})

    def item(self, item_id: int) -> ItemOut:
        index = self.require_index()
        try:
            row, blob = index.item(item_id)
        except (KeyError, OverflowError):  # OverflowError: an id past 64 bits, so in no index
            raise NotFound(f"item {item_id} is not in the index") from None
        return ItemOut(
            id=item_id, metadata=self._public_row(row), skeleton=skeleton_json(blob), version=index.version
        )

    def data_files(self) -> DataFiles:
        self.require_model()
        if self.clips.data_root is None:
            raise NotFound("no data root configured (VCL_DATA_ROOT)")
        return DataFiles(files=list_clip_files(self.clips.data_root))

    def metrics_text(self) -> bytes:
        if self.batcher is not None:
            self.metrics.queue_depth.set(self.batcher.depth)
        return self.metrics.render()

    # -- inference
    def preprocess(self, clips: list[Clip]) -> np.ndarray:
        m = self.require_model().manifest
        if not clips:
            raise SkeletonError("clips: expected at least one clip")
        if len(clips) > self.settings.max_clips:
            raise SkeletonError(f"clips: at most {self.settings.max_clips} per request, got {len(clips)}")
        return preprocess_clips(clips, m.layout, m.pipeline)

    def to_model_layout(self, clips: list[Clip]) -> list[Clip]:
        """Clips in another layout than the model's, mapped to it (``skeleton.mapping``); their
        ``meta.extra`` gains ``mapped_from`` and ``synthesised``. SkeletonError when no mapping
        exists."""
        layout = self.require_model().manifest.layout
        out = []
        for clip in clips:
            if clip.layout != layout:
                try:
                    mapped = map_clip(clip, layout)
                except LayoutError as err:
                    raise SkeletonError(
                        f"{clip.meta.source}: layout {clip.layout!r} is not the model's {layout!r} "
                        f"and cannot be mapped to it ({err})"
                    ) from None
                extra = {**mapped.clip.meta.extra, "synthesised": list(mapped.synthesised)}
                clip = replace(mapped.clip, meta=replace(mapped.clip.meta, extra=extra))
            out.append(clip)
        return out

    async def infer(self, read: ClipSource) -> tuple[list[Clip], np.ndarray, dict[str, np.ndarray]]:
        """Read the clips and preprocess them (in a worker thread, or on the event loop for a
        ``small`` source), then run them through the batcher. The request is announced to the
        batcher first, so a forming batch may wait for it.
        Returns (clips, preprocessed joints (N, C, T, V, M), model outputs)."""
        self.require_model()
        assert self.batcher is not None

        def prepare() -> tuple[list[Clip], np.ndarray]:
            clips = self.to_model_layout(read())
            return clips, self.preprocess(clips)

        with self.batcher.announce() as announcement:
            clips, joints = prepare() if read.small else await anyio.to_thread.run_sync(prepare)
            self.metrics.queue_depth.set(self.batcher.depth)
            try:
                out = await self.batcher.submit(joints, announcement)
            except QueueFull:
                self.metrics.rejected.labels("queue_full").inc()
                raise
            except DeadlineExceeded:
                self.metrics.rejected.labels("deadline").inc()
                raise
        for name, value in out.items():
            bad = ~np.isfinite(value.reshape(len(value), -1)).all(axis=1)
            if bad.any():
                clip = clips[int(np.flatnonzero(bad)[0])]
                raise BadInput(
                    f"clip {clip.meta.name!r}: the model's output {name!r} overflowed float32 "
                    "(coordinates far outside what it was trained on; check the units)"
                )
        return clips, joints, out

    async def classify(
        self,
        read: ClipSource,
        top_k: int,
        preview: bool,
        per_person: bool = False,
        by: str = "model",
        explain: bool = False,
        explain_label: str | None = None,
    ) -> ClassifyOut:
        """Label, top-k, uncertainty (sigma score per stream, softmax entropy) and ``unknown``;
        ``mapped_from`` and ``synthesised`` for a clip mapped to the model's layout; with
        ``per_person`` one result per person (track) of each clip, with its ``track`` and ``span``;
        with ``by`` index or both, the index's vote and who decided (``server.enrolment``); with
        ``explain`` (or ``explain_label``) the attribution of the model's predicted (or that) class,
        from the graph's ``cam`` output in a second ONNX Runtime call on the same clips."""
        model = self.require_model()
        m = model.manifest
        if not m.classified:
            raise Conflict("this model has no classifier (pretraining only)")
        index = self.require_index() if by != "model" else None
        explain = explain or explain_label is not None
        spec = self._explain_spec(explain_label) if explain else None
        source = read.then(lambda cs: [p.clip for c in cs for p in split_persons(c)]) if per_person else read
        clips, joints, out = await self.infer(source)
        threshold = self.settings.unknown_threshold
        results = classify_results(m, clips, joints, out, top_k, preview, threshold)
        if spec is not None:
            cam = await anyio.to_thread.run_sync(lambda: model.run(joints, outputs=(CAM_OUTPUT,))[CAM_OUTPUT])
            add_explanations(m, spec, results, joints, cam, explain_label)
        if index is not None:
            hits = await anyio.to_thread.run_sync(index.search, out["embedding"], VOTE_K)
            apply_votes(results, hits, by, m.class_names or ())
        for clip, result in zip(clips, results, strict=True):
            extra = clip.meta.extra
            if "mapped_from" in extra:
                result.mapped_from, result.synthesised = extra["mapped_from"], extra.get("synthesised", [])
            if per_person:
                result.track, result.span = extra["track"], extra["span"]
        return ClassifyOut(results=results)

    def _explain_spec(self, label: str | None) -> ExplainSpec:
        """What explaining needs of the model: Conflict (409) for a model exported without its
        ``cam`` output, naming it and the fix; BadInput for a label that is not a class."""
        m = self.require_model().manifest
        try:
            spec = require_explain(m, "this model")
        except RuntimeModelError as err:
            raise Conflict(self.redact(str(err))) from None
        if label is not None and label not in (m.class_names or ()):
            raise BadInput(f"explain_label: {label!r} is not one of the model's classes")
        return spec

    async def embed(self, read: ClipSource) -> EmbedOut:
        """Per clip: mu and sigma per stream (Gaussian head), and the fused retrieval embedding."""
        m = self.require_model().manifest
        clips, _, out = await self.infer(read)
        return EmbedOut(results=embed_results(m, clips, out))

    # -- search
    async def search(self, body: SearchIn) -> SearchOut:
        """Neighbours of a clip, an embedding or an indexed item (the schema holds exactly one)."""
        m = self.require_model().manifest
        index = self.require_index()
        if body.clip is not None:
            clip = body.clip
            return await self.search_clip(ClipSource(lambda: self.clips.from_json(clip, "clip")), body)
        if body.id is not None:
            try:
                query = index.vector(body.id)[None]
            except (KeyError, OverflowError):  # OverflowError: an id past 64 bits, so in no index
                raise NotFound(f"item {body.id} is not in the index") from None
        else:
            values = body.embedding or []
            with np.errstate(over="ignore"):
                query = np.asarray([values], dtype=np.float32)  # finite as float32: 1e39 is not
            if len(values) != m.embedding_dim or not np.all(np.isfinite(query)):
                raise BadInput(
                    f"embedding: expected {m.embedding_dim} finite numbers (float32), got {len(values)}"
                )
            if not np.any(query):
                raise BadInput("embedding: all zeros has no direction")
        return await anyio.to_thread.run_sync(self.search_results, query, None, body)

    async def search_clip(self, read: ClipSource, options: SearchOptions) -> SearchOut:
        """Neighbours of the one clip ``read`` gives, by its fused embedding (and sigma)."""
        self.require_index()
        m = self.require_model().manifest

        def one_clip(clips: list[Clip]) -> list[Clip]:
            if len(clips) != 1:
                raise BadInput(f"search: expected one clip, the input holds {len(clips)}")
            return clips

        _, _, out = await self.infer(read.then(one_clip))
        sigma = None
        if options.uncertainty_aware and m.has_gaussian_head:
            sigma = fused_sigma(out, m.streams, m.fusion_weights, m.embedding_centers)
        return await anyio.to_thread.run_sync(self.search_results, out["embedding"], sigma, options)

    def search_results(
        self, query: np.ndarray, sigma: np.ndarray | None, options: SearchOptions
    ) -> SearchOut:
        """The ``options.k`` neighbours of ``query`` (1, D), re-ranked by MLS when ``sigma`` is given."""
        index = self.require_index()
        hits = index.search(query, options.k, options.label, sigma)[0]
        neighbours = []
        for hit in hits:
            found = hit.to_json()
            row = Neighbour.model_validate({**found, "metadata": self._public_row(found["metadata"])})
            if options.preview:
                try:
                    row.skeleton = skeleton_json(index.item(hit.id)[1])
                except KeyError:  # removed since the search; the search's own answer stands
                    row.skeleton = None
            neighbours.append(row)
        return SearchOut(version=hits[0].version if hits else index.version, neighbours=neighbours)

    # -- mutation
    def add_json_items(self, items: Sequence[LabelledClipIn]) -> AddedOut:
        """Embed and add clips with their labels and metadata."""
        self.require_index()
        clips, labels, extra = [], [], []
        for i, item in enumerate(items):
            for clip in self.clips.from_json(item, f"clips[{i}]"):
                clips.append(clip)
                labels.append(item.label)
                extra.append(item.metadata)
        return self.add_items(clips, labels, extra)

    def add_upload_items(self, uploads: Sequence[Upload], label: str | None) -> AddedOut:
        """Embed and add every clip of the uploaded files, all with ``label``."""
        self.require_index()
        clips = self.clips.from_uploads(uploads)
        return self.add_items(clips, [label] * len(clips), [{}] * len(clips))

    def add_items(self, clips: list[Clip], labels: list[str | None], extra: list[dict[str, Any]]) -> AddedOut:
        index = self.require_index()
        model = self.require_model()
        limit = self.settings.max_clips
        if not clips or len(clips) > limit:
            raise SkeletonError(f"clips: expected 1 to {limit} clips, got {len(clips)}")
        emb, items = from_clips(model, clips)
        names = model.manifest.class_names or ()
        for item, label, user in zip(items, labels, extra, strict=True):
            if label is not None:
                item.label = label
                item.label_index = names.index(label) if label in names else None
            item.user = {**item.user, **user}
        version = index.add(emb.embedding, items, emb.sigma)
        self._index_changed()
        return AddedOut(ids=[item.id for item in items], version=version)

    def remove_item(self, item_id: int) -> RemovedOut:
        index = self.require_index()
        try:
            version = index.remove([item_id])
        except IndexStoreError:
            raise NotFound(f"item {item_id} is not in the index") from None
        self._index_changed()
        return RemovedOut(removed=item_id, version=version)

    # -- rebuilds (background jobs)
    def job(self, job_id: str) -> JobOut:
        job = self.jobs.get(job_id)
        if job is None:
            raise NotFound(f"no job {job_id!r}")
        out = JobOut.model_validate(job.to_json())
        if out.error is not None:
            out.error = self.redact(out.error)
        return out

    def rebuild_folder(self, folder: str) -> JobStarted:
        """Start rebuilding the index from clip files (or a prepared dataset) under the data root."""
        self._check_rebuild_allowed()
        source = confine(self.clips.data_root, folder)
        if not source.is_dir():
            raise SkeletonError(f"folder {folder!r}: not a folder")
        assert self.clips.data_root is not None  # confine refuses folders without one
        return self._start_rebuild(source, None, f"folder {folder!r}", self.clips.data_root.resolve(), "")

    def rebuild_archive(self, data: bytes, filename: str | None) -> JobStarted:
        """Start rebuilding the index from an uploaded archive of clip files (unpacked here)."""
        self._check_rebuild_allowed()
        tmp = Path(tempfile.mkdtemp(prefix="vcl-rebuild-", dir=self._work_dir()))
        try:
            count = extract_archive(data, filename, tmp, 8 * self.settings.max_body_bytes)
            clip_count = sum(1 for p in tmp.rglob("*") if p.is_file() and p.suffix.lower() in CLIP_SUFFIXES)
            if count == 0 or clip_count == 0:
                raise SkeletonError(
                    f"archive {filename!r}: no clip files in it (expected {', '.join(sorted(CLIP_SUFFIXES))})"
                )
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return self._start_rebuild(tmp, tmp, f"archive {filename!r}", tmp, f"archive:{filename}/")

    def _check_rebuild_allowed(self) -> None:
        self.require_model()
        if not self.settings.index_dir:
            raise NotFound("no index configured (VCL_INDEX_DIR)")
        if self.jobs.running is not None:
            raise Conflict(f"a rebuild is already running (job {self.jobs.running})")

    def _start_rebuild(
        self, source: Path, cleanup: Path | None, label: str, root: Path, prefix: str
    ) -> JobStarted:
        """Accept the rebuild: from here on, writes are re-applied on top of its result."""
        index = self.index
        try:
            if index is not None:
                index.begin_rebuild()
        except IndexStoreError as err:
            if cleanup is not None:
                shutil.rmtree(cleanup, ignore_errors=True)
            raise Conflict(f"a rebuild is already running ({err})") from None
        try:
            job = self.jobs.start("rebuild", self._rebuild_job(source, cleanup, label, root, prefix))
        except JobBusy as err:
            if index is not None:
                index.abort_rebuild()
            if cleanup is not None:
                shutil.rmtree(cleanup, ignore_errors=True)
            raise Conflict(f"a rebuild is already running ({err})") from None
        return JobStarted(job=JobOut.model_validate(job.to_json()), status_url=f"/v1/index/jobs/{job.id}")

    def _rebuild_job(self, source: Path, cleanup: Path | None, label: str, root: Path, prefix: str) -> JobFn:
        """The job body: embed every clip under ``source`` and swap the index to a new version.
        Only files whose real path is inside ``root`` (the data root, or the unpacked archive) are
        read; the others are skipped and named in the result. Errors name the source by ``label``
        (the request's folder or archive); item sources are ``prefix`` + the path relative to
        ``root``, never a server path."""
        model = self.require_model()
        index_dir = self.settings.index_dir
        assert index_dir is not None
        sha256 = model.manifest.model_sha256
        st = self.settings
        limits = ReadLimits(None, st.max_persons, st.max_frames, 8 * st.max_body_bytes)

        def job(stage: Callable[[str], None]) -> dict[str, Any]:
            index = self.index
            try:
                stage("embedding")
                with bounded(limits):
                    if (source / "manifest.json").is_file() and (source / "joints.npy").is_file():
                        _, skipped = confined_files(root, source)
                        if skipped:
                            raise SkeletonError(f"{label}: {skipped[0]!r} leads out of the data root")
                        emb, items = from_prepared(model, source)
                    else:
                        files, skipped = confined_files(root, source, CLIP_SUFFIXES)
                        if not files:
                            raise SkeletonError(f"{label}: no clip files in it")
                        emb, items = from_files(model, files, first_id=0)
                for item in items:
                    if item.source and os.path.isabs(item.source):
                        try:
                            item.source = prefix + Path(item.source).relative_to(root).as_posix()
                        except ValueError:
                            item.source = prefix + Path(item.source).name
                stage("writing")
                if index is None:
                    self.index = ActionIndex.create(index_dir, emb.embedding, items, emb.sigma, sha256)
                    version = self.index.version
                else:
                    version = index.rebuild(emb.embedding, items, emb.sigma, sha256)
                self._index_changed()
                result: dict[str, Any] = {"version": version, "count": len(items)}
                if skipped:  # files leading out of the data root, never read
                    result["skipped"] = skipped[:20]
                return result
            except BaseException as err:
                if index is not None:
                    index.abort_rebuild()
                if isinstance(err, SkeletonError):
                    raise SkeletonError(self.redact(str(err).replace(str(source), label))) from None
                raise
            finally:
                if cleanup is not None:
                    shutil.rmtree(cleanup, ignore_errors=True)

        return job
