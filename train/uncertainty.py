"""How to judge a per-clip uncertainty score: AUROC for errors, risk-coverage, corrupted clips.

The scores themselves (VCL's sigma score, mean log sigma^2 over latent dimensions and streams, and
its softmax-confidence baseline) are in ``common.scores``, shared with the runtime.
"""

from __future__ import annotations

import numpy as np


def auroc(scores: np.ndarray, positives: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for the boolean ``positives`` (ties count half).

    Equals the probability that a random positive scores above a random negative.
    """
    positives = np.asarray(positives, dtype=bool)
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = np.asarray(scores)[order]
    i = 0
    while i < len(scores):  # average ranks over ties
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def risk_coverage(uncertainty: np.ndarray, errors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coverage (fraction kept, most certain first) and the error rate among the kept clips."""
    order = np.argsort(uncertainty, kind="mergesort")
    wrong = np.asarray(errors, dtype=float)[order]
    kept = np.arange(1, len(order) + 1)
    return kept / len(order), np.cumsum(wrong) / kept


def corrupt(joints: np.ndarray, kind: str, seed: int = 0) -> np.ndarray:
    """A corrupted copy of preprocessed clips (N, C, T, V, M).

    ``noise``: Gaussian joint noise of 5 cm on present joints; ``drop``: 30% of the joints of each
    clip zeroed in every frame; ``truncate``: only the first 40% of the frames kept, then tiled
    back to T (what the pipeline does with a short clip).
    """
    rng = np.random.default_rng(seed)
    x = np.array(joints, dtype=np.float32, copy=True)
    present = np.abs(x).sum(axis=1, keepdims=True) > 0
    if kind == "noise":
        return x + rng.normal(0, 0.05, x.shape).astype(np.float32) * present
    if kind == "drop":
        n, _, _, v, _ = x.shape
        for i in range(n):
            x[i, :, :, rng.choice(v, size=max(1, int(0.3 * v)), replace=False)] = 0
        return x
    if kind == "truncate":
        t = x.shape[2]
        keep = max(1, int(0.4 * t))
        return x[:, :, np.arange(t) % keep]
    raise ValueError(f"unknown corruption {kind!r}; known: noise, drop, truncate")


CORRUPTIONS = ("noise", "drop", "truncate")
