"""Pretext augmentations, batched in torch: SkeletonCLR's (Li et al., CVPR 2021) and two more.

All are drawn independently per sample (and, called twice, per view): a temporal crop after
mirror padding, a random rotation (off by default; AimCLR's ``Rotate``), a shear of the
coordinates, then Gaussian jitter of the present joints (off by default). Tensors are
(N, C, T, V, M).
"""

from __future__ import annotations

import math

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


def with_rest(x: torch.Tensor, moved: torch.Tensor) -> torch.Tensor:
    """``moved`` (the first channels of x, transformed) followed by x's remaining channels (a
    score, untouched): (N, c, T, V, M) and (N, C, T, V, M) -> (N, C, T, V, M)."""
    return moved if moved.shape[1] == x.shape[1] else torch.cat([moved, x[:, moved.shape[1] :]], dim=1)


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
    return with_rest(x, torch.einsum("nij,njtvm->nitvm", matrix.to(x.device, x.dtype), x[:, :c]))


def rotation_matrices(angles: torch.Tensor) -> torch.Tensor:
    """Rotations from angles in radians: (N, 1) -> (N, 2, 2) in the plane; (N, 3) -> (N, 3, 3) as
    R_z(c) R_y(b) R_x(a) for the angles (a, b, c) about x, y and z."""
    cos, sin = angles.cos(), angles.sin()
    n = len(angles)
    if angles.shape[1] == 1:
        return torch.stack([cos, -sin, sin, cos], dim=1).reshape(n, 2, 2)
    out = torch.eye(3).repeat(n, 1, 1)
    for axis in range(3):  # x, then y, then z: each left-multiplies what came before
        i, j = [a for a in range(3) if a != axis]
        r = torch.eye(3).repeat(n, 1, 1)
        # about y the sign convention flips (z x -> x), keeping every matrix a proper rotation
        s = -sin[:, axis] if axis == 1 else sin[:, axis]
        r[:, i, i], r[:, i, j], r[:, j, i], r[:, j, j] = cos[:, axis], -s, s, cos[:, axis]
        out = r @ out
    return out


def rotate(
    x: torch.Tensor,
    max_degrees: float,
    generator: torch.Generator | None = None,
    coords: int | None = None,
) -> torch.Tensor:
    """Rotate the first ``coords`` channels (3: about x, y and z; 2: in the image plane) by angles
    ~ U(-max_degrees, max_degrees) drawn per sample and axis; (N, C, T, V, M) -> same shape.
    Absent joints (all zero) stay zero; other channels (a score) pass through."""
    n, c = x.shape[0], x.shape[1] if coords is None else coords
    if max_degrees == 0 or c not in (2, 3):
        return x
    angles = (torch.rand(n, 1 if c == 2 else 3, generator=generator) * 2 - 1) * math.radians(max_degrees)
    matrix = rotation_matrices(angles).to(x.device, x.dtype)
    return with_rest(x, torch.einsum("nij,njtvm->nitvm", matrix, x[:, :c]))


def jitter(
    x: torch.Tensor,
    std: float,
    generator: torch.Generator | None = None,
    coords: int | None = None,
) -> torch.Tensor:
    """Add N(0, std^2) noise (coordinate units) to the first ``coords`` channels of every present
    joint (absent joints, all zero in those channels, stay zero); (N, C, T, V, M) -> same shape."""
    c = x.shape[1] if coords is None else coords
    if std == 0:
        return x
    present = (x[:, :c] != 0).any(dim=1, keepdim=True)
    noise = torch.randn(x[:, :c].shape, generator=generator).to(x.device, x.dtype) * std
    return with_rest(x, x[:, :c] + noise * present)


def augment(
    x: torch.Tensor,
    padding_ratio: int,
    shear_amplitude: float,
    generator: torch.Generator | None = None,
    coords: int | None = None,
    rotation: float = 0.0,
    noise: float = 0.0,
) -> torch.Tensor:
    """One view: temporal crop, rotation (degrees), shear, then jitter (std) of the first ``coords``
    channels; (N, C, T, V, M) -> same. With rotation = noise = 0 it is SkeletonCLR's view."""
    x = rotate(temporal_crop(x, padding_ratio, generator), rotation, generator, coords)
    return jitter(shear(x, shear_amplitude, generator, coords), noise, generator, coords)
