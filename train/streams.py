"""Joint, bone and motion streams in torch, equal to ``skeleton.streams`` (numpy).

Streams are derived from the (augmented) joints inside the training step and inside the
exported graph; tensors use the axis order (N, C, T, V, M).
"""

from __future__ import annotations

import torch

from skeleton.streams import STREAMS


def bone(x: torch.Tensor, parents: tuple[int, ...]) -> torch.Tensor:
    """bone[..., v, :] = x[..., v, :] - x[..., parent(v), :]; (N, C, T, V, M) -> same shape."""
    index = torch.tensor(parents, device=x.device)
    return x - x.index_select(-2, index)


def motion(x: torch.Tensor) -> torch.Tensor:
    """motion[:, :, t] = x[:, :, t + 1] - x[:, :, t], last frame zero; (N, C, T, V, M) -> same shape."""
    diff = x[:, :, 1:] - x[:, :, :-1]
    return torch.cat([diff, torch.zeros_like(x[:, :, :1])], dim=2)


def derive_stream(x: torch.Tensor, parents: tuple[int, ...], stream: str) -> torch.Tensor:
    """One stream of joints x (N, C, T, V, M) by name."""
    if stream == "joint":
        return x
    if stream == "bone":
        return bone(x, parents)
    if stream == "motion":
        return motion(x)
    raise ValueError(f"unknown stream {stream!r}; known streams: {', '.join(STREAMS)}")
