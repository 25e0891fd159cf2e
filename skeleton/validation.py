"""A validation split carved from a protocol's training part, the same every time (no seed).

What calibrates a model's uncertainty (the unknown threshold, the reference percentiles, the
probability that a label is wrong) must come from clips its classifier did not see and that are
not test clips: ``vcl eval uncertainty`` fits classifiers on the rest of the training part, and
``vcl export --reference`` reads the scores of the same validation clips.

- ``subject``: whole subjects, as the cross-subject test split holds out whole subjects; the
  ``ceil(fraction * S)`` training subjects whose SHA-256 of the subject id is smallest.
- ``hash``: the clips whose SHA-256 of the sample name, read as a fraction of 2^64, is below
  ``fraction`` (for data without subjects).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from skeleton.errors import DatasetError

METHODS = ("subject", "hash")


def _unit(text: str) -> float:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") / 2**64


def carve_validation(
    samples: Sequence[dict[str, Any]], train_idx: np.ndarray, by: str = "subject", fraction: float = 0.2
) -> tuple[np.ndarray, np.ndarray]:
    """(fit, validation) indices, a partition of ``train_idx`` (both sorted), by ``by`` (see the
    module docstring). ``samples`` are the dataset's per-clip metadata (``samples.jsonl``)."""
    if by not in METHODS:
        raise DatasetError(f"validation split: unknown method {by!r}; choose one of {', '.join(METHODS)}")
    if not 0.0 < fraction < 1.0:
        raise DatasetError(f"validation split: fraction must be in (0, 1), got {fraction}")
    train_idx = np.sort(np.asarray(train_idx))
    if by == "subject":
        subjects = [samples[i].get("subject") for i in train_idx]
        if any(s is None for s in subjects):
            raise DatasetError("validation split by subject: some training clips have no subject; use 'hash'")
        distinct = sorted(set(subjects), key=lambda s: _unit(f"subject:{s}"))
        if len(distinct) < 2:
            raise DatasetError(
                f"validation split by subject: the training part has {len(distinct)} subject(s)"
            )
        held = set(distinct[: min(len(distinct) - 1, math.ceil(fraction * len(distinct)))])
        chosen = np.array([s in held for s in subjects])
    else:
        chosen = np.array([_unit(str(samples[i]["name"])) < fraction for i in train_idx])
    if chosen.all() or not chosen.any():
        raise DatasetError(f"validation split by {by}: {int(chosen.sum())} of {len(chosen)} clips chosen")
    return train_idx[~chosen], train_idx[chosen]
