"""Previews hold three coordinates whatever the model's input channels."""

from __future__ import annotations

import numpy as np

from index.preview import load_preview, make_previews


def test_previews_drop_the_score_and_flatten_2d() -> None:
    rng = np.random.default_rng(0)
    xys = rng.uniform(0.5, 1.0, size=(2, 3, 30, 17, 1)).astype(np.float32)  # (N, C, T, V, M)
    frames = load_preview(make_previews(xys, frames=6, score=True)[1])  # (F, M, V, 3)
    assert frames.shape == (6, 1, 17, 3)
    idx = np.linspace(0, 29, 6).round().astype(int)
    np.testing.assert_allclose(frames[..., :2], xys[1, :2][:, idx].transpose(1, 3, 2, 0), atol=1e-3)
    assert not frames[..., 2].any()  # the score is not drawn as depth
    xy = load_preview(make_previews(xys[:, :2], frames=6)[0])
    np.testing.assert_array_equal(xy, load_preview(make_previews(xys, frames=6, score=True)[0]))
    xyz = load_preview(make_previews(xys, frames=6)[0])  # a 3D clip keeps its z
    np.testing.assert_allclose(xyz[..., 2], xys[0, 2][idx].transpose(0, 2, 1), atol=1e-3)  # (F, M, V)
