"""``vcl data prepare``: raw captures -> a prepared dataset directory (see ``prepared.py``).

Files are read and preprocessed in parallel worker processes, in a deterministic order (the
result does not depend on the number of workers). A bad input never becomes a clip: it is
skipped and listed with its reason in ``skipped.json``. Everything is written to a temporary
directory that is fsynced and swapped into place at the end (``common.publish``), so an interrupted
run leaves no half dataset and an ``--overwrite`` never leaves a moment with none.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
from collections import Counter
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from common.publish import publish_dir
from skeleton.clip import ClipMeta
from skeleton.datasets import (
    SourceItem,
    dataset_classes,
    dataset_layout,
    dataset_protocols,
    discover,
    get_dataset,
    read_item,
)
from skeleton.errors import DatasetError, SkeletonError
from skeleton.layouts import Layout, get_layout
from skeleton.mapping import map_clip, mapping_path
from skeleton.pipelines import Pipeline, get_pipeline
from skeleton.prepared import FILES, FORMAT, FORMAT_VERSION, content_hash
from skeleton.readers.ntu import read_skip_list
from skeleton.render import camera_description, camera_view

Outcome = tuple[str, Any, Any, Any]


def _reason(err: SkeletonError, source: str) -> str:
    """The error message without the source path it starts with (the report lists it apart)."""
    text = str(err)
    return text[len(source) :].lstrip(": ") if text.startswith(source) else text


def _process(
    item: SourceItem,
    pipeline: Pipeline,
    layout: Layout,
    skip: frozenset[str],
    map_to: str | None = None,
    project_2d: bool = False,
) -> list[Outcome]:
    """Read and preprocess one item: ("ok", joints, label, meta) or ("skipped", source, reason, None).

    With ``map_to``, clips are first mapped to that layout (``skeleton.mapping``); with
    ``project_2d``, 3D clips are then seen through a pinhole camera (``skeleton.render.camera_view``).
    """
    if Path(item.path).stem in skip:
        return [("skipped", item.path, "listed in the skip list (known sample with missing skeleton)", None)]
    try:
        clips = read_item(item)
    except SkeletonError as err:
        return [("skipped", item.path, _reason(err, item.path), None)]
    out: list[Outcome] = []
    for clip in clips:
        if map_to is not None:
            try:
                clip = map_clip(clip, map_to).clip
            except SkeletonError as err:
                out.append(("skipped", clip.meta.source, str(err), None))
                continue
        if project_2d:
            try:
                clip = camera_view(clip)
            except SkeletonError as err:
                out.append(("skipped", clip.meta.source, _reason(err, clip.meta.source), None))
                continue
        if clip.channels != pipeline.input_channels:
            takes = f"the pipeline {pipeline.name!r} takes {pipeline.input_channels!r}"
            reason = f"channels {clip.channels!r}, {takes}"
            out.append(("skipped", clip.meta.source, reason, None))
            continue
        if clip.layout != layout.name:
            out.append(
                ("skipped", clip.meta.source, f"layout {clip.layout!r}, expected {layout.name!r}", None)
            )
            continue
        try:
            result = pipeline(clip.joints, layout)
        except SkeletonError as err:
            out.append(("skipped", clip.meta.source, _reason(err, clip.meta.source), None))
            continue
        out.append(("ok", result.joints, clip.label, clip.meta.to_json()))
    return out


def _run(
    items: list[SourceItem], work: partial[list[Outcome]], workers: int, progress: bool
) -> Iterator[list[Outcome]]:
    bar = tqdm(total=len(items), desc="prepare", unit="file", disable=not progress, dynamic_ncols=True)
    if workers <= 1 or len(items) < 2 * workers:
        for item in items:
            yield work(item)
            bar.update()
    else:
        chunk = max(1, min(64, len(items) // (workers * 8)))
        # forkserver, not fork: a forked worker inherits the parent's threads' locks (OpenBLAS,
        # ONNX Runtime, torch pools in a long-lived process such as the test runner) and can hang
        with multiprocessing.get_context("forkserver").Pool(workers) as pool:
            for outcome in pool.imap(work, items, chunksize=chunk):
                yield outcome
                bar.update()
    bar.close()


def prepare_dataset(
    dataset: str,
    root: str | Path | None,
    out: str | Path,
    *,
    protocols: list[str] | None = None,
    pipeline: str = "vcl-official",
    pipeline_options: dict[str, Any] | None = None,
    map_to: str | None = None,
    project_2d: bool = False,
    skip_list: str | Path | None = None,
    num_samples: int = 2000,
    seed: int = 0,
    synthetic_layout: str = "ntu",
    synthetic_channels: str = "xyz",
    workers: int | None = None,
    progress: bool = True,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Prepare a dataset and return its manifest.

    Args:
        dataset: a key of ``skeleton.datasets.DATASETS``.
        root: raw data folder (or a single file); unused for ``synthetic``.
        out: output directory; must not exist unless ``overwrite``.
        protocols: protocols to split by (default: every protocol the dataset has).
        pipeline: preprocessing pipeline name.
        pipeline_options: its options (e.g. ``{"keep_score": False}`` for ``pose2d``); recorded
            in the manifest's ``pipeline``.
        map_to: map every clip to this layout first (``skeleton.mapping``).
        project_2d: see every 3D clip (after ``map_to``) through a pinhole camera, as ``xys``
            pixels with score 1 (``skeleton.render.camera_view``), for a 2D pipeline; recorded
            in the manifest's ``camera``.
        skip_list: file of sample names to skip (e.g. NTU samples with missing skeletons).
        num_samples, seed: size and seed of the ``synthetic`` dataset.
        synthetic_layout, synthetic_channels: its layout and channels (``xyz`` metres, ``xys`` /
            ``xy`` pixels through a camera).
        workers: worker processes (default: all cores).
    """
    spec = get_dataset(dataset)
    out = Path(out)
    root_path = Path(root) if root is not None else None
    if out.exists() and not overwrite:
        raise DatasetError(f"{out}: already exists; choose another --out or pass --overwrite")
    proc = get_pipeline(pipeline, **(pipeline_options or {}))
    items = discover(
        spec,
        root_path,
        num_samples=num_samples,
        seed=seed,
        synthetic_layout=synthetic_layout,
        synthetic_channels=synthetic_channels,
    )
    if not items:
        raise DatasetError(f"{root}: no {dataset} files found")
    source_layout = dataset_layout(spec, items)
    layout = get_layout(map_to or source_layout)
    mapping = None
    if map_to is not None and map_to != source_layout:
        chain = mapping_path(source_layout, map_to)  # an unknown pair fails here, before any work
        mapped = map_clip(read_item(items[0])[0], map_to)
        mapping = {
            "from": source_layout,
            "via": [m.target for m in chain[:-1]],
            "synthesised": list(mapped.synthesised),
        }
    class_names = dataset_classes(spec, items)
    splitters, unavailable = dataset_protocols(spec, items, root_path)
    if protocols:
        unknown = [p for p in protocols if p not in splitters]
        if unknown:
            raise DatasetError(
                f"{dataset}: protocol {unknown[0]!r} is not available; available: "
                f"{', '.join(splitters) or 'none'}"
                + (f" ({'; '.join(f'{k}: {v}' for k, v in unavailable.items())})" if unavailable else "")
            )
        splitters = {p: splitters[p] for p in protocols}
    skip = frozenset(read_skip_list(skip_list)) if skip_list else frozenset()
    work = partial(_process, pipeline=proc, layout=layout, skip=skip, map_to=map_to, project_2d=project_2d)
    camera = camera_description() if project_2d else None

    with publish_dir(out) as tmp:
        manifest = _write(
            tmp,
            items,
            work,
            workers or os.cpu_count() or 1,
            progress,
            spec.name,
            layout,
            proc,
            class_names,
            splitters,
            unavailable,
            root_path,
            skip_list,
            num_samples,
            seed,
            mapping,
            camera,
        )
    return manifest


def _write(
    tmp: Path,
    items: list[SourceItem],
    work: partial[list[Outcome]],
    workers: int,
    progress: bool,
    dataset: str,
    layout: Layout,
    proc: Pipeline,
    class_names: tuple[str, ...] | None,
    splitters: dict[str, Any],
    unavailable: dict[str, str],
    root: Path | None,
    skip_list: str | Path | None,
    num_samples: int,
    seed: int,
    mapping: dict[str, Any] | None = None,
    camera: dict[str, Any] | None = None,
) -> dict[str, Any]:
    labels: list[int] = []
    metas: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    shape: tuple[int, ...] | None = None
    raw_path = tmp / "joints.raw"
    with open(raw_path, "wb") as raw, open(tmp / FILES["samples"], "w") as samples:
        for outcomes in _run(items, work, workers, progress):
            for status, a, b, meta in outcomes:
                if status == "skipped":
                    skipped.append({"source": a, "reason": b})
                    continue
                if class_names is not None and b is not None and not 0 <= b < len(class_names):
                    skipped.append(
                        {
                            "source": meta["source"],
                            "reason": f"label {b} outside the {len(class_names)} classes",
                        }
                    )
                    continue
                shape = a.shape
                raw.write(np.ascontiguousarray(a, dtype="<f4").tobytes())
                labels.append(-1 if b is None else int(b))
                meta["label"] = labels[-1]
                meta["index"] = len(metas)
                metas.append(meta)
                samples.write(json.dumps(meta) + "\n")
    if shape is None:
        first = f"; first: {skipped[0]['source']}: {skipped[0]['reason']}" if skipped else ""
        raise DatasetError(f"no usable clip among {len(items)} inputs ({len(skipped)} skipped{first})")
    full_shape = (len(labels), *shape)
    with open(tmp / FILES["joints"], "wb") as fh, open(raw_path, "rb") as raw:
        np.lib.format.write_array_header_1_0(
            fh, {"descr": "<f4", "fortran_order": False, "shape": full_shape}
        )
        shutil.copyfileobj(raw, fh, 1 << 22)
    raw_path.unlink()
    label_arr = np.asarray(labels, dtype=np.int64)
    np.save(tmp / FILES["labels"], label_arr)
    split_arrays: dict[str, np.ndarray] = {}
    split_counts: dict[str, dict[str, int]] = {}
    clip_metas = [ClipMeta.from_json(meta) for meta in metas]
    for protocol, assign in splitters.items():
        parts = [assign(meta) for meta in clip_metas]
        for part in ("train", "test"):
            split_arrays[f"{protocol}_{part}"] = np.array(
                [i for i, p in enumerate(parts) if p == part], dtype=np.int64
            )
        split_counts[protocol] = {part: len(split_arrays[f"{protocol}_{part}"]) for part in ("train", "test")}
        split_counts[protocol]["unassigned"] = sum(p is None for p in parts)
    np.savez(tmp / FILES["splits"], **split_arrays)  # type: ignore[arg-type]
    (tmp / FILES["skipped"]).write_text(json.dumps(skipped, indent=1) + "\n")
    num_classes = len(class_names) if class_names else int(label_arr.max() + 1)
    per_class = Counter(int(x) for x in label_arr if x >= 0)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "dataset": dataset,
        "layout": layout.name,
        "joint_names": list(layout.joints),
        "channels": proc.input_channels,
        "input_channels": proc.output_channels,
        "mapping": mapping,
        "camera": camera,
        "pipeline": proc.describe(),
        "class_names": list(class_names) if class_names else None,
        "num_classes": num_classes,
        "num_samples": len(labels),
        "shape": list(full_shape),
        "axes": ["N", "C", "T", "V", "M"],
        "files": FILES,
        "splits": split_counts,
        "unavailable_protocols": unavailable,
        "source": {
            "root": str(root) if root else None,
            "skip_list": str(skip_list) if skip_list else None,
            **({"num_samples": num_samples, "seed": seed} if dataset == "synthetic" else {}),
        },
        "counts": {
            "inputs": len(items),
            "clips": len(labels),
            "skipped": len(skipped),
            "unlabelled": int((label_arr < 0).sum()),
            "per_class": [per_class.get(c, 0) for c in range(num_classes)],
        },
        "content_sha256": content_hash(tmp),
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest
