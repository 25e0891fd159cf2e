"""The 50-frame preprocessing SkeletonCLR / AimCLR train on (after ST-GCN's data generation and
2s-AGCN's normalisation), adapted to any layout:

1. the 2 most active of the first 4 body slots (as vcl-official);
2. drop the frames where nobody is present;
3. centre every person on the first person's origin joint (spine) of the same frame, masked so
   absent joints stay zero (frames where the first person is missing use its nearest centre);
4. rotate about the vertical axis so the first person's frame-0 shoulder line (right - left)
   lies along +x; one rotation for everybody, so two-person interactions keep their geometry;
5. resize the valid frames to 50 by linear interpolation (``align_corners=True`` semantics).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from skeleton.layouts import Layout
from skeleton.pipelines.base import PipelineOptions, PipelineResult, select_bodies


def nearest_fill(values: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Replace rows of values (F, ...) where ``present`` is False by the nearest present row."""
    where = np.flatnonzero(present)
    if len(where) == 0:
        return values
    frames = np.arange(len(values))
    pos = np.clip(np.searchsorted(where, frames), 0, len(where) - 1)
    prev = where[np.clip(pos - 1, 0, len(where) - 1)]
    nxt = where[pos]
    nearest = np.where(np.abs(frames - prev) <= np.abs(nxt - frames), prev, nxt)
    return values[nearest]


def vertical_rotation(u: np.ndarray, up_axis: int) -> np.ndarray:
    """(3, 3) rotation about the ``up_axis`` bringing the horizontal part of u onto +x."""
    horizontal = [a for a in range(3) if a != up_axis]
    # the two horizontal axes, ordered so that (h0, up, h1) is right-handed like (x, y, z)
    h0, h1 = (0, 2) if up_axis == 1 else ((1, 0) if up_axis == 2 else (2, 1))
    assert {h0, h1} == set(horizontal)
    radius = float(np.hypot(u[h0], u[h1]))
    rot = np.eye(3)
    if radius < 1e-6:
        return rot
    c, s = u[h0] / radius, u[h1] / radius
    rot[h0, h0], rot[h0, h1], rot[h1, h0], rot[h1, h1] = c, s, -s, c
    return rot


def resize_frames(x: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Linearly resample x (F, ...) to (length, ...); also returns the source positions."""
    frames = len(x)
    pos = np.linspace(0.0, frames - 1, length) if length > 1 else np.zeros(1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, frames - 1)
    w = (pos - lo).reshape((-1,) + (1,) * (x.ndim - 1))
    return (1 - w) * x[lo] + w * x[hi], pos


@dataclass(frozen=True)
class SkeletonClrPipeline(PipelineOptions):
    """SkeletonCLR/AimCLR-style preprocessing (see the module docstring)."""

    name = "skeletonclr"
    version = "1.0"

    def __call__(self, joints: np.ndarray, layout: Layout) -> PipelineResult:
        """Raw joints (M_raw, F, V, 3) -> PipelineResult with joints (3, T, V, M) float32."""
        bodies, slots = select_bodies(joints, self.num_persons, self.max_bodies)
        present = bodies.sum(axis=(2, 3)) != 0  # (M, F)
        keep = np.flatnonzero(present.any(axis=0))
        bodies, present = bodies[:, keep], present[:, keep]
        mask = (bodies.sum(axis=3) != 0)[..., None]  # (M, F, V, 1)
        centre = nearest_fill(bodies[0, :, layout.origin], present[0])  # (F, 3)
        bodies = (bodies - centre[None, :, None, :]) * mask
        first = int(np.flatnonzero(present[0])[0])
        left, right = layout.shoulders
        rot = vertical_rotation(bodies[0, first, right] - bodies[0, first, left], layout.up_axis)
        bodies = np.einsum("ij,mfvj->mfvi", rot, bodies)
        resized, pos = resize_frames(bodies.transpose(1, 0, 2, 3), self.num_frames)  # (T, M, V, 3)
        out = resized.transpose(3, 0, 2, 1).astype(np.float32)
        source = np.interp(pos, np.arange(len(keep)), keep.astype(np.float64))
        return PipelineResult(
            joints=np.ascontiguousarray(out),
            frame_indices=source,
            body_slots=slots,
            info={"valid_frames": int(len(keep))},
        )
