"""Joint, bone and motion streams in numpy (the torch versions in ``train/`` must match).

Arrays use the axis order (..., C, T, V, M): channels, frames, joints, persons.
"""

from __future__ import annotations

import numpy as np

from skeleton.layouts import Layout

STREAMS = ("joint", "bone", "motion")


def bone(x: np.ndarray, parents: tuple[int, ...]) -> np.ndarray:
    """bone[..., v, :] = x[..., v, :] - x[..., parent(v), :]; (..., C, T, V, M) -> same shape."""
    return x - x[..., list(parents), :]


def motion(x: np.ndarray) -> np.ndarray:
    """motion[..., t, :, :] = x[t + 1] - x[t], last frame zero; (..., C, T, V, M) -> same shape."""
    out = np.zeros_like(x)
    out[..., :-1, :, :] = x[..., 1:, :, :] - x[..., :-1, :, :]
    return out


def derive_stream(x: np.ndarray, layout: Layout, stream: str) -> np.ndarray:
    """One stream of joints x (..., C, T, V, M) by name."""
    if stream == "joint":
        return x
    if stream == "bone":
        return bone(x, layout.parents)
    if stream == "motion":
        return motion(x)
    raise ValueError(f"unknown stream {stream!r}; known streams: {', '.join(STREAMS)}")


def derive_streams(
    x: np.ndarray, layout: Layout, streams: tuple[str, ...] = STREAMS
) -> dict[str, np.ndarray]:
    """Every requested stream of joints x (..., C, T, V, M), keyed by stream name."""
    return {name: derive_stream(x, layout, name) for name in streams}
