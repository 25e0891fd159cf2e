"""Enrolment by retrieval: which embedding and metric to index, and accuracy against shots per class.

The model's outputs for every clip of a prepared dataset are computed once (ONNX Runtime); the
rest is numpy. Retrieval embeddings compared (w_s the fusion weights, c_s a per-stream mean over
the train split, which stands for the reference clips a deployment has):

- ``mu-exported``: the exported ``embedding`` output, concat_s sqrt(w_s) normalize(mu_s - c_s)
  with the export's centres, ranked by float32 inner product (what the FAISS index does today);
- ``mu-centred``: the same with c_s = the train split's mean mu;
- ``mu-unit-l2``: concat_s sqrt(w_s) (normalize(mu_s) - c_s), c_s the mean unit vector, ranked by
  float32 L2 distance: the order of the uncentred cosine without its float32 cancellation;
- ``feature-centred``: concat_s sqrt(w_s) normalize(f_s - c_s) of the pooled backbone features f_s;
- ``feature-unit-l2``: as ``mu-unit-l2`` for the pooled features.

Part 1 (cross-subject; gallery = train split, queries = test split): P@1 (= 1-NN accuracy), P@5,
P@10. Part 2 (enrolment): for 1, 2, 5, 10 labelled clips per class drawn from the train split
(``--seeds`` draws), the test split classified by 1-NN, by the server's vote (``index.vote``:
the ``VOTE_K`` nearest, weights exp(s / 0.1)) and by the nearest class prototype (the mean of a
class's gallery vectors); mean and spread over the draws. For L2 rankings the similarity is
-d^2 / 2 (equal to the cosine up to a constant for unit vectors).

Usage: nice python bench/enrolment.py --model MODEL_DIR --data PREPARED [--split xsub]
           [--shots 1 2 5 10] [--seeds 5] [--threads 1] [--cache features.npz]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from harness import bench_parser

SHOTS = (1, 2, 5, 10)
RULES = ("1-NN", "vote", "prototype")


def model_outputs(model_dir: str, data: str, threads: int, cache: str | None) -> dict[str, np.ndarray]:
    """Every output of the model for every clip (N, ...), read from ``cache`` when it is there."""
    from runtime.model import OnnxModel
    from skeleton.prepared import PreparedDataset

    if cache and Path(cache).is_file():
        with np.load(cache) as f:
            return {k: f[k] for k in f.files}
    model = OnnxModel(model_dir, threads=threads)
    joints = PreparedDataset(data).joints
    start, parts = time.perf_counter(), []
    for i in range(0, len(joints), 32):
        parts.append(model.run(np.ascontiguousarray(joints[i : i + 32], dtype=np.float32)))
    print(f"# {len(joints)} clips through the model in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    if cache:
        np.savez(cache, **out)  # type: ignore[arg-type]
    return out


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def embeddings(
    out: dict[str, np.ndarray], streams: list[str], weights: dict[str, float], train: np.ndarray
) -> dict[str, tuple[np.ndarray, str]]:
    """name -> (vectors (N, D) float32, metric ``ip`` or ``l2``)."""
    root = {s: np.sqrt(max(weights.get(s, 0.0), 0.0)) for s in streams}

    def centred(key: str) -> np.ndarray:
        parts = []
        for s in streams:
            x = out[f"{s}_{key}"].astype(np.float32)
            parts.append(root[s] * _unit(x - x[train].mean(0)))
        return np.concatenate(parts, axis=1).astype(np.float32)

    def unit_l2(key: str) -> np.ndarray:
        parts = []
        for s in streams:
            u = _unit(out[f"{s}_{key}"].astype(np.float32))
            parts.append(root[s] * (u - u[train].mean(0)))
        return np.concatenate(parts, axis=1).astype(np.float32)

    found: dict[str, tuple[np.ndarray, str]] = {}
    if all(f"{s}_mu" in out for s in streams):
        found["mu-exported"] = (out["embedding"].astype(np.float32), "ip")
        found["mu-centred"] = (centred("mu"), "ip")
        found["mu-unit-l2"] = (unit_l2("mu"), "l2")
    else:
        found["feature-exported"] = (out["embedding"].astype(np.float32), "ip")
    found["feature-centred"] = (centred("feature"), "ip")
    found["feature-unit-l2"] = (unit_l2("feature"), "l2")
    return found


def similarity(queries: np.ndarray, gallery: np.ndarray, metric: str) -> np.ndarray:
    """(Q, G) float32 similarities: the inner product, or -||q - g||^2 / 2 for ``l2``."""
    ip = queries @ gallery.T
    if metric == "ip":
        return ip
    q2 = np.square(queries).sum(1, keepdims=True)
    g2 = np.square(gallery).sum(1)[None]
    return (ip - 0.5 * q2 - 0.5 * g2).astype(np.float32)


def precision_at(sim: np.ndarray, gallery_labels: np.ndarray, query_labels: np.ndarray, k: int) -> float:
    order = np.argsort(-sim, axis=1, kind="stable")[:, :k]
    return float((gallery_labels[order] == query_labels[:, None]).mean())


def classify(sim: np.ndarray, gallery_labels: np.ndarray, rule: str, gallery: np.ndarray,
             queries: np.ndarray, metric: str) -> np.ndarray:  # fmt: skip
    """Predicted labels of the queries under ``rule`` (``RULES``)."""
    from index.vote import TEMPERATURE, VOTE_K, knn_vote

    if rule == "1-NN":
        return gallery_labels[sim.argmax(1)]
    if rule == "vote":
        order = np.argsort(-sim, axis=1, kind="stable")[:, :VOTE_K]
        picked = []
        for q in range(len(sim)):
            vote = knn_vote([str(c) for c in gallery_labels[order[q]]], sim[q, order[q]], TEMPERATURE)
            picked.append(int(vote.label))  # type: ignore[arg-type]
        return np.array(picked)
    classes = np.unique(gallery_labels)
    prototypes = np.stack([gallery[gallery_labels == c].mean(0) for c in classes])
    return classes[similarity(queries, prototypes, metric).argmax(1)]


def draw(rng: np.random.Generator, members: np.ndarray, shots: int) -> np.ndarray:
    """``shots`` of a class's ``members`` (all of them when it has fewer), without replacement."""
    return rng.choice(members, min(shots, len(members)), replace=False)


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--model", required=True, help="exported model directory (vcl export)")
    parser.add_argument("--data", required=True, help="prepared dataset (vcl data prepare)")
    parser.add_argument("--split", default="xsub")
    parser.add_argument("--shots", type=int, nargs="+", default=list(SHOTS))
    parser.add_argument("--seeds", type=int, default=5, help="draws of the labelled clips per shot count")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cache", help="npz of the model's outputs, written once and read after")
    args = parser.parse_args()

    from runtime.manifest import read_manifest
    from skeleton.prepared import PreparedDataset

    manifest = read_manifest(Path(args.model))
    data = PreparedDataset(args.data)
    labels = np.asarray(data.labels)
    train, test = data.split(args.split, "train"), data.split(args.split, "test")
    out = model_outputs(args.model, args.data, args.threads, args.cache)
    variants = embeddings(out, list(manifest.streams), dict(manifest.fusion_weights), train)
    print(f"## {Path(args.data).name}: {len(train)} gallery (train) / {len(test)} queries (test), "
          f"model {Path(args.model).name} ({manifest.model_sha256[:12]})\n")  # fmt: skip
    print("| embedding | metric | P@1 (1-NN) | P@5 | P@10 |\n| --- | --- | --- | --- | --- |")
    for name, (x, metric) in variants.items():
        sim = similarity(x[test], x[train], metric)
        p = [precision_at(sim, labels[train], labels[test], k) for k in (1, 5, 10)]
        print(
            f"| {name} | {'cosine' if metric == 'ip' else 'L2'} | " + " | ".join(f"{v:.3f}" for v in p) + " |"
        )
    print(f"\nEnrolment: accuracy on the test split with N labelled train clips per class as the gallery "
          f"(mean ± std over {args.seeds} draws)\n")  # fmt: skip
    print("| embedding | rule | " + " | ".join(f"{n} shot" for n in args.shots) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in args.shots) + " |")
    train_labels = labels[train]
    for name, (x, metric) in variants.items():
        queries = x[test]
        for rule in RULES:
            cells = []
            for shots in args.shots:
                accs = []
                for seed in range(args.seeds):
                    rng = np.random.default_rng([seed, shots])
                    members = [np.flatnonzero(train_labels == c) for c in np.unique(train_labels)]
                    pick = np.concatenate([draw(rng, m, shots) for m in members])
                    gallery, g_labels = x[train][pick], train_labels[pick]
                    sim = similarity(queries, gallery, metric)
                    predicted = classify(sim, g_labels, rule, gallery, queries, metric)
                    accs.append(float((predicted == labels[test]).mean()))
                cells.append(f"{np.mean(accs):.3f} ± {np.std(accs):.3f}")
            print(f"| {name} | {rule} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
