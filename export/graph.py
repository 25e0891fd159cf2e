"""The exported computation: raw preprocessed joints in, everything the server needs out.

``ExportGraph`` wraps a ``MultiStreamModel`` in eval mode and returns a fixed tuple of named
outputs, deterministic (mu, never a sample):

- ``<stream>_logits`` (N, C) and ``fused_logits`` (N, C), when the checkpoint has classifiers;
- ``<stream>_mu``, ``<stream>_sigma`` (N, D) with sigma = exp(log sigma^2 / 2), for a Gaussian head;
- ``<stream>_feature`` (N, 256), the pooled backbone feature;
- ``embedding`` (N, S * D): concat_s sqrt(w_s) * normalize(mu_s - c_s) (pooled features stand in
  without a Gaussian head), so that the inner product of two embeddings is the fusion-weighted sum
  of per-stream cosine similarities. c_s is the mean of mu_s over reference clips (``vcl export``
  computes it): after short training mu carries a large shared component (cosines of 0.9999
  between any two demo clips), which leaves neighbour ranking to float32 rounding; centred, the
  cosines spread over [-1, 1].
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from train.model import MultiStreamModel


class ExportGraph(nn.Module):
    """joints (N, 3, T, V, M) float32 -> tuple of tensors named by ``output_names``."""

    def __init__(self, model: MultiStreamModel, centers: dict[str, torch.Tensor] | None = None) -> None:
        """``centers``: per stream, the mean retrieval basis (mu, or the pooled feature without a
        Gaussian head) over reference clips, subtracted before normalising (zeros when None)."""
        super().__init__()
        self.model = model.eval()
        self.streams = list(model.streams)
        self.classified = all(s in model.classifiers for s in self.streams) and len(model.classifiers) > 0
        heads = {model.encoders[s].head for s in self.streams}
        self.gaussian = heads == {"gaussian"}
        weights = model.fusion_weights
        # streams with weight 0 still get their outputs, but no share of the embedding
        self.embedding_weights = {s: math.sqrt(max(weights.get(s, 0.0), 0.0)) for s in self.streams}
        for s in self.streams:
            encoder = model.encoders[s]
            dim = int(encoder.embedding_dim) if self.gaussian else int(encoder.backbone.feature_dim)  # type: ignore[union-attr, arg-type]
            center = torch.zeros(dim) if centers is None else torch.as_tensor(centers[s], dtype=torch.float32)
            self.register_buffer(f"center_{s}", center.reshape(dim))

    @property
    def output_names(self) -> list[str]:
        names = []
        if self.classified:
            names += [f"{s}_logits" for s in self.streams] + ["fused_logits"]
        if self.gaussian:
            names += [f"{s}_mu" for s in self.streams] + [f"{s}_sigma" for s in self.streams]
        names += [f"{s}_feature" for s in self.streams] + ["embedding"]
        return names

    def forward(self, joints: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.model(joints)
        per_stream = {s: out[s] for s in self.streams}
        values: dict[str, torch.Tensor] = {}
        parts = []
        for s in self.streams:
            result = per_stream[s]
            assert isinstance(result, dict)
            if self.classified:
                values[f"{s}_logits"] = result["logits"]
            if self.gaussian:
                values[f"{s}_mu"] = result["mu"]
                values[f"{s}_sigma"] = torch.exp(0.5 * result["logvar"])
            values[f"{s}_feature"] = result["feature"]
            basis = result["mu"] if self.gaussian else result["feature"]
            center = getattr(self, f"center_{s}")
            parts.append(self.embedding_weights[s] * F.normalize(basis - center, dim=1))
        if self.classified:
            fused = out["fused_logits"]
            assert isinstance(fused, torch.Tensor)
            values["fused_logits"] = fused
        values["embedding"] = torch.cat(parts, dim=1)
        return tuple(values[name] for name in self.output_names)
