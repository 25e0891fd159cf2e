"""Class-balanced label subsets for semi-supervised evaluation, reproducible from a seed.

Two conventions exist for "1% / 10% of the labels":

- ``proportion`` (AimCLR, CrosSCLR): the fraction of every class, max(1, round(p * n_c)) clips;
- ``count`` (the official VCL code): the same number of clips from every class,
  max(1, round(p * N / C)), capped by the class size.

``per_class_subset`` draws K clips of every class (the ``count`` rule with p = K * C / N), for
label-efficiency curves.
"""

from __future__ import annotations

import numpy as np

SAMPLINGS = ("proportion", "count")


def labelled_subset(
    labels: np.ndarray, fraction: float, sampling: str = "proportion", seed: int = 0
) -> np.ndarray:
    """Sorted positions (into ``labels``) of the labelled subset.

    Args:
        labels: (N,) class of every candidate clip.
        fraction: 0 < p <= 1.
        sampling: ``proportion`` or ``count``.
        seed: the same seed gives the same subset.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"label fraction must be in (0, 1], got {fraction}")
    if sampling not in SAMPLINGS:
        raise ValueError(f"sampling must be one of {SAMPLINGS}, got {sampling!r}")
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    per_class_count = max(1, round(fraction * len(labels) / len(classes)))
    chosen = []
    for c in classes:
        members = np.flatnonzero(labels == c)
        take = max(1, round(fraction * len(members))) if sampling == "proportion" else per_class_count
        chosen.append(rng.permutation(members)[: min(take, len(members))])
    return np.sort(np.concatenate(chosen))


def per_class_subset(labels: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """Sorted positions of ``count`` labelled clips of every class (all of a smaller class)."""
    if count < 1:
        raise ValueError(f"labelled clips per class must be >= 1, got {count}")
    n, c = len(labels), len(np.unique(labels))
    return labelled_subset(labels, min(1.0, count * c / n), "count", seed)
