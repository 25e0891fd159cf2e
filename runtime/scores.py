"""Scores computed from an exported model's named outputs, shared by ``vcl predict``, the index and
the server.

Pure numpy. The array scores (softmax, entropy, softmax confidence, the sigma score) live in
``common.scores``, which training uses too, and are re-exported here. The ones below read the
graph's outputs by name (``{stream}_sigma``, ``{stream}_mu``, ``{stream}_logits``). The fused
sigma of the retrieval embedding follows from the delta method on the normalised, centred mu
(sqrt(w_s) * sigma_s / ||mu_s - c_s|| per stream), for the mutual likelihood score.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from common.scores import entropy, sigma_score, sigma_scores, softmax, softmax_uncertainty

__all__ = [
    "entropy",
    "fuse_logits",
    "fused_sigma",
    "output_logvars",
    "sigma_score",
    "sigma_scores",
    "softmax",
    "softmax_uncertainty",
    "stream_sigma_scores",
]


def output_logvars(outputs: Mapping[str, np.ndarray], streams: Sequence[str]) -> dict[str, np.ndarray]:
    """stream -> (N, D) log sigma^2 from the ``{stream}_sigma`` outputs (N, D). A sigma^2 that
    under- or overflowed float32 (0 or inf: log sigma^2 beyond about -87 or +88, from extreme
    inputs) is clipped to float32's range, so the score stays finite."""
    info = np.finfo(np.float32)
    return {
        s: np.log(np.clip(np.square(outputs[f"{s}_sigma"].astype(np.float64)), info.tiny, info.max))
        for s in streams
    }


def stream_sigma_scores(outputs: Mapping[str, np.ndarray], streams: Sequence[str]) -> dict[str, np.ndarray]:
    """stream -> (N,) mean over dimensions of log sigma^2, from the ``{stream}_sigma`` outputs (N, D)."""
    return sigma_scores(output_logvars(outputs, streams))


def fuse_logits(logits: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    """(N, C) weighted sum of per-stream logits (N, C), the paper's 0.6/0.6/0.4 late fusion."""
    return sum(weights[s] * np.asarray(v) for s, v in logits.items())  # type: ignore[return-value]


def fused_sigma(
    outputs: Mapping[str, np.ndarray],
    streams: Sequence[str],
    weights: Mapping[str, float],
    centers: Mapping[str, Sequence[float]],
) -> np.ndarray:
    """(N, S * D) per-dimension standard deviation of the fused retrieval embedding by the delta
    method: sqrt(w_s) * sigma_s / ||mu_s - c_s|| per stream, from ``{s}_mu`` and ``{s}_sigma`` (N, D)."""
    parts = []
    for s in streams:
        mu, sigma = outputs[f"{s}_mu"], outputs[f"{s}_sigma"]
        centred = mu - np.asarray(centers.get(s, 0.0), dtype=mu.dtype)
        weight = math.sqrt(max(weights.get(s, 0.0), 0.0))
        parts.append(weight * sigma / np.maximum(np.linalg.norm(centred, axis=1, keepdims=True), 1e-12))
    return np.concatenate(parts, axis=1)
