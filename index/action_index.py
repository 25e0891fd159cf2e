"""``ActionIndex``: nearest-neighbour action retrieval over versioned snapshots.

Searches take the current ``Snapshot`` reference once and answer from it; ``add``, ``remove`` and
``rebuild`` write a complete new version (``index.store``) under a write lock and then swap the
reference, so concurrent searches never see half an update.

No acknowledged write is lost to a rebuild. ``begin_rebuild`` marks the moment a rebuild is
accepted; the rebuild replaces the collection as it was then. Adds and removes acknowledged after
that moment (each already its own durable version) are journalled and re-applied on top of the
rebuilt collection when it is committed, in the order they happened; a failed rebuild
(``abort_rebuild``) drops the journal, the writes being in the live versions already. Automatic
ids come from the persisted counter (``index.store``, ``NEXT_ID``), rebuilt items included, so an
id names one item for the life of the index directory. Uncertainty-aware search re-ranks the
top candidates by the mutual likelihood score of probabilistic embeddings (Shi & Jain, ICCV 2019):
MLS(x, y) = -1/2 sum_d [(mu_x - mu_y)^2 / (s_x^2 + s_y^2) + log(s_x^2 + s_y^2)], up to a constant.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from index import metadata, store
from index.store import IndexStoreError, Snapshot
from index.vote import TEMPERATURE, VOTE_K, knn_vote

log = logging.getLogger("vcl.index")


@dataclass(frozen=True)
class Hit:
    """One neighbour: id, cosine score, the MLS score when re-ranked, metadata, answering version."""

    id: int
    label: str | None
    score: float
    mls: float | None
    metadata: dict[str, Any]
    version: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "score": self.score,
            "mls": self.mls,
            "metadata": self.metadata,
            "version": self.version,
        }


def mutual_likelihood(
    query: np.ndarray, query_sigma: np.ndarray, items: np.ndarray, sigmas: np.ndarray
) -> np.ndarray:
    """MLS of one query (D,) against items (K, D) with per-dimension sigmas; higher = more alike."""
    var = np.square(query_sigma)[None] + np.square(sigmas)
    return -0.5 * (np.square(query[None] - items) / var + np.log(var)).sum(axis=1)


class ActionIndex:
    """An index directory opened for search and updates.

    Args:
        root: index directory (with ``CURRENT``).
        model_sha256, dim: when given, versions built by another model are refused.
        writer: this process writes the index: at open, remove what a crashed write left
            (``store.recover``).
    """

    def __init__(
        self,
        root: str | Path,
        model_sha256: str | None = None,
        dim: int | None = None,
        writer: bool = False,
    ) -> None:
        self.root = Path(root)
        self.model_sha256 = model_sha256
        self.dim = dim
        self.messages: list[str] = []
        self._write_lock = threading.Lock()
        self._journal: list[tuple[str, Any]] | None = None  # writes since begin_rebuild
        if writer and (self.root / "CURRENT").is_file():
            for name in store.recover(self.root):
                self.messages.append(f"removed {name} left by an interrupted write")
                log.warning(self.messages[-1])
        self._snapshot = self._load()

    # ------------------------------------------------------------------ loading
    def _load(self) -> Snapshot:
        current = store.read_current(self.root)
        # only versions older than the current one were ever published before it
        candidates = [current] + [v for v in reversed(store.versions(self.root)) if v < current]
        for name in candidates:
            try:
                manifest = store.verify(self.root / name, self.model_sha256, self.dim)
            except IndexStoreError as err:
                message = f"index version {name} refused: {err}"
                log.warning(message)
                self.messages.append(message)
                continue
            if name != current:
                self.messages.append(f"fell back to the previous good version {name}")
                log.warning(self.messages[-1])
            return store.load_snapshot(self.root / name, manifest)
        raise IndexStoreError(f"{self.root.name}: no usable version ({'; '.join(self.messages)})")

    def reload(self) -> bool:
        """Load the version ``CURRENT`` names now when it differs from the served one (a follower
        of another process's writes); True when the served version changed."""
        current = store.read_current(self.root)
        if current == self._snapshot.version:
            return False
        manifest = store.verify(self.root / current, self.model_sha256, self.dim)
        self._snapshot = store.load_snapshot(self.root / current, manifest)
        return True

    @classmethod
    def create(
        cls,
        root: str | Path,
        vectors: np.ndarray,
        items: list[metadata.Item],
        sigmas: np.ndarray | None,
        model_sha256: str,
        kind: str = "auto",
    ) -> ActionIndex:
        """Build a new index directory (or a new version of an existing one) from scratch."""
        ids = np.array([item.id for item in items], dtype=np.int64)
        if len(set(ids.tolist())) != len(ids):
            raise IndexStoreError("item ids must be unique")
        model = {"sha256": model_sha256, "dim": vectors.shape[1]}
        store.write_version(Path(root), vectors, ids, items, sigmas, model, kind)
        return cls(root, model_sha256, vectors.shape[1], writer=True)

    # ------------------------------------------------------------------ reading
    @property
    def version(self) -> str:
        return self._snapshot.version

    def info(self) -> dict[str, Any]:
        m = self._snapshot.manifest
        return {
            "version": m["version"],
            "count": m["count"],
            "dim": m["dim"],
            "kind": m["kind"],
            "metric": m["metric"],
            "model_sha256": m["model_sha256"],
            "content_sha256": m["content_sha256"],
            "versions": store.versions(self.root),
            "messages": self.messages,
        }

    def search(
        self,
        queries: np.ndarray,
        k: int = 10,
        label: str | None = None,
        query_sigmas: np.ndarray | None = None,
        candidates: int = 4,
    ) -> list[list[Hit]]:
        """Neighbours of each query embedding (Q, D): top-k by cosine, optionally only one label;
        with ``query_sigmas`` (Q, D), the top ``candidates * k`` are re-ranked by MLS."""
        snapshot = self._snapshot  # one reference for the whole call
        queries = store.normalize(np.atleast_2d(queries))
        if queries.shape[1] != snapshot.manifest["dim"]:
            raise IndexStoreError(
                f"query dim {queries.shape[1]} does not match the index's {snapshot.manifest['dim']}"
            )
        conn = snapshot.connect()
        try:
            allowed = metadata.ids_with_label(conn, label) if label is not None else None
            fetch = min(snapshot.index.ntotal, max(k * candidates, k) if query_sigmas is not None else k)
            if allowed is not None:
                fetch = snapshot.index.ntotal  # filter exactly, then keep k
            if fetch == 0:
                return [[] for _ in queries]
            scores, ids = snapshot.searcher.search(queries, fetch)
            results = []
            for q in range(len(queries)):
                pairs = [
                    (int(i), float(s))
                    for i, s in zip(ids[q], scores[q], strict=True)
                    if i >= 0 and (allowed is None or int(i) in allowed)
                ]
                mls: dict[int, float] = {}
                if query_sigmas is not None and snapshot.manifest["has_sigma"] and pairs:
                    sig = metadata.fetch_sigmas(conn, [i for i, _ in pairs])
                    keep = [(i, s) for i, s in pairs if sig.get(i) is not None]
                    if keep:
                        vecs = np.stack([snapshot.index.reconstruct(i) for i, _ in keep])
                        item_sigmas = np.stack([np.asarray(sig[i]) for i, _ in keep])
                        values = mutual_likelihood(queries[q], np.asarray(query_sigmas[q]), vecs, item_sigmas)
                        mls = {i: float(v) for (i, _), v in zip(keep, values, strict=True)}
                        pairs = sorted(keep, key=lambda p: -mls[p[0]])
                pairs = pairs[:k]
                rows = metadata.fetch(conn, [i for i, _ in pairs])
                results.append(
                    [Hit(i, rows[i]["label"], s, mls.get(i), rows[i], snapshot.version) for i, s in pairs]
                )
            return results
        finally:
            conn.close()

    def classify(
        self,
        query: np.ndarray,
        k: int = VOTE_K,
        uncertainty: float | None = None,
        abstain_above: float | None = None,
        temperature: float = TEMPERATURE,
    ) -> dict[str, Any]:
        """kNN label of one query (D,) by the similarity-weighted vote of ``index.vote``;
        ``abstain`` when the query's uncertainty score exceeds ``abstain_above``."""
        hits = self.search(query[None], k)[0]
        vote = knn_vote([h.label for h in hits], [h.score for h in hits], temperature)
        abstain = abstain_above is not None and uncertainty is not None and uncertainty > abstain_above
        return {
            "label": None if abstain else vote.label,
            "votes": vote.shares,
            "abstain": abstain,
            "uncertainty": uncertainty,
            "version": hits[0].version if hits else self.version,
        }

    def item(self, item_id: int) -> tuple[dict[str, Any], bytes | None]:
        """One item's metadata and serialised preview; KeyError when it is not in the index."""
        conn = self._snapshot.connect()
        try:
            rows = metadata.fetch(conn, [item_id])
            if item_id not in rows:
                raise KeyError(item_id)
            return rows[item_id], metadata.fetch_previews(conn, [item_id]).get(item_id)
        finally:
            conn.close()

    def vector(self, item_id: int) -> np.ndarray:
        """One item's stored (normalised) embedding; KeyError when it is not in the index."""
        snapshot = self._snapshot
        try:
            return np.asarray(snapshot.index.reconstruct(int(item_id)))
        except RuntimeError:
            raise KeyError(item_id) from None

    # ------------------------------------------------------------------ writing
    def _rows(
        self, snapshot: Snapshot
    ) -> tuple[np.ndarray, np.ndarray, list[metadata.Item], np.ndarray | None]:
        ids, vectors = snapshot.vectors()
        conn = snapshot.connect()
        try:
            rows = metadata.fetch(conn, ids.tolist())
            sig = metadata.fetch_sigmas(conn, ids.tolist()) if snapshot.manifest["has_sigma"] else {}
            previews = metadata.fetch_previews(conn, ids.tolist())
        finally:
            conn.close()
        items = [metadata.Item(**rows[int(i)], preview=previews.get(int(i))) for i in ids]
        sigmas = (
            np.stack([np.asarray(sig[int(i)]) for i in ids])
            if snapshot.manifest["has_sigma"] and len(ids)
            else None
        )
        return ids, vectors, items, sigmas

    def _next_id(self) -> int:
        return max(int(self._snapshot.manifest.get("next_id", 0)), store.read_counter(self.root))

    def _reserve(self, count: int) -> int:
        """The first of ``count`` fresh automatic ids, persisted as used before they are handed out."""
        first = self._next_id()
        store.write_counter(self.root, first + count)
        return first

    def _commit(
        self,
        vectors: np.ndarray,
        items: list[metadata.Item],
        sigmas: np.ndarray | None,
        model_sha256: str | None = None,
    ) -> str:
        ids = np.array([item.id for item in items], dtype=np.int64)
        model = {
            "sha256": model_sha256 or self._snapshot.manifest["model_sha256"],
            "dim": vectors.shape[1] if len(vectors) else self._snapshot.manifest["dim"],
        }
        directory = store.write_version(
            self.root, vectors, ids, items, sigmas, model, self._snapshot.manifest["kind"], self._next_id()
        )
        manifest = store.verify(directory)
        self._snapshot = store.load_snapshot(directory, manifest)  # the single reference swap
        return directory.name

    def add(self, vectors: np.ndarray, items: list[metadata.Item], sigmas: np.ndarray | None = None) -> str:
        """Add items (their ids may be -1 for automatic ones); returns the new version."""
        with self._write_lock:
            snapshot = self._snapshot
            if vectors.shape[1] != snapshot.manifest["dim"]:
                raise IndexStoreError(
                    f"embedding dim {vectors.shape[1]} does not match the index's {snapshot.manifest['dim']}"
                )
            ids, old_vectors, old_items, old_sigmas = self._rows(snapshot)
            clash = set(ids.tolist()) & {item.id for item in items if item.id >= 0}
            if clash:
                raise IndexStoreError(f"ids already in the index: {sorted(clash)[:5]}")
            automatic = [item for item in items if item.id < 0]
            first = self._reserve(len(automatic)) if automatic else 0
            for k, item in enumerate(automatic):
                item.id = first + k
            if any(item.id >= self._next_id() for item in items):  # explicit ids past the counter
                store.write_counter(self.root, max(item.id for item in items) + 1)
            has_sigma = snapshot.manifest["has_sigma"] and sigmas is not None
            all_sigmas = (
                np.concatenate([old_sigmas, sigmas])
                if has_sigma and old_sigmas is not None
                else (sigmas if has_sigma and not len(ids) else None)
            )
            version = self._commit(np.concatenate([old_vectors, vectors]), old_items + items, all_sigmas)
            if self._journal is not None:
                self._journal.append(("add", (np.array(vectors), list(items), sigmas)))
            return version

    def remove(self, remove_ids: list[int]) -> str:
        """Remove items by id; unknown ids are an error naming them."""
        with self._write_lock:
            ids, vectors, items, sigmas = self._rows(self._snapshot)
            unknown = sorted(set(remove_ids) - set(ids.tolist()))
            if unknown:
                raise IndexStoreError(f"ids not in the index: {unknown[:5]}")
            keep = ~np.isin(ids, remove_ids)
            version = self._commit(
                vectors[keep],
                [it for it, k in zip(items, keep, strict=True) if k],
                None if sigmas is None else sigmas[keep],
            )
            if self._journal is not None:
                self._journal.append(("remove", list(remove_ids)))
            return version

    def begin_rebuild(self) -> None:
        """Mark a rebuild as accepted: writes from now on are re-applied on top of it."""
        with self._write_lock:
            if self._journal is not None:
                raise IndexStoreError("a rebuild is already in progress")
            self._journal = []

    def abort_rebuild(self) -> None:
        """The accepted rebuild failed: forget the journal (those writes are live already)."""
        with self._write_lock:
            self._journal = None

    def rebuild(
        self,
        vectors: np.ndarray,
        items: list[metadata.Item],
        sigmas: np.ndarray | None,
        model_sha256: str | None = None,
    ) -> str:
        """Replace the whole collection (e.g. re-embedded with the current model) as it was at
        ``begin_rebuild`` (or now, without it): the items get fresh ids from the counter, then the
        writes acknowledged since ``begin_rebuild`` are re-applied on top, in order."""
        with self._write_lock:
            journal, self._journal = self._journal or [], None
            first = self._reserve(len(items))
            for k, item in enumerate(items):
                item.id = first + k
            rows = list(zip(items, np.asarray(vectors), _each(sigmas, len(items)), strict=True))
            for kind, change in journal:
                if kind == "add":
                    added, added_items, added_sigmas = change
                    rows += zip(added_items, added, _each(added_sigmas, len(added_items)), strict=True)
                else:
                    gone = set(change)
                    rows = [row for row in rows if row[0].id not in gone]
            dim = vectors.shape[1]
            all_vectors = np.stack([v for _, v, _ in rows]) if rows else np.zeros((0, dim), np.float32)
            has_sigma = bool(rows) and all(s is not None for _, _, s in rows)
            all_sigmas = np.stack([s for _, _, s in rows if s is not None]) if has_sigma else None
            version = self._commit(all_vectors, [item for item, _, _ in rows], all_sigmas, model_sha256)
            self.model_sha256 = model_sha256 or self.model_sha256
            return version


def _each(sigmas: np.ndarray | None, count: int) -> list[np.ndarray | None]:
    return [None] * count if sigmas is None else list(np.asarray(sigmas))
