"""skeletonclr pipeline: centring, vertical-axis alignment, frame resizing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skeleton.layouts import LAYOUTS, NTU, Layout
from skeleton.pipelines import get_pipeline
from skeleton.pipelines.skeletonclr import nearest_fill, resize_frames, vertical_rotation
from skeleton.readers.ntu import read_ntu_skeleton


def test_resize_is_linear_interpolation() -> None:
    x = np.arange(5, dtype=float)[:, None] * 2.0  # a ramp over 5 frames
    out, pos = resize_frames(x, 9)
    np.testing.assert_allclose(pos, np.arange(9) / 2)
    np.testing.assert_allclose(out[:, 0], np.arange(9) * 1.0)
    single, _ = resize_frames(np.ones((1, 3)), 4)
    np.testing.assert_array_equal(single, np.ones((4, 3)))


def test_nearest_fill() -> None:
    values = np.arange(6.0)
    present = np.array([False, True, False, False, True, False])
    assert nearest_fill(values, present).tolist() == [1, 1, 1, 4, 4, 4]


def test_vertical_rotation_keeps_height_and_levels_the_shoulders() -> None:
    u = np.array([0.3, 0.7, -0.4])
    rot = vertical_rotation(u, up_axis=1)
    v = rot @ u
    assert (
        v[0] == pytest.approx(np.hypot(0.3, 0.4)) and v[1] == pytest.approx(0.7) and v[2] == pytest.approx(0)
    )
    assert np.linalg.det(rot) == pytest.approx(1.0)
    np.testing.assert_array_equal(vertical_rotation(np.array([0.0, 1.0, 0.0]), 1), np.eye(3))
    for axis in (0, 2):
        w = vertical_rotation(u, up_axis=axis) @ u
        assert w[axis] == pytest.approx(u[axis]) and np.linalg.det(
            vertical_rotation(u, axis)
        ) == pytest.approx(1)


def test_empty_frames_are_dropped_and_the_rest_resized() -> None:
    joints = np.zeros((1, 12, 25, 3))
    ramp = np.linspace(0, 1, 10)
    joints[0, 2:, :, 0] = ramp[:, None] + np.arange(25) * 0.01  # frames 0-1 empty
    joints[0, 2:, :, 1] = 1.0 + np.arange(25) * 0.02
    result = get_pipeline("skeletonclr", num_frames=19)(joints, NTU)
    assert result.info["valid_frames"] == 10
    np.testing.assert_allclose(result.frame_indices, 2 + np.arange(19) / 2)
    assert result.joints.shape == (3, 19, 25, 2)
    assert (np.abs(result.joints[..., 0]).sum(axis=(0, 2)) > 0).all()


def test_two_people_share_one_frame_of_reference(ntu_samples: list[Path]) -> None:
    clip = read_ntu_skeleton(ntu_samples[1])  # A058 handshaking, two people
    result = get_pipeline("skeletonclr")(clip.joints, NTU)
    x = result.joints  # (3, T, V, M)
    assert not x[:, :, NTU.origin, 0].any()  # first person centred on its own spine
    left, right = NTU.shoulders
    assert x[0, 0, right, 0] - x[0, 0, left, 0] > 0
    assert abs(x[2, 0, right, 0] - x[2, 0, left, 0]) < 1e-6  # shoulders level with the x axis
    # one rigid motion for both: the distance between the two spines is kept
    raw = clip.joints[result.body_slots]
    raw_gap = np.linalg.norm(raw[0, 0, NTU.origin] - raw[1, 0, NTU.origin])
    assert np.linalg.norm(x[:, 0, NTU.origin, 0] - x[:, 0, NTU.origin, 1]) == pytest.approx(raw_gap, rel=1e-5)
    # the vertical coordinate is only shifted, never rotated
    np.testing.assert_allclose(x[1, 0, :, 0], raw[0, 0, :, 1] - raw[0, 0, NTU.origin, 1], atol=1e-6)


def test_second_person_missing_in_some_frames_stays_zero_there() -> None:
    rng = np.random.default_rng(0)
    joints = rng.normal(size=(2, 50, 25, 3)) + 2
    joints[1, 10:20] = 0
    result = get_pipeline("skeletonclr")(joints, NTU)
    slot_of_second = int(np.flatnonzero(result.body_slots == 1)[0])
    assert not result.joints[:, 10:20, :, slot_of_second].any()
    assert result.joints[:, 21:, :, slot_of_second].any()


@pytest.mark.parametrize("layout", LAYOUTS.values(), ids=list(LAYOUTS))
def test_every_layout(layout: Layout) -> None:
    joints = np.random.default_rng(1).normal(size=(1, 37, layout.num_joints, 3))
    result = get_pipeline("skeletonclr")(joints, layout)
    assert result.joints.shape == (3, 50, layout.num_joints, 2) and result.joints.dtype == np.float32
    assert not result.joints[:, :, layout.origin, 0].any()


def test_nearest_fill_without_any_present_frame_is_a_no_op() -> None:
    values = np.arange(4.0)
    assert nearest_fill(values, np.zeros(4, dtype=bool)).tolist() == [0, 1, 2, 3]


def test_unknown_pipeline_lists_the_known_ones() -> None:
    from skeleton.errors import SkeletonError

    with pytest.raises(
        SkeletonError, match="unknown pipeline 'pyskl'; known pipelines: vcl-official, skeletonclr"
    ):
        get_pipeline("pyskl")
