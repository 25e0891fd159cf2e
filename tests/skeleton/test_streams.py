from __future__ import annotations

import numpy as np
import pytest

from skeleton.layouts import NTU, Layout
from skeleton.streams import bone, derive_stream, derive_streams, motion

CHAIN = Layout("chain", ("a", "b", "c"), ((0, 1), (1, 2)), center=1, origin=1, spine=(0, 1), shoulders=(0, 2))


def test_bone_by_hand() -> None:
    x = np.zeros((3, 1, 3, 1))
    x[:, 0, :, 0] = [[1, 2, 4], [0, 0, 0], [0, 0, 0]]  # x coordinates of joints a, b, c
    b = bone(x, CHAIN.parents)  # parents: a -> b, b -> b, c -> b
    assert b[0, 0, :, 0].tolist() == [-1, 0, 2]


def test_motion_by_hand() -> None:
    x = np.arange(4, dtype=float).reshape(1, 4, 1, 1) ** 2  # 0, 1, 4, 9
    assert motion(x)[0, :, 0, 0].tolist() == [1, 3, 5, 0]


def test_streams_with_a_batch_axis() -> None:
    x = np.random.default_rng(0).normal(size=(4, 3, 6, 25, 2))
    streams = derive_streams(x, NTU)
    assert list(streams) == ["joint", "bone", "motion"]
    single = derive_streams(x[2], NTU)
    for name in streams:
        np.testing.assert_array_equal(streams[name][2], single[name])
    assert not streams["bone"][:, :, :, NTU.center].any()
    assert not streams["motion"][:, :, -1].any()


def test_unknown_stream() -> None:
    with pytest.raises(ValueError, match="unknown stream 'accel'; known streams: joint, bone, motion"):
        derive_stream(np.zeros((3, 2, 25, 1)), NTU, "accel")


def test_two_channel_streams_differentiate_both_coordinates() -> None:
    x = np.random.default_rng(1).normal(size=(2, 5, 3, 1))
    b, m = bone(x, CHAIN.parents), motion(x)
    np.testing.assert_allclose(b[:, :, 0], x[:, :, 0] - x[:, :, 1])
    np.testing.assert_allclose(m[:, :-1], x[:, 1:] - x[:, :-1])


def test_score_channel_is_averaged_not_differentiated() -> None:
    x = np.zeros((3, 2, 3, 1))  # (x, y, score), 2 frames, joints a, b, c
    x[0, 0, :, 0] = [1, 2, 4]
    x[2, 0, :, 0] = [0.2, 0.6, 1.0]
    x[2, 1, :, 0] = [0.4, 0.8, 0.0]
    b = bone(x, CHAIN.parents, score=True)
    assert b[0, 0, :, 0].tolist() == [-1, 0, 2]
    np.testing.assert_allclose(b[2, 0, :, 0], [0.4, 0.6, 0.8])  # mean with parent b (0.6)
    m = motion(x, score=True)
    np.testing.assert_allclose(m[2, 0, :, 0], [0.3, 0.7, 0.5])
    assert not m[:, 1].any()
    np.testing.assert_array_equal(derive_stream(x, CHAIN, "motion", score=True), m)
    assert derive_streams(x, CHAIN, score=True)["bone"].tolist() == b.tolist()
