"""vcl-official pipeline: parity with the authors' code, and every branch it has."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skeleton.layouts import LAYOUTS, NTU, Layout
from skeleton.pipelines import get_pipeline
from skeleton.pipelines.base import rotation_onto, select_bodies
from skeleton.pipelines.vcl_official import pre_transform_person, sample_frames
from skeleton.readers.ntu import read_ntu_skeleton
from skeleton.streams import derive_streams


def test_reproduces_the_official_inputs(ntu_samples: list[Path], reference: dict) -> None:
    pipeline = get_pipeline("vcl-official")
    for i, path in enumerate(ntu_samples):
        clip = read_ntu_skeleton(path)
        assert clip.meta.name == reference["names"][i]
        result = pipeline(clip.joints, NTU)
        np.testing.assert_array_equal(result.frame_indices, reference["frame_indices"][i])
        np.testing.assert_array_equal(result.body_slots, reference["body_slots"][i])
        slots = np.zeros((4, *clip.joints.shape[1:]))
        slots[: len(clip.joints)] = clip.joints
        before = slots[result.body_slots][:, result.frame_indices].transpose(3, 1, 2, 0)
        np.testing.assert_allclose(before, reference["joint_before_pretransform"][i], atol=1e-6)
        assert result.joints.dtype == np.float32 and result.joints.shape == (3, 50, 25, 2)
        for stream, values in derive_streams(result.joints, NTU).items():
            np.testing.assert_allclose(values, reference[f"inputs_{stream}"][i], atol=1e-5, rtol=0)


def test_sample_frames_closed_forms() -> None:
    assert sample_frames(99, 50).tolist() == [2 * k for k in range(50)]
    assert sample_frames(50, 50).tolist() == list(range(50))
    assert sample_frames(20, 50).tolist() == list(range(20)) * 2 + list(range(10))
    assert sample_frames(1, 50).tolist() == [0] * 50
    idx = sample_frames(82, 50)
    assert idx[-1] == 81 and idx[1] == 1 and idx[2] == 3  # floor(k * 81 / 49)


def test_short_clip_is_tiled() -> None:
    joints = np.random.default_rng(0).normal(size=(1, 7, 25, 3)) + 1
    result = get_pipeline("vcl-official")(joints, NTU)
    assert result.frame_indices.tolist() == list(range(7)) * 7 + [0]
    np.testing.assert_allclose(result.joints[:, 7], result.joints[:, 0])
    np.testing.assert_allclose(result.joints[:, 49], result.joints[:, 0])


def _bodies(stds: list[float], frames: int = 10) -> np.ndarray:
    rng = np.random.default_rng(1)
    out = np.zeros((len(stds), frames, 25, 3))
    for m, s in enumerate(stds):
        if s:
            out[m] = 1 + s * rng.standard_normal((frames, 25, 3))
    return out


def test_more_than_two_bodies_keeps_the_two_most_active() -> None:
    chosen, slots = select_bodies(_bodies([0.1, 0.5, 0.0, 0.3]), num_persons=2, max_bodies=4)
    assert slots.tolist() == [1, 3]
    # a fifth body is never considered, however active
    _, slots = select_bodies(_bodies([0.1, 0.5, 0.0, 0.3, 9.0]), num_persons=2, max_bodies=4)
    assert slots.tolist() == [1, 3]
    assert chosen.shape == (2, 10, 25, 3)


def test_one_body_pairs_with_the_last_empty_slot() -> None:
    _, slots = select_bodies(_bodies([0.2]), num_persons=2, max_bodies=4)
    assert slots.tolist() == [0, 3]  # stable ascending sort of (s, 0, 0, 0), reversed


def test_activity_ignores_absent_frames() -> None:
    bodies = _bodies([0.3, 0.4])
    bodies[0, 5:] = 0  # counted as data, these zeros would make body 0 look the most active
    _, slots = select_bodies(bodies, num_persons=2, max_bodies=4)
    assert slots.tolist() == [1, 0]


def test_missing_body_frames_are_compacted_cyclically() -> None:
    p = (np.arange(6)[:, None, None] + 1 + np.zeros((6, 25, 3))).astype(np.float32)
    p[:, :, 0] += np.arange(25)  # give the skeleton some shape
    p[[1, 4]] = 0  # the body is missing in frames 1 and 4
    out = pre_transform_person(p, NTU)
    valid = [0, 2, 3, 5]
    # frame t takes valid[t mod 4]; centring removes the per-frame offset, so compare x spread
    expected = p[[valid[t % 4] for t in range(6)]]
    expected = expected - expected[:, NTU.origin : NTU.origin + 1]
    np.testing.assert_allclose(np.linalg.norm(out, axis=2), np.linalg.norm(expected, axis=2), atol=1e-5)
    assert (out.sum(axis=(1, 2)) != 0).all()


def test_absent_person_stays_zero() -> None:
    joints = np.zeros((2, 60, 25, 3))
    joints[0] = np.random.default_rng(2).normal(size=(60, 25, 3))
    result = get_pipeline("vcl-official")(joints, NTU)
    assert not result.joints[..., 1].any()
    assert result.joints[..., 0].any()


def test_centring_and_alignment_invariants() -> None:
    rng = np.random.default_rng(3)
    joints = rng.normal(size=(2, 80, 25, 3))
    joints[:, :, 7] = 0  # an untracked joint stays exactly zero (masked)
    processed = get_pipeline("vcl-official")(joints, NTU)
    result = processed.joints  # (3, T, V, M)
    assert not result[:, :, NTU.origin].any()
    assert not result[:, :, 7].any()
    for m in range(2):
        left, right = NTU.shoulders
        shoulder = result[:, 0, right, m] - result[:, 0, left, m]
        assert shoulder[0] > 0
        np.testing.assert_allclose(shoulder[1:], 0, atol=1e-5)
    # rotations preserve every bone length
    raw = joints[processed.body_slots][:, sample_frames(80, 50)]
    raw_len = np.linalg.norm(raw - raw[:, :, list(NTU.parents)], axis=-1)
    out = result.transpose(3, 1, 2, 0)
    out_len = np.linalg.norm(out - out[:, :, list(NTU.parents)], axis=-1)
    unmasked = [v for v in range(25) if v != 7 and NTU.parents[v] != 7]
    np.testing.assert_allclose(out_len[:, :, unmasked], raw_len[:, :, unmasked], atol=1e-5)


def test_spine_ends_near_z_on_a_real_body(ntu_samples: list[Path]) -> None:
    clip = read_ntu_skeleton(ntu_samples[0])
    out = pre_transform_person(clip.joints[0, :50].astype(np.float32), NTU)
    lower, upper = NTU.spine
    spine = out[0, upper] - out[0, lower]
    # on +z after the first turn; the shoulder turn (not about z) tilts it a little, ~2 cm in x
    assert spine[2] > 0.99 * np.linalg.norm(spine)
    assert 0.005 < abs(spine[0]) < 0.05


def test_rotation_onto_closed_forms() -> None:
    np.testing.assert_allclose(
        rotation_onto(np.array([0.0, 1, 0]), np.array([0.0, 0, 1])),
        np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]]),
        atol=1e-12,
    )  # +90 deg about x
    np.testing.assert_array_equal(rotation_onto(np.array([0.0, 0, 2]), np.array([0.0, 0, 1])), np.eye(3))
    np.testing.assert_array_equal(rotation_onto(np.zeros(3), np.array([1.0, 0, 0])), np.eye(3))
    # the official rule: an anti-parallel vector has a zero axis, so it is left alone
    np.testing.assert_array_equal(rotation_onto(np.array([-1.0, 0, 0]), np.array([1.0, 0, 0])), np.eye(3))
    u = np.random.default_rng(5).normal(size=3)
    rot = rotation_onto(u, np.array([0.0, 0, 1]))
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(rot) == pytest.approx(1.0)
    np.testing.assert_allclose(rot @ u, np.array([0, 0, np.linalg.norm(u)]), atol=1e-12)


@pytest.mark.parametrize("layout", LAYOUTS.values(), ids=list(LAYOUTS))
def test_every_layout(layout: Layout) -> None:
    joints = np.random.default_rng(6).normal(size=(1, 33, layout.num_joints, 3))
    result = get_pipeline("vcl-official", num_frames=40)(joints, layout)
    assert result.joints.shape == (3, 40, layout.num_joints, 2)
    assert not result.joints[:, :, layout.origin].any()
    left, right = layout.shoulders
    np.testing.assert_allclose(result.joints[1:, 0, right, 0] - result.joints[1:, 0, left, 0], 0, atol=1e-5)
