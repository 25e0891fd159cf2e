"""Versioned, checksummed snapshots of the action index, swapped atomically.

An index directory holds version directories ``v000001``, ``v000002``, ... and a ``CURRENT`` file
naming the live one. Each version holds ``index.faiss`` (a FAISS ``IndexIDMap2`` over inner
product on L2-normalised float32 embeddings), ``meta.sqlite`` (``index.metadata``) and
``manifest.json`` (SHA-256 of both files, a content hash of ids + vectors + metadata without
timestamps, the embedding model's hash, dim, metric, kind, count).

A write builds the new version in a temporary directory and publishes it (``common.publish``:
fsync, rename into place), then replaces ``CURRENT`` atomically (write + fsync + ``os.replace``);
the last two versions are kept. The ``CURRENT`` swap is the commit point: a crash before it leaves
the previous version served, a crash after it the new one. ``NEXT_ID`` holds the id counter (the
next automatic item id), written and fsynced before any version that uses its ids, and it only goes
up: across removals, rebuilds and fallbacks no automatic id is handed out twice.
Loading verifies the checksums and the model hash and dim; a bad current version falls back to the
newest good version *older* than it, with a message (a newer one was never published); a
``CURRENT`` that names no version is refused. ``recover`` (the writer, at start) removes what a
crash can leave: temporary directories, ``CURRENT.tmp`` and versions newer than ``CURRENT``.
Readers hold a reference to one immutable ``Snapshot``; a mutation builds the next snapshot and
swaps the reference once, so searches running during a rebuild keep answering from the old
snapshot, and every result names the version that answered it.

Tests inject crashes through ``VCL_TEST_FAULT=POINT[@N]`` (the process SIGKILLs itself the N-th
time, default the first, a write reaches ``POINT``): ``after_files`` (the new version's files are
written, not yet renamed into place), ``after_rename``, ``after_current`` (``CURRENT`` swapped) and
``after_cleanup`` (old versions removed, the write not yet answered).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from common.errors import VclError
from common.jsonfile import read_json_file
from common.publish import fsync_dir, fsync_file, publish_dir
from index import metadata
from skeleton.hashing import sha256_file

FORMAT = "vcl-action-index"
KEEP_VERSIONS = 2
KINDS = ("auto", "flat", "ivf", "hnsw")
AUTO_IVF_FROM = (
    100_000  # exact search below this many vectors, IVF (full recall at 8.8x, docs/index.md) above
)


class IndexStoreError(VclError):
    """An index directory is missing, corrupt, or built by another model."""


COUNTER = "NEXT_ID"
FAULT_ENV = "VCL_TEST_FAULT"
FAULT_POINTS = ("after_files", "after_rename", "after_current", "after_cleanup")
VERSION_NAME = re.compile(r"^v\d{6}$")
_fault_hits: dict[str, int] = {}


def _before_rename(tmp: Path) -> None:
    """Hook between writing a version and publishing it (tests inject faults here)."""


def fault(point: str) -> None:
    """SIGKILL this process when ``VCL_TEST_FAULT`` names ``point`` (``POINT@N``: at the N-th hit).
    A test-only hook: the variable is never set in production, and then this does nothing."""
    wanted = os.environ.get(FAULT_ENV)
    if not wanted:
        return
    name, _, nth = wanted.partition("@")
    if name != point:
        return
    _fault_hits[point] = _fault_hits.get(point, 0) + 1
    if _fault_hits[point] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)


def read_counter(root: Path) -> int:
    """The persisted next automatic id (0 when there is none yet)."""
    try:
        text = (root / COUNTER).read_text().strip()
    except FileNotFoundError:
        return 0
    if not text.isdigit():
        raise IndexStoreError(f"{COUNTER}: holds {text[:40]!r}, expected a non-negative integer")
    return int(text)


def write_counter(root: Path, value: int) -> None:
    """Persist the id counter (atomically, fsynced); it never goes down."""
    value = max(value, read_counter(root))
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f"{COUNTER}.tmp"
    tmp.write_text(f"{value}\n")
    fsync_file(tmp)
    os.replace(tmp, root / COUNTER)
    fsync_dir(root)


def read_current(root: Path) -> str:
    """The version ``CURRENT`` names; IndexStoreError when it is missing or names no version."""
    pointer = root / "CURRENT"
    if not pointer.is_file():
        raise IndexStoreError(f"{root.name}: not an action index (no CURRENT)")
    name = pointer.read_text(errors="replace").strip()
    if not VERSION_NAME.match(name):
        raise IndexStoreError(
            f"{root.name}/CURRENT is corrupt: it holds {name[:40]!r}, not a version name; write the "
            f"version to serve into it (versions on disk: {', '.join(versions(root)) or 'none'})"
        )
    return name


def recover(root: Path) -> list[str]:
    """Remove what a crashed write can leave: temporary and set-aside directories, ``CURRENT.tmp``,
    ``NEXT_ID.tmp`` and versions newer than ``CURRENT`` (never published). Returns what went.
    Only the writer calls this; a corrupt ``CURRENT`` leaves everything in place."""
    removed = []
    for path in root.iterdir():
        if path.name.startswith(".v") and (".tmp." in path.name or ".old." in path.name):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
        elif path.name in ("CURRENT.tmp", f"{COUNTER}.tmp"):
            path.unlink(missing_ok=True)
            removed.append(path.name)
    try:
        current = read_current(root)
    except IndexStoreError:
        return removed
    for name in versions(root):
        if name > current:
            shutil.rmtree(root / name, ignore_errors=True)
            removed.append(name)
    if removed:
        fsync_dir(root)
    return removed


def build_faiss(vectors: np.ndarray, ids: np.ndarray, kind: str = "flat", nlist: int | None = None) -> Any:
    """A CPU ``IndexIDMap2`` over inner product: exact (``flat``), ``ivf`` or ``hnsw``; ``auto`` takes
    ``flat`` below 100k vectors and ``ivf`` from there."""
    import faiss

    dim = vectors.shape[1]
    inner: Any
    if kind == "auto":
        kind = "ivf" if len(vectors) >= AUTO_IVF_FROM else "flat"
    if kind == "flat":
        inner = faiss.IndexFlatIP(dim)
    elif kind == "ivf":
        # at least ~39 training points per centroid (FAISS's own floor), about 4 sqrt(N) lists
        nlist = nlist or max(1, min(4096, int(4 * np.sqrt(len(vectors))), len(vectors) // 39))
        quantizer = faiss.IndexFlatIP(dim)
        inner = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        inner.train(vectors)
        inner.nprobe = max(1, nlist // 8)
    elif kind == "hnsw":
        inner = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efSearch = 128
    else:
        raise IndexStoreError(f"unknown index kind {kind!r}; choose one of {', '.join(KINDS)}")
    index = faiss.IndexIDMap2(inner)
    if len(vectors):
        index.add_with_ids(vectors, ids.astype(np.int64))
    return index


def normalize(vectors: np.ndarray) -> np.ndarray:
    v = np.ascontiguousarray(vectors, dtype=np.float32)
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def content_hash(ids: np.ndarray, vectors: np.ndarray, rows: dict[int, dict[str, Any]]) -> str:
    """SHA-256 over ids, vectors and metadata in id order, timestamps left out."""
    digest = hashlib.sha256()
    order = np.argsort(ids)
    digest.update(np.asarray(ids)[order].astype(np.int64).tobytes())
    digest.update(np.asarray(vectors)[order].astype(np.float32).tobytes())
    for i in np.asarray(ids)[order]:
        row = {k: v for k, v in rows[int(i)].items() if k != "added"}
        digest.update(json.dumps(row, sort_keys=True).encode())
    return digest.hexdigest()


@dataclass
class Snapshot:
    """One loaded, immutable version."""

    version: str
    directory: Path
    manifest: dict[str, Any]
    index: Any
    searcher: Any = None

    def __post_init__(self) -> None:
        if self.searcher is None:
            self.searcher = self.index

    def connect(self) -> sqlite3.Connection:
        """A read-only connection for the calling thread."""
        return sqlite3.connect(f"file:{self.directory / 'meta.sqlite'}?mode=ro", uri=True)

    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) of every item, reconstructed from the FAISS index."""
        ids = np.array([self.index.id_map.at(i) for i in range(self.index.ntotal)], dtype=np.int64)
        vectors = (
            np.stack([self.index.reconstruct(int(i)) for i in ids])
            if len(ids)
            else np.zeros((0, self.manifest["dim"]), np.float32)
        )
        return ids, vectors


def verify(directory: Path, model_sha256: str | None = None, dim: int | None = None) -> dict[str, Any]:
    """The manifest of a version directory after checking files, model hash and dim."""
    manifest = read_json_file(directory / "manifest.json", FORMAT, IndexStoreError, "an action index version")
    for name, expected in manifest["files"].items():
        file = directory / name
        if not file.is_file():
            raise IndexStoreError(f"{directory.name}/{name}: missing")
        actual = sha256_file(file)
        if actual != expected:
            raise IndexStoreError(
                f"{directory.name}/{name}: checksum mismatch (manifest {expected[:12]}…, file {actual[:12]}…)"
            )
    if model_sha256 is not None and manifest["model_sha256"] != model_sha256:
        raise IndexStoreError(
            f"{directory.name}: built by another embedding model (model hash "
            f"{manifest['model_sha256'][:12]}…, this model {model_sha256[:12]}…)"
        )
    if dim is not None and manifest["dim"] != dim:
        raise IndexStoreError(f"{directory.name}: embedding dim {manifest['dim']}, this model gives {dim}")
    return manifest


def to_search_device(index: Any) -> Any:
    """The index itself, or a GPU copy for searching when faiss-gpu sees a GPU (what is persisted
    is always the CPU index). Flat and IVF indexes move; HNSW has no GPU version and stays."""
    import faiss

    if not hasattr(faiss, "StandardGpuResources") or faiss.get_num_gpus() == 0:
        return index
    if isinstance(faiss.downcast_index(index.index), faiss.IndexHNSWFlat):
        return index
    return faiss.index_cpu_to_all_gpus(index)


def load_snapshot(directory: Path, manifest: dict[str, Any]) -> Snapshot:
    import faiss

    cpu = faiss.read_index(str(directory / "index.faiss"))
    return Snapshot(directory.name, directory, manifest, cpu, searcher=to_search_device(cpu))


def versions(root: Path) -> list[str]:
    return sorted(p.name for p in root.glob("v[0-9]*") if p.is_dir())


def write_version(
    root: Path,
    vectors: np.ndarray,
    ids: np.ndarray,
    items: list[metadata.Item],
    sigmas: np.ndarray | None,
    model: dict[str, Any],
    kind: str,
    next_id: int = 0,
) -> Path:
    """Write a complete new version and make it current; returns its directory. The id counter
    (``NEXT_ID`` and the manifest's ``next_id``) becomes the largest of ``next_id``, the persisted
    counter and one past the largest id."""
    root.mkdir(parents=True, exist_ok=True)
    next_id = max(next_id, read_counter(root), int(ids.max()) + 1 if len(ids) else 0)
    write_counter(root, next_id)
    existing = versions(root)
    number = int(existing[-1][1:]) + 1 if existing else 1
    name = f"v{number:06d}"
    final = root / name
    with publish_dir(final) as tmp:
        vectors = normalize(vectors) if len(vectors) else np.zeros((0, model["dim"]), np.float32)
        index = build_faiss(vectors, ids, kind)
        import faiss

        faiss.write_index(index, str(tmp / "index.faiss"))
        conn = metadata.connect(tmp / "meta.sqlite")
        metadata.insert(conn, items, sigmas)
        rows = metadata.fetch(conn, [int(i) for i in ids])
        conn.close()
        manifest = {
            "format": FORMAT,
            "format_version": 1,
            "version": name,
            "files": {f: sha256_file(tmp / f) for f in ("index.faiss", "meta.sqlite")},
            "content_sha256": content_hash(ids, vectors, rows),
            "model_sha256": model["sha256"],
            "dim": int(model["dim"]),
            "metric": "inner_product",
            "normalized": True,
            "kind": kind,
            "resolved_kind": kind if kind != "auto" else ("ivf" if len(ids) >= AUTO_IVF_FROM else "flat"),
            "count": len(ids),
            "has_sigma": sigmas is not None,
            "next_id": next_id,
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
        _before_rename(tmp)
        fault("after_files")
    fault("after_rename")
    pointer = root / "CURRENT.tmp"
    pointer.write_text(name + "\n")
    fsync_file(pointer)
    os.replace(pointer, root / "CURRENT")
    fsync_dir(root)
    fault("after_current")
    for old in versions(root)[:-KEEP_VERSIONS]:
        shutil.rmtree(root / old, ignore_errors=True)
    fault("after_cleanup")
    return final
