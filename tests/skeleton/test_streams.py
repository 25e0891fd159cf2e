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
