"""Heads on top of the pooled 256-d ST-GCN feature.

- ``ProjectionHead``: the MoCo v2 / SkeletonCLR MLP, 256 -> 256 -> 128 with a ReLU.
- ``GaussianHead``: VCL's replacement of the deterministic embedding by a diagonal Gaussian,
  two linear layers 128 -> 64 giving mu and log sigma^2 (Nguyen et al., arXiv 2601.07666).
"""

from __future__ import annotations

import torch
from torch import nn


class ProjectionHead(nn.Module):
    """(N, in_dim) -> (N, out_dim): Linear, ReLU, Linear."""

    def __init__(self, in_dim: int = 256, hidden_dim: int = 256, out_dim: int = 128) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(in_dim, hidden_dim), nn.ReLU(inplace=True), nn.Linear(hidden_dim, out_dim)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class GaussianHead(nn.Module):
    """(N, in_dim) -> mu (N, latent_dim), log sigma^2 (N, latent_dim)."""

    def __init__(self, in_dim: int = 128, latent_dim: int = 64, logvar_bias: float | None = None) -> None:
        super().__init__()
        self.mu = nn.Linear(in_dim, latent_dim)
        self.logvar = nn.Linear(in_dim, latent_dim)
        if logvar_bias is not None:  # start with sigma ~ exp(bias / 2) instead of ~1
            nn.init.constant_(self.logvar.bias, logvar_bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.mu(x), self.logvar(x)


def reparameterize(
    mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """z = mu + sigma * eps with eps ~ N(0, I): differentiable in mu and log sigma^2. (N, D) -> (N, D)."""
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + torch.exp(0.5 * logvar) * eps
