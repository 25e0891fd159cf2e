"""Pretext augmentations of SkeletonCLR (Li et al., CVPR 2021), batched in torch.

Both are drawn independently per sample (and, called twice, per view): a temporal crop after
mirror padding, then a shear of the xyz coordinates. Tensors are (N, C, T, V, M).
"""

from __future__ import annotations

import torch


def mirror_index(length: int, pad: int, device: torch.device | None = None) -> torch.Tensor:
    """Frame indices of a sequence reflected by ``pad`` frames at both ends (no edge repeat)."""
    inner = torch.arange(length, device=device)
    if pad == 0 or length == 1:
        return torch.cat([inner.new_zeros(pad), inner, inner.new_full((pad,), length - 1)])
    pad = min(pad, length - 1)
    left = torch.arange(pad, 0, -1, device=device)
    right = torch.arange(length - 2, length - 2 - pad, -1, device=device)
    return torch.cat([left, inner, right])


def temporal_crop(
    x: torch.Tensor, padding_ratio: int = 6, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Mirror-pad T // padding_ratio frames at both ends, then crop T frames at a random offset.

    (N, C, T, V, M) -> (N, C, T, V, M); offsets are drawn per sample.
    """
    n, _, t, _, _ = x.shape
    pad = t // padding_ratio if padding_ratio > 0 else 0
    if pad == 0:
        return x
    padded = mirror_index(t, pad, x.device)
    offsets = torch.randint(0, len(padded) - t + 1, (n,), generator=generator).to(x.device)
    frames = padded[offsets[:, None] + torch.arange(t, device=x.device)]  # (N, T)
    batch = torch.arange(n, device=x.device)[:, None]
    return x.permute(0, 2, 1, 3, 4)[batch, frames].permute(0, 2, 1, 3, 4)


def shear(
    x: torch.Tensor,
    amplitude: float = 0.5,
    generator: torch.Generator | None = None,
    coords: int | None = None,
) -> torch.Tensor:
    """Multiply the coordinates by [[1, a, b], [c, 1, d], [e, f, 1]], entries ~ U(-amplitude, amplitude).

    (N, C, T, V, M) -> same shape; one matrix per sample. ``coords``: how many leading channels
    are coordinates (default all: x, y, z); the rest (an estimator's score) pass through unsheared,
    and 2D keypoints get a 2 x 2 matrix.
    """
    n, c = x.shape[0], x.shape[1] if coords is None else coords
    off = (torch.rand(n, c * (c - 1), generator=generator) * 2 - 1) * amplitude
    matrix = torch.eye(c).repeat(n, 1, 1)
    matrix[:, ~torch.eye(c, dtype=torch.bool)] = off
    sheared = torch.einsum("nij,njtvm->nitvm", matrix.to(x.device, x.dtype), x[:, :c])
    return sheared if c == x.shape[1] else torch.cat([sheared, x[:, c:]], dim=1)


def augment(
    x: torch.Tensor,
    padding_ratio: int,
    shear_amplitude: float,
    generator: torch.Generator | None = None,
    coords: int | None = None,
) -> torch.Tensor:
    """One view: temporal crop, then shear of the first ``coords`` channels; (N, C, T, V, M) -> same."""
    return shear(temporal_crop(x, padding_ratio, generator), shear_amplitude, generator, coords)
