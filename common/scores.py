"""Scores of a model's outputs as plain arrays: softmax, entropy, and VCL's sigma score.

Pure numpy, here because two layers compute them: ``train`` (the uncertainty evaluation of
``vcl eval``, on torch encoders) and ``runtime`` (exported models, for ``vcl predict``, the index
and the server); ``runtime.scores`` re-exports them beside the scores that read named outputs.

The sigma score is the mean of log sigma^2 over latent dimensions and streams: the log-volume of
the diagonal posterior per dimension (log-determinant / D), so it grows when the encoder spreads
its belief over more of the latent space; scale-free across dimensions (a log), independent of mu,
and averaged over streams as the fused prediction is. Its baseline is the softmax confidence of the
fused logits (1 - max p).
"""

from __future__ import annotations

from collections.abc import Mapping

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


def sigma_scores(logvars: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """stream -> (N,) mean over dimensions of log sigma^2; inputs: stream -> (N, D) log sigma^2."""
    return {s: v.mean(axis=1) for s, v in logvars.items()}


def sigma_score(logvars: Mapping[str, np.ndarray]) -> np.ndarray:
    """(N,) mean over dimensions and streams of log sigma^2; inputs: stream -> (N, D) log sigma^2."""
    return np.mean(list(sigma_scores(logvars).values()), axis=0)
