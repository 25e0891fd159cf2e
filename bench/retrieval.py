"""Retrieval benchmarks, side by side in one run.

1. Speed and recall: queries/s and recall@10 of exact search (flat) vs IVF vs HNSW at several
   collection sizes of clustered synthetic vectors of the real embedding dim (192 = 3 streams x 64).
2. Real data (with --model and --data): precision@k on UTD-MHAD cross-subject (gallery = train
   clips, queries = test clips) with and without uncertainty-aware (MLS) re-ranking.

Usage: python bench/retrieval.py [--sizes 10000 100000 1000000] [--queries 200]
       python bench/retrieval.py --sizes --model MODEL_DIR --data data/utd_mhad
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from harness import bench_parser


def speed(sizes: list[int], dim: int, num_queries: int) -> None:
    from index.store import build_faiss, normalize

    print(
        f"{'size':>8} | {'kind':>5} | {'build s':>8} | {'queries/s':>10} | {'recall@10':>9} | {'vs flat':>7}"
    )
    rng = np.random.default_rng(0)
    for n in sizes:
        centres = rng.normal(size=(max(10, n // 500), dim)).astype(np.float32)
        vectors = normalize(
            centres[rng.integers(0, len(centres), n)] + 0.5 * rng.normal(size=(n, dim)).astype(np.float32)
        )
        queries = normalize(
            vectors[rng.integers(0, n, num_queries)]
            + 0.1 * rng.normal(size=(num_queries, dim)).astype(np.float32)
        )
        ids = np.arange(n, dtype=np.int64)
        truth = None
        base_qps = 0.0
        for kind in ("flat", "ivf", "hnsw"):
            start = time.perf_counter()
            index = build_faiss(vectors, ids, kind)
            build = time.perf_counter() - start
            start = time.perf_counter()
            _, found = index.search(queries, 10)
            qps = num_queries / (time.perf_counter() - start)
            if truth is None:
                truth, base_qps = found, qps
            recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(truth, found, strict=True)])
            print(f"{n:>8} | {kind:>5} | {build:8.2f} | {qps:10.0f} | {recall:9.3f} | {qps / base_qps:6.1f}x")
            del index


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
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--dim", type=int, default=192)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--model", type=Path)
    parser.add_argument("--data", type=Path)
    args = parser.parse_args()
    if args.sizes:
        speed(args.sizes, args.dim, args.queries)
    if args.model and args.data:
        real_data(args.model, args.data)


if __name__ == "__main__":
    main()
