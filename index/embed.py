"""Embeddings of clips through an exported model (ONNX Runtime, no torch).

For each clip: the fused retrieval ``embedding`` (concat_s sqrt(w_s) * normalize(mu_s - c_s)), its
per-dimension standard deviation ``sigma`` (the delta-method sigma of a normalised, centred mu,
sqrt(w_s) * sigma_s / ||mu_s - c_s||, for the mutual likelihood score) and the uncertainty score
(mean log sigma^2 over dimensions and streams, as ``train.uncertainty``). Without a Gaussian head
``sigma`` and the score are None.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from runtime.model import OnnxModel
from skeleton.clip import Clip
from skeleton.pipelines import preprocess_clips


@dataclass(frozen=True)
class Embeddings:
    """embedding (N, D); sigma (N, D) or None; uncertainty (N,) or None."""

    embedding: np.ndarray
    sigma: np.ndarray | None
    uncertainty: np.ndarray | None


def embed_joints(model: OnnxModel, joints: np.ndarray, batch_size: int = 64) -> Embeddings:
    """Preprocessed joints (N, 3, T, V, M) -> Embeddings."""
    parts: list[dict[str, np.ndarray]] = [
        model.run(joints[i : i + batch_size]) for i in range(0, len(joints), batch_size)
    ]
    out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    sigma = fused_sigma(model.manifest, out)
    if sigma is None:
        return Embeddings(out["embedding"], None, None)
    scores = [np.log(np.square(out[f"{s}_sigma"])).mean(axis=1) for s in model.manifest["streams"]]
    return Embeddings(out["embedding"], sigma, np.mean(scores, axis=0))


def fused_sigma(manifest: dict, out: dict[str, np.ndarray]) -> np.ndarray | None:
    """Per-dimension standard deviation (N, S * D) of the fused embedding by the delta method:
    sqrt(w_s) * sigma_s / ||mu_s - c_s|| per stream; None without a Gaussian head."""
    if not manifest["has_gaussian_head"]:
        return None
    centers = manifest.get("embedding_centers") or {}
    parts = []
    for s in manifest["streams"]:
        mu, sigma = out[f"{s}_mu"], out[f"{s}_sigma"]
        centred = mu - np.asarray(centers.get(s, 0.0), dtype=mu.dtype)
        weight = math.sqrt(max(manifest["fusion_weights"].get(s, 0.0), 0.0))
        parts.append(weight * sigma / np.maximum(np.linalg.norm(centred, axis=1, keepdims=True), 1e-12))
    return np.concatenate(parts, axis=1)


def embed_clips(model: OnnxModel, clips: list[Clip]) -> Embeddings:
    """Raw clips -> the model's preprocessing -> Embeddings."""
    joints = preprocess_clips(clips, model.manifest["layout"], model.manifest["pipeline"])
    return embed_joints(model, joints)
