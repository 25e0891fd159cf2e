"""How to judge a per-clip uncertainty score: AUROC for errors, risk-coverage, corrupted clips.

The scores themselves (VCL's sigma score, mean log sigma^2 over latent dimensions and streams, and
its softmax-confidence baseline) are in ``common.scores``, shared with the runtime.
"""

from __future__ import annotations

import numpy as np


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of ``values`` (N,), ties given the mean of the ranks they span."""
    values = np.asarray(values)
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values))
    sorted_values = values[order]
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and sorted_values[j + 1] == sorted_values[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def auroc(scores: np.ndarray, positives: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for the boolean ``positives`` (ties count half).

    Equals the probability that a random positive scores above a random negative.
    """
    positives = np.asarray(positives, dtype=bool)
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = average_ranks(scores)
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation (the Pearson correlation of average ranks); nan when either
    side is constant."""
    ra, rb = average_ranks(a), average_ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denominator = float(np.sqrt((ra**2).sum() * (rb**2).sum()))
    return float((ra * rb).sum() / denominator) if denominator > 0 else float("nan")


def variance_explained(values: np.ndarray, groups: np.ndarray) -> float:
    """eta^2: the share of the variance of ``values`` (N,) between the means of ``groups`` (N,)
    (0: the groups do not differ; 1: values are constant within each group)."""
    values = np.asarray(values, dtype=np.float64)
    total = ((values - values.mean()) ** 2).sum()
    if total == 0:
        return float("nan")
    between = sum(
        (groups == g).sum() * (values[groups == g].mean() - values.mean()) ** 2 for g in np.unique(groups)
    )
    return float(between / total)


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
