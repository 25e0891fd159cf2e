"""Contrastive and variational losses as pure functions, plus the MoCo key queue.

- InfoNCE with a queue of negatives (van den Oord et al. 2018; He et al., MoCo, CVPR 2020).
- KL(N(mu, sigma^2) || N(0, I)) of a diagonal Gaussian (Kingma & Welling 2014), with optional
  free bits (Kingma et al. 2016) as VCL's regulariser.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def info_nce(
    query: torch.Tensor, key: torch.Tensor, negatives: torch.Tensor, temperature: float = 0.07
) -> tuple[torch.Tensor, torch.Tensor]:
    """InfoNCE with one positive per query.

    Args:
        query: (N, D) L2-normalised.
        key: (N, D) L2-normalised positives (no gradient expected).
        negatives: (K, D) L2-normalised queue.
    Returns:
        The mean loss and the (N, 1 + K) logits (column 0 is the positive).
    """
    positive = (query * key).sum(dim=1, keepdim=True)
    negative = query @ negatives.t()
    logits = torch.cat([positive, negative], dim=1) / temperature
    target = torch.zeros(len(query), dtype=torch.long, device=query.device)
    return F.cross_entropy(logits, target), logits


def kl_standard_normal(
    mu: torch.Tensor, logvar: torch.Tensor, reduction: str = "mean", free_bits: float = 0.0
) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) = 1/2 (mu^2 + sigma^2 - log sigma^2 - 1), per dimension.

    Args:
        mu, logvar: (N, D).
        reduction: ``"mean"`` over batch and dimensions (VCL's default) or ``"sum"`` over
            dimensions, averaged over the batch.
        free_bits: per-dimension floor (nats) applied to the batch-mean KL of each dimension.
    Returns:
        A scalar.
    """
    if reduction not in ("mean", "sum"):
        raise ValueError(f"KL reduction must be 'mean' or 'sum', got {reduction!r}")
    per_dim = 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1.0)  # (N, D)
    if free_bits > 0:
        per_dim = per_dim.mean(dim=0).clamp(min=free_bits)  # (D,)
        return per_dim.mean() if reduction == "mean" else per_dim.sum()
    if reduction == "mean":
        return per_dim.mean()
    return per_dim.sum(dim=1).mean()


class KeyQueue(nn.Module):
    """A FIFO of K L2-normalised keys (MoCo's memory bank), kept as buffers so it checkpoints.

    Attributes:
        keys: (K, D) buffer.
        pointer: () int64 buffer, the next slot to write.
    """

    keys: torch.Tensor
    pointer: torch.Tensor

    def __init__(self, size: int, dim: int, generator: torch.Generator | None = None) -> None:
        super().__init__()
        if size < 1:
            raise ValueError(f"queue size must be positive, got {size}")
        self.register_buffer("keys", F.normalize(torch.randn(size, dim, generator=generator), dim=1))
        self.register_buffer("pointer", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def push(self, keys: torch.Tensor) -> None:
        """Write a batch (N, D) at the pointer, wrapping around; keeps only the last K when N > K."""
        size = len(self.keys)
        keys = keys.detach()[-size:]
        start = int(self.pointer)
        index = (torch.arange(len(keys), device=keys.device) + start) % size
        self.keys[index] = keys.to(self.keys.dtype)
        self.pointer.fill_((start + len(keys)) % size)
