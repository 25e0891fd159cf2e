"""Embeddings of clips through an exported model (ONNX Runtime, no torch).

For each clip: the fused retrieval ``embedding`` (concat_s sqrt(w_s) * normalize(mu_s - c_s)), its
per-dimension standard deviation ``sigma`` (``runtime.scores.fused_sigma``, the delta-method sigma
of a normalised, centred mu, for the mutual likelihood score) and the uncertainty score (the sigma
score, mean log sigma^2 over dimensions and streams, ``common.scores``). Without a Gaussian head
``sigma`` and the score are None.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from runtime.manifest import ModelManifest
from runtime.model import OnnxModel
from runtime.scores import fused_sigma, output_logvars, sigma_score
from skeleton.clip import Clip
from skeleton.pipelines import preprocess_clips


@dataclass(frozen=True)
class Embeddings:
    """embedding (N, D); sigma (N, D) or None; uncertainty (N,) or None."""

    embedding: np.ndarray
    sigma: np.ndarray | None
    uncertainty: np.ndarray | None


def embeddings_from_outputs(manifest: ModelManifest, out: dict[str, np.ndarray]) -> Embeddings:
    """The model's outputs (every name in ``manifest.outputs``, batch N) -> Embeddings."""
    if not manifest.has_gaussian_head:
        return Embeddings(out["embedding"], None, None)
    sigma = fused_sigma(out, manifest.streams, manifest.fusion_weights, manifest.embedding_centers)
    return Embeddings(out["embedding"], sigma, sigma_score(output_logvars(out, manifest.streams)))


def embed_joints(model: OnnxModel, joints: np.ndarray, batch_size: int = 64) -> Embeddings:
    """Preprocessed joints (N, 3, T, V, M) -> Embeddings."""
    parts: list[dict[str, np.ndarray]] = [
        model.run(joints[i : i + batch_size]) for i in range(0, len(joints), batch_size)
    ]
    out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return embeddings_from_outputs(model.manifest, out)


def embed_clips(model: OnnxModel, clips: list[Clip]) -> Embeddings:
    """Raw clips -> the model's preprocessing -> Embeddings."""
    joints = preprocess_clips(clips, model.manifest.layout, model.manifest.pipeline)
    return embed_joints(model, joints)
