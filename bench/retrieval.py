"""Retrieval benchmarks, side by side in one run.

1. Index kinds (``--count``, default 1M clustered synthetic vectors of the real embedding dim,
   192 = 3 streams x 64): exact search (flat) vs IVF vs IVF-PQ vs HNSW, each with its build time,
   the memory its index takes (serialised size; bytes per vector), queries/s (one batch of
   ``--queries``) and recall@10 against exact search, at a few search settings (IVF nprobe,
   HNSW efSearch); the first setting of each is what ``index.store`` uses. Flat and HNSW are built
   by ``index.store.build_faiss`` itself; IVF follows its rules (about 4 sqrt(N) lists, nprobe =
   lists / 8) but trains its coarse quantizer on ``--train-per-list`` points per list instead of
   all N (the store's full training takes tens of minutes at 1M on two cores), and IVF-PQ (48
   sub-quantizers of 8 bits, 48 bytes a vector) reuses that trained quantizer: its build time
   counts the shared training too.
2. Real data (with --model and --data): precision@k on UTD-MHAD cross-subject (gallery = train
   clips, queries = test clips) with and without uncertainty-aware (MLS) re-ranking.

Usage: nice python bench/retrieval.py [--count 1000000] [--queries 1000] [--threads 2]
       python bench/retrieval.py --count 0 --model MODEL_DIR --data data/utd_mhad
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from harness import bench_parser

PQ_SUBQUANTIZERS = 48


def synthetic(count: int, dim: int, num_queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """L2-normalised clustered vectors (count, dim), about 500 per cluster, and queries near them."""
    from index.store import normalize

    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(10, count // 500), dim), dtype=np.float32)
    vectors = centres[rng.integers(0, len(centres), count)]
    vectors += 0.5 * rng.standard_normal((count, dim), dtype=np.float32)
    vectors = normalize(vectors)
    queries = vectors[rng.integers(0, count, num_queries)]
    queries = normalize(queries + 0.1 * rng.standard_normal(queries.shape, dtype=np.float32))
    return vectors, queries


def _timed(fn: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def _ivf(
    vectors: np.ndarray, ids: np.ndarray, quantizer: Any, nlist: int, sample: np.ndarray
) -> tuple[Any, float]:
    """IVF-Flat over inner product with a trained coarse quantizer (as index.store builds it)."""
    import faiss

    ivf = faiss.IndexIVFFlat(quantizer, vectors.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
    index = faiss.IndexIDMap2(ivf)
    _, seconds = _timed(index.add_with_ids, vectors, ids)
    return index, seconds


def _ivfpq(
    vectors: np.ndarray, ids: np.ndarray, quantizer: Any, nlist: int, sample: np.ndarray
) -> tuple[Any, float]:
    """IVF-PQ (48 sub-quantizers of 8 bits) with a trained coarse quantizer; the product
    quantizer trains on 64 points per centroid for 10 iterations (FAISS's defaults, 256 and 25,
    take minutes on two cores: 48 small k-means)."""
    import faiss

    ivfpq = faiss.IndexIVFPQ(
        quantizer, vectors.shape[1], nlist, PQ_SUBQUANTIZERS, 8, faiss.METRIC_INNER_PRODUCT
    )
    ivfpq.pq.cp.niter = 10
    index = faiss.IndexIDMap2(ivfpq)
    start = time.perf_counter()
    ivfpq.train(sample[: 64 * 256])
    index.add_with_ids(vectors, ids)
    return index, time.perf_counter() - start


def index_kinds(
    count: int, dim: int, num_queries: int, train_per_list: int, nlist: int = 0, repeats: int = 2
) -> list[dict[str, Any]]:
    """Build each kind over the same vectors and measure it; prints and returns one row per
    setting. Queries/s: the best of ``repeats`` searches of all queries in one batch."""
    import faiss

    from index.store import build_faiss

    vectors, queries = synthetic(count, dim, num_queries)
    ids = np.arange(count, dtype=np.int64)
    rows: list[dict[str, Any]] = []
    print(
        f"{'count':>9} | {'kind':>6} | {'setting':>11} | {'build s':>8} | {'MB':>7} | {'B/vec':>6} | "
        f"{'queries/s':>10} | {'recall@10':>9}",
        flush=True,
    )
    truth: list[np.ndarray] = []

    def measure(kind: str, index: Any, build: float, settings: list[tuple[str, Callable[[], None]]]) -> None:
        size = int(faiss.serialize_index(index).nbytes)
        for setting, apply in settings:
            apply()
            seconds = min(_timed(index.search, queries, 10)[1] for _ in range(repeats))
            found = index.search(queries, 10)[1]
            if not truth:
                truth.append(found)
            recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(truth[0], found, strict=True)]))
            row = {
                "count": count,
                "kind": kind,
                "setting": setting,
                "build_s": build,
                "bytes": size,
                "qps": num_queries / seconds,
                "recall_at_10": recall,
            }
            rows.append(row)
            print(
                f"{count:>9} | {kind:>6} | {setting:>11} | {build:8.1f} | {size / 2**20:7.0f} | "
                f"{size / count:6.0f} | {row['qps']:10.0f} | {recall:9.3f}",
                flush=True,
            )

    def setter(target: Any, name: str, value: int) -> Callable[[], None]:
        return lambda: setattr(target, name, value)

    index: Any
    index, seconds = _timed(build_faiss, vectors, ids, "flat")
    measure("flat", index, seconds, [("exact", lambda: None)])
    index = None

    nlist = nlist or max(1, min(4096, int(4 * np.sqrt(count)), count // 39))  # index.store's rule
    sample = vectors[np.random.default_rng(1).permutation(count)[: min(count, train_per_list * nlist)]]
    quantizer = faiss.IndexFlatIP(dim)
    trainer = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    _, train_s = _timed(trainer.train, sample)  # the coarse quantizer, shared by IVF and IVF-PQ
    probes = sorted({max(1, nlist // 8), min(nlist, 64), min(nlist, 16)}, reverse=True)
    for kind, build in (("ivf", _ivf), ("ivfpq", _ivfpq)):
        index, seconds = build(vectors, ids, quantizer, nlist, sample)
        inner: Any = faiss.downcast_index(index.index)
        settings = [(f"nprobe {p}", setter(inner, "nprobe", p)) for p in probes]
        measure(kind, index, train_s + seconds, settings)
        index = inner = None

    index, seconds = _timed(build_faiss, vectors, ids, "hnsw")
    hnsw: Any = faiss.downcast_index(index.index)
    graph = hnsw.hnsw
    measure("hnsw", index, seconds, [(f"ef {e}", setter(graph, "efSearch", e)) for e in (128, 64, 32)])
    print(f"IVF: {nlist} lists, coarse quantizer trained on {len(sample)} vectors in {train_s:.1f} s")
    return rows


def real_data(model_dir: Path, data_dir: Path, ks: tuple[int, ...] = (1, 5, 10)) -> None:
    from index.action_index import ActionIndex
    from index.build import from_prepared
    from runtime.model import OnnxModel
    from skeleton.prepared import PreparedDataset

    model = OnnxModel(model_dir)
    data = PreparedDataset(data_dir)
    emb, items = from_prepared(model, data_dir)
    train, test = data.split("xsub", "train"), data.split("xsub", "test")
    with tempfile.TemporaryDirectory() as tmp:
        index = ActionIndex.create(
            Path(tmp) / "idx",
            emb.embedding[train],
            [items[i] for i in train],
            None if emb.sigma is None else emb.sigma[train],
            model.manifest.model_sha256,
        )
        labels = data.labels
        for aware in (False, True):
            if aware and emb.sigma is None:
                continue
            sig = emb.sigma[test] if aware and emb.sigma is not None else None
            hits = index.search(emb.embedding[test], max(ks), query_sigmas=sig)
            row = []
            for k in ks:
                precision = np.mean(
                    [
                        np.mean([h.metadata["label_index"] == labels[q] for h in hs[:k]])
                        for q, hs in zip(test, hits, strict=True)
                    ]
                )
                row.append(f"P@{k} {precision:.3f}")
            name = "MLS re-ranked" if aware else "cosine"
            print(f"{data.manifest['dataset']} xsub, {name:>13}: {', '.join(row)}")


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--count", type=int, default=1_000_000, help="synthetic vectors (0: skip part 1)")
    parser.add_argument("--dim", type=int, default=192)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--train-per-list", type=int, default=64, help="IVF training points per list")
    parser.add_argument("--nlist", type=int, default=0, help="IVF lists (0: index.store's rule)")
    parser.add_argument("--threads", type=int, default=0, help="FAISS threads (0: its default)")
    parser.add_argument("--model", type=Path)
    parser.add_argument("--data", type=Path)
    args = parser.parse_args()
    if args.threads:
        import faiss

        faiss.omp_set_num_threads(args.threads)
    if args.count:
        index_kinds(args.count, args.dim, args.queries, args.train_per_list, args.nlist)
    if args.model and args.data:
        real_data(args.model, args.data)


if __name__ == "__main__":
    main()
