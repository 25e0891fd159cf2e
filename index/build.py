"""Embed a prepared dataset or raw clip files with an exported model, as index items."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from index.embed import Embeddings, embed_joints
from index.metadata import Item
from index.preview import make_previews
from runtime.model import OnnxModel
from skeleton.clip import Clip
from skeleton.errors import SkeletonError
from skeleton.mapping import map_clip
from skeleton.pipelines import preprocess_clips, spec_score_channel
from skeleton.prepared import PreparedDataset
from skeleton.readers.auto import read_clips

CLIP_SUFFIXES = {".skeleton", ".txt", ".mat", ".npz"}


def _label(names: Sequence[str] | None, index: int | None) -> str | None:
    if index is None or index < 0:
        return None
    return names[index] if names and index < len(names) else str(index)


def _previews(joints: np.ndarray, enabled: bool, score: bool, chunk: int = 1024) -> list[bytes | None]:
    if not enabled:
        return [None] * len(joints)
    chunks = (np.asarray(joints[i : i + chunk]) for i in range(0, len(joints), chunk))
    return [p for part in chunks for p in make_previews(part, score=score)]


def from_prepared(
    model: OnnxModel, directory: Path, first_id: int = 0, previews: bool = True, rows: range | None = None
) -> tuple[Embeddings, list[Item]]:
    """Every clip of a prepared dataset (or the clips at positions ``rows``, id = first_id +
    position); it must use the model's layout and pipeline."""
    data = PreparedDataset(directory)
    rows = range(len(data)) if rows is None else rows
    m = model.manifest
    if data.manifest["layout"] != m.layout or data.manifest["pipeline"]["name"] != m.pipeline["name"]:
        raise SkeletonError(
            f"{directory}: prepared with layout {data.manifest['layout']!r} / pipeline "
            f"{data.manifest['pipeline']['name']!r}, the model expects {m.layout!r} / "
            f"{m.pipeline['name']!r}"
        )
    joints = data.joints[rows.start : rows.stop]
    embeddings = embed_joints(model, np.asarray(joints, dtype=np.float32))
    names = data.class_names or m.class_names
    blobs = _previews(joints, previews, spec_score_channel(model.manifest.pipeline))
    now = time.time()
    items = [
        Item(
            id=first_id + rows.start + i,
            label=_label(names, int(s["label"])),
            label_index=int(s["label"]),
            source=s["source"],
            frame_start=s["frame_range"][0],
            frame_end=s["frame_range"][1],
            subject=s.get("subject"),
            view=s.get("view"),
            dataset=data.manifest["dataset"],
            added=now,
            user={"name": s["name"]},
            preview=blobs[i],
        )
        for i, s in enumerate(data.samples[rows.start : rows.stop])
    ]
    return embeddings, items


def clip_listing(paths: list[Path]) -> list[tuple[Path, str]]:
    """Clip files of ``paths`` (files, and folders searched recursively, each sorted), with the
    name of each relative to the folder it was found in (a file given directly: its name)."""
    files: list[tuple[Path, str]] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in CLIP_SUFFIXES)
            files += [(p, p.relative_to(path).as_posix()) for p in found]
        else:
            files.append((path, path.name))
    if not files:
        raise SkeletonError(f"no clip files in {', '.join(map(str, paths))}")
    return files


def clip_files(paths: list[Path]) -> list[Path]:
    return [path for path, _ in clip_listing(paths)]


def from_files(
    model: OnnxModel, paths: list[Path], first_id: int = -1, previews: bool = True
) -> tuple[Embeddings, list[Item]]:
    """Raw clip files and folders (any reader); ids from ``first_id`` (-1: assigned by the index)."""
    clips: list[Clip] = [clip for path in clip_files(paths) for clip in read_clips(path)]
    return from_clips(model, clips, first_id, previews)


def from_clips(
    model: OnnxModel, clips: list[Clip], first_id: int = -1, previews: bool = True
) -> tuple[Embeddings, list[Item]]:
    """Raw clips -> the model's preprocessing -> embeddings and index items. A clip in another
    layout is mapped to the model's first (``skeleton.mapping``; its item's ``user`` metadata
    says ``mapped_from``)."""
    if not clips:
        raise SkeletonError("no clips to index")
    mapped_from = [c.layout if c.layout != model.manifest.layout else None for c in clips]
    clips = [map_clip(c, model.manifest.layout).clip for c in clips]
    joints = preprocess_clips(clips, model.manifest.layout, model.manifest.pipeline)
    embeddings = embed_joints(model, joints)
    blobs = _previews(joints, previews, spec_score_channel(model.manifest.pipeline))
    names = model.manifest.class_names
    now = time.time()
    items = [
        Item(
            id=-1 if first_id < 0 else first_id + i,
            label=_label(names, c.label),
            label_index=c.label,
            source=c.meta.source,
            frame_start=c.meta.frame_range[0],
            frame_end=c.meta.frame_range[1],
            subject=c.meta.subject,
            view=c.meta.view,
            dataset=c.meta.dataset,
            added=now,
            user={"name": c.meta.name, **({"mapped_from": mapped_from[i]} if mapped_from[i] else {})},
            preview=blobs[i],
        )
        for i, c in enumerate(clips)
    ]
    return embeddings, items
