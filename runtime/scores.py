"""Scores computed from a model's outputs, shared by ``vcl predict``, the index and the server.

Pure numpy. The sigma score is the mean of log sigma^2 over latent dimensions and streams: the
log-volume of the diagonal posterior per dimension (log-determinant / D), scale-free across
dimensions and independent of mu, averaged over streams as the fused prediction is. The fused
sigma of the retrieval embedding follows from the delta method on the normalised, centred mu
(sqrt(w_s) * sigma_s / ||mu_s - c_s|| per stream), for the mutual likelihood score.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    """(N, C) probabilities of logits (N, C), computed stably in the input's dtype."""
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def entropy(probs: np.ndarray) -> np.ndarray:
    """(N,) Shannon entropy in nats of probabilities (N, C)."""
    return -(probs * np.log(probs + 1e-12)).sum(axis=1)


def softmax_uncertainty(logits: np.ndarray) -> np.ndarray:
    """(N,) 1 - max softmax probability of logits (N, C)."""
    return 1.0 - softmax(logits).max(axis=1)


def stream_sigma_scores(outputs: Mapping[str, np.ndarray], streams: Sequence[str]) -> dict[str, np.ndarray]:
    """stream -> (N,) mean over dimensions of log sigma^2, from the ``{stream}_sigma`` outputs (N, D)."""
    return {s: np.log(np.square(outputs[f"{s}_sigma"])).mean(axis=1) for s in streams}


def sigma_score(logvars: Mapping[str, np.ndarray]) -> np.ndarray:
    """(N,) mean over dimensions and streams of log sigma^2; inputs: stream -> (N, D) log sigma^2."""
    return np.mean([v.mean(axis=1) for v in logvars.values()], axis=0)


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
