"""Small skeleton previews stored with each indexed clip, for showing neighbours.

A preview is the clip's preprocessed joints (the model's own pipeline) at up to ``FRAMES`` evenly
spaced frames of its non-empty span, as float16 (F, M, V, 3), serialised with ``np.save``
(self-describing). An NTU clip's preview is about 7 KB. Previews always hold three coordinates:
a keypoint score channel is dropped and 2D clips get z = 0, so a viewer never draws a score as depth.
"""

from __future__ import annotations

import io

import numpy as np

FRAMES = 24


def make_previews(joints: np.ndarray, frames: int = FRAMES, score: bool = False) -> list[bytes]:
    """Preprocessed joints (N, C, T, V, M) -> one serialised (F, M, V, 3) float16 array per clip.
    ``score``: the last channel is a keypoint score (dropped); 2 coordinates get z = 0."""
    out = []
    coords = joints.shape[1] - int(score)
    for clip in joints:
        clip = np.asarray(clip[:coords], dtype=np.float32)
        if coords < 3:
            clip = np.concatenate([clip, np.zeros((3 - coords, *clip.shape[1:]), np.float32)])
        idx = preview_frames(clip, frames)
        array = np.ascontiguousarray(clip[:, idx].transpose(1, 3, 2, 0)).astype(np.float16)
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        out.append(buffer.getvalue())
    return out


def preview_frames(clip: np.ndarray, frames: int = FRAMES) -> np.ndarray:
    """(C, T, V, M) preprocessed joints -> the frame indices (F,) its preview shows: up to
    ``frames`` evenly spaced over the span up to the last non-empty frame."""
    used = np.flatnonzero(np.abs(clip).sum(axis=(0, 2, 3)) > 0)
    length = int(used[-1]) + 1 if len(used) else 1
    return np.unique(np.linspace(0, length - 1, num=min(frames, length)).round().astype(int))


def load_preview(blob: bytes) -> np.ndarray:
    """A serialised preview -> float32 (F, M, V, 3)."""
    return np.load(io.BytesIO(blob), allow_pickle=False).astype(np.float32)
