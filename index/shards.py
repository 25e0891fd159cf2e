"""Sharded index builds: any process or machine embeds one shard; one merge writes the snapshot.

``vcl index build --shard I/N`` (I = 0 .. N-1, e.g. a Slurm array index or a Kubernetes
completion index) embeds shard I of N of a collection and writes one shard file;
``vcl index merge`` checks that the N shards belong together and writes one version with the
store's writer (``ActionIndex.create``, the call a single build makes), so the result has the
ids, vectors, metadata and content hash of a single build (tested). Embedding is the costly part
and is what runs in parallel; the FAISS index is built once, at the merge, over all vectors (an
IVF then trains on the whole collection exactly as in a single build).

Assignment is deterministic and needs no coordination: a prepared dataset is cut into N
contiguous ranges of clips, on boundaries of the embedding batch (so every batch an ONNX Runtime
call sees is the one a single build sees); raw clip files, in the order ``index.build.clip_files``
lists them, into N contiguous ranges of files (a file's clips stay together).

A shard file ``shard-IIIII-of-NNNNN.sqlite`` is one SQLite database: the ``items`` table of
``index.metadata`` (the rows a version holds, sigma and preview included), ``vectors`` (local
id, the clip's position in the collection as (file, clip in file), float32 embedding) and a
one-row ``shard`` table with its manifest (format, shard, of, collection fingerprint, model
hash, dim, count, whether sigmas are present). It is written under a temporary name and renamed
into place, so a shard that exists is complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from common.errors import VclError
from common.publish import fsync_dir, fsync_file
from index import metadata

T = TypeVar("T")
FORMAT = "vcl-index-shard"
NAME = re.compile(r"^shard-(\d{5})-of-(\d{5})\.sqlite$")
SCHEMA = """
CREATE TABLE vectors (id INTEGER PRIMARY KEY, major INTEGER NOT NULL, minor INTEGER NOT NULL,
                      embedding BLOB NOT NULL);
CREATE TABLE shard (manifest TEXT NOT NULL);
"""


class ShardError(VclError):
    """A shard spec, shard file or set of shards is invalid or incomplete."""


@dataclass(frozen=True)
class ShardSpec:
    """Shard ``index`` (0-based) of ``count``."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> ShardSpec:
        """``"I/N"`` -> ShardSpec(I, N); 0 <= I < N."""
        match = re.fullmatch(r"(\d+)/(\d+)", text.strip())
        if not match or not 0 <= int(match[1]) < int(match[2]):
            raise ShardError(f"--shard {text!r}: expected I/N with 0 <= I < N, e.g. 0/4 ... 3/4")
        return cls(int(match[1]), int(match[2]))

    @property
    def file_name(self) -> str:
        return f"shard-{self.index:05d}-of-{self.count:05d}.sqlite"

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def shard_range(total: int, spec: ShardSpec, block: int = 1) -> range:
    """The positions ``[start, stop)`` of ``total`` that shard ``spec`` takes: N contiguous ranges
    whose boundaries fall on multiples of ``block`` (the last range ends at ``total``)."""
    blocks = -(-total // block)
    start = spec.index * blocks // spec.count * block
    stop = (spec.index + 1) * blocks // spec.count * block
    return range(min(start, total), min(stop, total))


@dataclass
class Shard:
    """One shard in memory: its manifest, positions (n, 2) as (file, clip in file), vectors (n, D),
    items (local ids 0 .. n-1) and sigmas (n, D) or None."""

    manifest: dict[str, Any]
    positions: np.ndarray
    vectors: np.ndarray
    items: list[metadata.Item]
    sigmas: np.ndarray | None


def write_shard(
    directory: Path,
    spec: ShardSpec,
    collection: dict[str, Any],
    model_sha256: str,
    dim: int,
    positions: np.ndarray,
    vectors: np.ndarray,
    items: list[metadata.Item],
    sigmas: np.ndarray | None,
) -> Path:
    """Write shard ``spec`` into ``directory`` atomically; items get local ids 0 .. n-1 in the
    order of ``positions`` (their ids at the merge come from the positions)."""
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / spec.file_name
    tmp = directory / f".{spec.file_name}.tmp"
    tmp.unlink(missing_ok=True)
    local = [metadata.Item(**{**it.to_json(), "id": i}, preview=it.preview) for i, it in enumerate(items)]
    conn = metadata.connect(tmp)
    try:
        conn.executescript(SCHEMA)
        metadata.insert(conn, local, sigmas)
        vec = np.ascontiguousarray(vectors, dtype=np.float32)
        conn.executemany(
            "INSERT INTO vectors VALUES (?, ?, ?, ?)",
            [(i, int(p[0]), int(p[1]), vec[i].tobytes()) for i, p in enumerate(positions)],
        )
        manifest = {
            "format": FORMAT,
            "format_version": 1,
            "shard": spec.index,
            "of": spec.count,
            "collection": collection,
            "model_sha256": model_sha256,
            "dim": int(dim),
            "count": len(items),
            "has_sigma": sigmas is not None,
        }
        conn.execute("INSERT INTO shard VALUES (?)", (json.dumps(manifest, sort_keys=True),))
        conn.commit()
    finally:
        conn.close()
    fsync_file(tmp)
    os.replace(tmp, final)
    fsync_dir(directory)
    return final


def _chunked(
    fetch: Callable[[sqlite3.Connection, list[int]], dict[int, T]], conn: sqlite3.Connection, ids: list[int]
) -> dict[int, T]:
    """``fetch`` over ``ids`` in chunks (SQLite bounds the variables of one statement)."""
    out: dict[int, T] = {}
    for start in range(0, len(ids), 10_000):
        out.update(fetch(conn, ids[start : start + 10_000]))
    return out


def read_shard(path: Path) -> Shard:
    """Load one shard file (refusing anything that is not one, naming the file)."""
    if not path.is_file():
        raise ShardError(f"{path}: no such shard file")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            (text,) = conn.execute("SELECT manifest FROM shard").fetchone()
            manifest = json.loads(text)
            rows = conn.execute("SELECT id, major, minor, embedding FROM vectors ORDER BY id").fetchall()
            ids = [int(r[0]) for r in rows]
            meta = _chunked(metadata.fetch, conn, ids)
            sig = _chunked(metadata.fetch_sigmas, conn, ids) if manifest["has_sigma"] else {}
            previews = _chunked(metadata.fetch_previews, conn, ids)
        finally:
            conn.close()
    except (sqlite3.DatabaseError, TypeError, KeyError, json.JSONDecodeError) as err:
        raise ShardError(f"{path}: not a VCL index shard ({err})") from None
    if manifest.get("format") != FORMAT or manifest.get("count") != len(rows):
        raise ShardError(f"{path}: not a complete VCL index shard (format {manifest.get('format')!r})")
    dim = manifest["dim"]
    vectors = (
        np.stack([np.frombuffer(r[3], np.float32) for r in rows]) if rows else np.zeros((0, dim), np.float32)
    )
    positions = np.array([(r[1], r[2]) for r in rows], dtype=np.int64).reshape(-1, 2)
    items = [metadata.Item(**meta[i], preview=previews.get(i)) for i in ids]
    sigmas = np.stack([np.asarray(sig[i]) for i in ids]) if manifest["has_sigma"] and ids else None
    return Shard(manifest, positions, vectors, items, sigmas)


def shard_files(paths: Sequence[Path]) -> list[Path]:
    """Shard files given directly or as folders of them."""
    files: list[Path] = []
    for path in paths:
        files += sorted(p for p in path.iterdir() if NAME.match(p.name)) if path.is_dir() else [path]
    if not files:
        raise ShardError(f"no shard files (shard-IIIII-of-NNNNN.sqlite) in {', '.join(map(str, paths))}")
    return files


def combine(shards: list[Shard]) -> tuple[np.ndarray, list[metadata.Item], np.ndarray | None, dict[str, Any]]:
    """Check that ``shards`` are the complete set of one collection, model and dim, then join
    them in collection order with ids 0 .. n-1: (vectors, items, sigmas, first manifest)."""
    first = shards[0].manifest
    count = first["of"]
    for key in ("of", "collection", "model_sha256", "dim", "has_sigma"):
        for shard in shards[1:]:
            if shard.manifest[key] != first[key]:
                raise ShardError(
                    f"shard {shard.manifest['shard']}/{shard.manifest['of']} does not belong with shard "
                    f"{first['shard']}/{count}: {key} {shard.manifest[key]!r} != {first[key]!r}"
                )
    seen = sorted(s.manifest["shard"] for s in shards)
    duplicate = sorted({i for i in seen if seen.count(i) > 1})
    if duplicate:
        raise ShardError(f"shard {duplicate[0]}/{count} given more than once")
    missing = sorted(set(range(count)) - set(seen))
    if missing:
        names = ", ".join(f"{i}/{count}" for i in missing)
        raise ShardError(f"incomplete: {len(shards)} of {count} shards; missing {names}")
    positions = np.concatenate([s.positions for s in shards])
    order = np.lexsort((positions[:, 1], positions[:, 0]))
    if len(order) > 1 and (np.diff(positions[order], axis=0) == 0).all(axis=1).any():
        raise ShardError(
            "two shards hold the same clip position: were they built from different collections?"
        )
    items = [it for s in shards for it in s.items]
    merged = [items[i] for i in order]
    for new_id, item in enumerate(merged):
        item.id = new_id
    vectors = np.concatenate([s.vectors for s in shards])[order]
    sigmas = None
    if first["has_sigma"]:
        sigmas = np.concatenate([s.sigmas for s in shards if s.sigmas is not None])[order]
    return vectors, merged, sigmas, first


EMBED_BATCH = 64  # index.embed.embed_joints' batch: prepared shards start on its multiples


def build_shard(
    model: Any, data: list[Path], spec: ShardSpec, out: Path, previews: bool = True
) -> tuple[Path, int]:
    """Embed shard ``spec`` of a prepared dataset (one directory) or of clip files and folders
    with ``model`` (an ``OnnxModel``); writes the shard file into folder ``out``. Returns (its
    path, its clip count); a shard may be empty (more shards than files)."""
    from index.build import clip_listing, from_clips, from_prepared
    from skeleton.prepared import PreparedDataset
    from skeleton.readers.auto import read_clips

    m = model.manifest
    positions: list[tuple[int, int]] = []
    items: list[metadata.Item] = []
    vectors = np.zeros((0, m.embedding_dim), np.float32)
    sigmas = np.zeros((0, m.embedding_dim), np.float32) if m.has_gaussian_head else None
    if len(data) == 1 and (data[0] / "manifest.json").is_file():
        dataset = PreparedDataset(data[0])
        rows = shard_range(len(dataset), spec, EMBED_BATCH)
        collection: dict[str, Any] = {
            "kind": "prepared",
            "dataset": dataset.manifest["dataset"],
            "content_sha256": dataset.manifest.get("content_sha256"),
            "clips": len(dataset),
        }
        if len(rows):
            emb, items = from_prepared(model, data[0], previews=previews, rows=rows)
            vectors, sigmas = emb.embedding, emb.sigma
            positions = [(0, r) for r in rows]
    else:
        listing = clip_listing(data)
        digest = hashlib.sha256()
        for path, name in listing:
            digest.update(f"{name}\t{path.stat().st_size}\n".encode())
        collection = {"kind": "files", "files": len(listing), "sha256": digest.hexdigest()}
        clips = []
        for f in shard_range(len(listing), spec):
            for j, clip in enumerate(read_clips(listing[f][0])):
                clips.append(clip)
                positions.append((f, j))
        if clips:
            emb, items = from_clips(model, clips, first_id=0, previews=previews)
            vectors, sigmas = emb.embedding, emb.sigma
    path = write_shard(
        out,
        spec,
        collection,
        m.model_sha256,
        m.embedding_dim,
        np.array(positions, dtype=np.int64).reshape(-1, 2),
        vectors,
        items,
        sigmas,
    )
    return path, len(items)


def merge(paths: Sequence[Path], out: Path, kind: str = "auto") -> tuple[Any, int]:
    """Merge the shard files in ``paths`` (files or folders) into a new version of index ``out``;
    returns (the ActionIndex, clip count)."""
    from index.action_index import ActionIndex

    shards = [read_shard(p) for p in shard_files(paths)]
    vectors, items, sigmas, manifest = combine(shards)
    if not items:
        raise ShardError("the shards hold no clips")
    index = ActionIndex.create(out, vectors, items, sigmas, manifest["model_sha256"], kind)
    return index, len(items)
