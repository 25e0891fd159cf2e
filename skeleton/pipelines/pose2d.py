"""Preprocessing for pose-estimator keypoints: 2D image coordinates with or without a score.

Estimators (OpenPose, MMPose/RTMPose, YOLO-pose, MoveNet, MediaPipe image landmarks) give x, y
in pixels or in 0-1 units of the image, y pointing down, and a confidence per joint; a joint
they miss is (0, 0, 0) or has a low score. The steps make clips comparable whatever the image
size, resolution or framing, for any layout (it only needs the layout's hips and shoulders):

1. a joint whose score is below ``score_threshold`` becomes missing: zero in every channel,
   as untracked Kinect joints are (a joint at exactly (0, 0) is missing too);
2. the ``num_persons`` most active of the first ``max_bodies`` body slots (activity over x, y);
3. drop the frames where nobody is present;
4. centre on the mean over frames of the reference person's mid-hips (frames where both hips
   are present; else its mid-shoulders; else the mean of its present joints); the reference is
   the first kept person with any joint. One centre for the clip and for every person, so the
   motion across the image and the geometry between people stay;
5. scale by the reference person's median torso length (mid-hips to mid-shoulders over the
   frames where all four joints are present; else a third of the larger side of the bounding
   box of its joints), so pixels and normalised units give the same input; y is flipped to
   point up, like the capture layouts;
6. ``num_frames`` frames picked evenly (the clip tiled when shorter), never interpolated, so a
   missing joint is not blended with a present one;
7. missing joints are zero in every channel; the score is kept as the last channel
   (``keep_score``, as PySKL feeds x, y, score) or dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from skeleton.errors import SkeletonError
from skeleton.layouts import Layout
from skeleton.pipelines.base import PipelineOptions, PipelineResult, select_bodies
from skeleton.pipelines.vcl_official import sample_frames

INPUT_CHANNELS = ("xy", "xys")


def normaliser(xy: np.ndarray, present: np.ndarray, layout: Layout) -> tuple[np.ndarray, float]:
    """Centre (2,) and scale of one person (steps 4 and 5 of the module docstring).

    Args:
        xy: (F, V, 2) image coordinates.
        present: (F, V) bool, joints that were detected.
    """
    if layout.hips is None:
        raise SkeletonError(f"layout {layout.name!r} names no hip joints; the pose2d pipeline needs them")
    (lh, rh), (ls, rs) = layout.hips, layout.shoulders
    hips_ok = present[:, lh] & present[:, rh]
    shoulders_ok = present[:, ls] & present[:, rs]
    mid_hips, mid_shoulders = layout.mid_hips(xy), layout.mid_shoulders(xy)
    if hips_ok.any():
        centre = mid_hips[hips_ok].mean(axis=0)
    elif shoulders_ok.any():
        centre = mid_shoulders[shoulders_ok].mean(axis=0)
    else:
        centre = xy[present].mean(axis=0)
    torso = np.linalg.norm(mid_shoulders - mid_hips, axis=-1)[hips_ok & shoulders_ok]
    torso = torso[torso > 0]
    if len(torso):
        return centre, float(np.median(torso))
    points = xy[present]
    extent = float((points.max(axis=0) - points.min(axis=0)).max())
    return centre, extent / 3 if extent > 0 else 1.0


@dataclass(frozen=True)
class Pose2DPipeline(PipelineOptions):
    """Image-size-independent 2D preprocessing (see the module docstring).

    Attributes:
        channels: what the raw clips hold, ``"xys"`` (x, y, score) or ``"xy"``.
        keep_score: output (x, y, score) when True, (x, y) when False; needs a score channel.
        score_threshold: joints scored below it are treated as missing (unused for ``"xy"``).
    """

    name = "pose2d"
    version = "1.0"
    channels: str = "xys"
    keep_score: bool = True
    score_threshold: float = 0.2

    def __post_init__(self) -> None:
        if self.channels not in INPUT_CHANNELS:
            raise SkeletonError(
                f"pose2d: channels must be one of {', '.join(INPUT_CHANNELS)}, got {self.channels!r}"
            )
        if self.keep_score and "s" not in self.channels:
            raise SkeletonError(f"pose2d: keep_score needs a score channel; channels is {self.channels!r}")
        if not 0.0 <= self.score_threshold <= 1.0:
            raise SkeletonError(f"pose2d: score_threshold must lie in 0..1, got {self.score_threshold}")

    @property
    def input_channels(self) -> str:
        return self.channels

    @property
    def output_channels(self) -> int:
        return 3 if self.keep_score else 2

    @property
    def score_channel(self) -> bool:
        return self.keep_score

    def __call__(self, joints: np.ndarray, layout: Layout) -> PipelineResult:
        """Raw keypoints (M_raw, F, V, 2 or 3) -> PipelineResult with joints (C, T, V, M) float32."""
        x = np.asarray(joints, dtype=np.float64)
        if x.ndim != 4 or x.shape[-1] != len(self.channels) or x.shape[2] != layout.num_joints:
            raise SkeletonError(
                f"pose2d: expected raw keypoints (M, F, {layout.num_joints}, {len(self.channels)}) "
                f"for layout {layout.name!r} and channels {self.channels!r}, got {x.shape}"
            )
        missing = (x[..., :2] == 0).all(axis=-1)
        if "s" in self.channels:
            missing |= x[..., 2] < self.score_threshold
        x = np.where(missing[..., None], 0.0, x)
        if not x.any():
            raise SkeletonError(f"pose2d: no joint scored at least {self.score_threshold} in any frame")
        bodies, slots = select_bodies(x, self.num_persons, self.max_bodies, coords=2)
        present = (bodies != 0).any(axis=-1)  # (M, F, V)
        keep = np.flatnonzero(present.any(axis=(0, 2)))
        bodies, present = bodies[:, keep], present[:, keep]
        ref = int(np.flatnonzero(present.any(axis=(1, 2)))[0])
        centre, scale = normaliser(bodies[ref, ..., :2], present[ref], layout)
        xy = (bodies[..., :2] - centre) / scale * np.array([1.0, -1.0])
        parts = [xy, bodies[..., 2:3]] if self.keep_score else [xy]
        out = np.where(present[..., None], np.concatenate(parts, axis=-1), 0.0)
        idx = sample_frames(len(keep), self.num_frames)
        info: dict[str, Any] = {"valid_frames": int(len(keep)), "centre": centre.tolist(), "scale": scale}
        return PipelineResult(
            joints=np.ascontiguousarray(out[:, idx].transpose(3, 1, 2, 0), dtype=np.float32),
            frame_indices=keep[idx],
            body_slots=slots,
            info=info,
        )
