"""Joint, bone and motion streams in numpy (the torch versions in ``train/`` must match).

Arrays use the axis order (..., C, T, V, M): channels, frames, joints, persons. Any C works (3
for x, y, z; 2 for image x, y). With ``score=True`` the last channel is an estimator's
confidence, not a coordinate: bone and motion differentiate the coordinates only and give the
score the mean of the two joints (bone: the joint and its parent) or the two frames (motion)
involved, as PySKL does for its 2D (x, y, score) inputs.
"""

from __future__ import annotations

import numpy as np

from skeleton.layouts import Layout

STREAMS = ("joint", "bone", "motion")


def bone(x: np.ndarray, parents: tuple[int, ...], score: bool = False) -> np.ndarray:
    """bone[..., v, :] = x[..., v, :] - x[..., parent(v), :]; (..., C, T, V, M) -> same shape.

    With ``score``, channel C-1 is the mean score of v and its parent instead.
    """
    parent = x[..., list(parents), :]
    out = x - parent
    if score:
        out[..., -1, :, :, :] = 0.5 * (x[..., -1, :, :, :] + parent[..., -1, :, :, :])
    return out


def motion(x: np.ndarray, score: bool = False) -> np.ndarray:
    """motion[..., t, :, :] = x[t + 1] - x[t], last frame zero; (..., C, T, V, M) -> same shape.

    With ``score``, channel C-1 is the mean score of frames t and t + 1 instead (last frame zero).
    """
    out = np.zeros_like(x)
    out[..., :-1, :, :] = x[..., 1:, :, :] - x[..., :-1, :, :]
    if score:
        out[..., -1, :-1, :, :] = 0.5 * (x[..., -1, 1:, :, :] + x[..., -1, :-1, :, :])
    return out


def derive_stream(x: np.ndarray, layout: Layout, stream: str, score: bool = False) -> np.ndarray:
    """One stream of joints x (..., C, T, V, M) by name; ``score``: the last channel is a score."""
    if stream == "joint":
        return x
    if stream == "bone":
        return bone(x, layout.parents, score)
    if stream == "motion":
        return motion(x, score)
    raise ValueError(f"unknown stream {stream!r}; known streams: {', '.join(STREAMS)}")


def derive_streams(
    x: np.ndarray, layout: Layout, streams: tuple[str, ...] = STREAMS, score: bool = False
) -> dict[str, np.ndarray]:
    """Every requested stream of joints x (..., C, T, V, M), keyed by stream name."""
    return {name: derive_stream(x, layout, name, score) for name in streams}
