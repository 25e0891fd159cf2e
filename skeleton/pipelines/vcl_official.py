"""The official VCL preprocessing (github.com/Dang-Dinh-NGUYEN/graph-based_action-recognition,
commit 5b6b531), step by step as ../shared/data/vcl_official/README.md specifies it:

1. body slots by position within the frame, at most 4;
2. the 2 most active bodies (std of x, y, z over present frames), stable order;
3. 50 frames: integer ``linspace(0, F - 1, 50)`` when F >= 50, else the sequence tiled;
4. float32 from here on; per person: compact the valid frames cyclically, centre every frame on
   the person's own spine-middle joint (masked), rotate the frame-0 spine onto +z, then the
   frame-0 shoulder line (right - left) onto +x, each person with its own rotations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from skeleton.layouts import Layout
from skeleton.pipelines.base import PipelineOptions, PipelineResult, rotation_onto, select_bodies

Z_AXIS = np.array([0.0, 0.0, 1.0])
X_AXIS = np.array([1.0, 0.0, 0.0])


def sample_frames(num_frames: int, length: int) -> np.ndarray:
    """(length,) source frame indices: evenly spaced when long enough, the clip tiled otherwise."""
    if num_frames >= length:
        step = (num_frames - 1) / (length - 1) if length > 1 else 0.0
        idx = np.floor(np.arange(length, dtype=np.float64) * step).astype(np.int64)
        idx[-1] = num_frames - 1
        return idx
    reps = math.ceil(length / num_frames)
    return np.tile(np.arange(num_frames, dtype=np.int64), reps)[:length]


def pre_transform_person(p: np.ndarray, layout: Layout) -> np.ndarray:
    """Compact, centre and align one person in place-free fashion.

    Args:
        p: (T, V, 3) float32 joints of one person.
    Returns:
        (T, V, 3) float32; all zeros when the person is never present.
    """
    valid = np.flatnonzero(p.sum(axis=(1, 2)) != 0)
    if len(valid) == 0:
        return p.copy()
    p = p[valid[np.arange(len(p)) % len(valid)]]
    mask = (p.sum(axis=2) != 0)[..., None]
    p = ((p - p[:, layout.origin : layout.origin + 1]) * mask).astype(np.float32)
    lower, upper = layout.spine
    left, right = layout.shoulders
    for (a, b), target in (((lower, upper), Z_AXIS), ((left, right), X_AXIS)):
        rot = rotation_onto(p[0, b] - p[0, a], target, dtype=np.float32)
        present = p.sum(axis=(1, 2)) != 0
        p[present] = np.einsum("ij,tvj->tvi", rot, p[present]).astype(np.float32)
    return p


@dataclass(frozen=True)
class VclOfficialPipeline(PipelineOptions):
    """The official VCL eval-path preprocessing (see the module docstring).

    Attributes:
        num_frames: T of the output (50 in the official code).
        num_persons: M of the output (2).
        max_bodies: body slots considered per frame (4).
    """

    name = "vcl-official"
    version = "1.0"

    def __call__(self, joints: np.ndarray, layout: Layout) -> PipelineResult:
        """Raw joints (M_raw, F, V, 3) -> PipelineResult with joints (3, T, V, M) float32."""
        bodies, slots = select_bodies(joints, self.num_persons, self.max_bodies)
        idx = sample_frames(joints.shape[1], self.num_frames)
        x = bodies[:, idx].astype(np.float32)
        out = np.stack([pre_transform_person(person, layout) for person in x])
        return PipelineResult(
            joints=np.ascontiguousarray(out.transpose(3, 1, 2, 0)), frame_indices=idx, body_slots=slots
        )
