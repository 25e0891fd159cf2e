"""The pose-estimator (2D) pipeline."""

from __future__ import annotations

import numpy as np
import pytest

from skeleton.clip import Clip, ClipMeta
from skeleton.errors import SkeletonError
from skeleton.layouts import get_layout
from skeleton.pipelines import (
    get_pipeline,
    pipeline_from_spec,
    preprocess_clips,
    spec_output_channels,
    spec_score_channel,
)
from skeleton.readers.arrays import read_npy
from skeleton.synthetic import synthetic_clip
from tests.conftest import shared_path

COCO = get_layout("coco17")


def _raw(seed: int = 0) -> np.ndarray:
    return synthetic_clip(seed, layout="coco17", channels="xys").joints


def test_output_does_not_depend_on_image_size_or_position() -> None:
    raw = _raw()
    run = get_pipeline("pose2d", num_frames=30)
    base = run(raw, COCO).joints
    moved = raw.copy()
    present = (raw[..., :2] != 0).any(axis=-1)
    moved[..., :2] = np.where(present[..., None], raw[..., :2] * 0.37 + [15.0, -40.0], 0.0)
    np.testing.assert_allclose(run(moved, COCO).joints, base, atol=1e-5)
    assert base.shape == (3, 30, 17, 2) and base.dtype == np.float32


def test_centre_scale_and_orientation() -> None:
    run = get_pipeline("pose2d", num_frames=60)
    result = run(_raw(3), COCO)
    x = result.joints[..., 0].transpose(1, 2, 0)  # (T, V, C) of the first person
    assert COCO.hips is not None
    hips, shoulders = list(COCO.hips), list(COCO.shoulders)
    both = (x[:, hips, 2] > 0).all(axis=1) & (x[:, shoulders, 2] > 0).all(axis=1)
    torso = np.linalg.norm(COCO.mid_shoulders(x[both, :, :2]) - COCO.mid_hips(x[both, :, :2]), axis=-1)
    assert np.median(torso) == pytest.approx(1.0, rel=0.05)  # sampled frames, so not exactly 1
    assert np.mean(COCO.mid_hips(x[both, :, :2]), axis=0) == pytest.approx([0, 0], abs=0.1)
    assert (COCO.mid_shoulders(x[both, :, :2])[:, 1] > 0).all()  # y flipped: up is positive
    assert result.info["scale"] > 0


def test_low_scores_become_missing_and_the_score_channel_is_optional() -> None:
    raw = _raw(1)
    raw[0, :, 9, 2] = 0.1  # the left wrist is never sure
    kept = get_pipeline("pose2d", score_threshold=0.2)(raw, COCO).joints
    assert not kept[:, :, 9].any()
    dropped = get_pipeline("pose2d", keep_score=False)(raw, COCO).joints
    assert dropped.shape[0] == 2
    np.testing.assert_allclose(dropped, kept[:2])
    xy = get_pipeline("pose2d", channels="xy", keep_score=False)(raw[..., :2], COCO).joints
    assert xy.shape[0] == 2 and xy[:, :, 9].any()  # without scores nothing is dropped


def test_options_are_recorded_and_checked() -> None:
    run = get_pipeline("pose2d", keep_score=False, score_threshold=0.3)
    spec = run.describe()
    assert spec == {
        "name": "pose2d", "version": "1.0", "num_frames": 50, "num_persons": 2, "max_bodies": 4,
        "channels": "xys", "keep_score": False, "score_threshold": 0.3,
    }  # fmt: skip
    assert pipeline_from_spec(spec) == run and spec_output_channels(spec) == 2
    assert (run.input_channels, run.output_channels, run.score_channel) == ("xys", 2, False)
    assert spec_score_channel(get_pipeline("pose2d").describe()) is True
    assert spec_output_channels(get_pipeline("vcl-official").describe()) == 3
    with pytest.raises(SkeletonError, match="keep_score needs a score channel"):
        get_pipeline("pose2d", channels="xy")
    with pytest.raises(SkeletonError, match="channels must be one of xy, xys"):
        get_pipeline("pose2d", channels="xyz")
    with pytest.raises(SkeletonError, match="pipeline 'pose2d': .*unexpected keyword argument 'bogus'"):
        get_pipeline("pose2d", bogus=1)
    with pytest.raises(SkeletonError, match=r"expected raw keypoints \(M, F, 17, 3\)"):
        run(np.zeros((1, 4, 17, 2)), COCO)
    with pytest.raises(SkeletonError, match="no joint scored at least 0.3"):
        run(np.full((1, 4, 17, 3), 0.1), COCO)


def test_preprocess_refuses_other_channels_naming_both() -> None:
    clip = synthetic_clip(0, layout="coco17", channels="xys")
    spec = get_pipeline("pose2d").describe()
    assert preprocess_clips([clip], "coco17", spec).shape == (1, 3, 50, 17, 2)
    xyz = synthetic_clip(0, layout="coco17")
    with pytest.raises(
        SkeletonError, match=r"channels 'xyz' \(3\) do not match the model's 'xys' \(3, pipeline pose2d\)"
    ):
        preprocess_clips([xyz], "coco17", spec)
    flat = Clip(np.ones((1, 3, 17, 2)), None, ClipMeta("mem", "m"), layout="coco17", channels="xy")
    with pytest.raises(SkeletonError, match=r"channels 'xy' \(2\) do not match the model's 'xyz' \(3"):
        preprocess_clips([flat], "coco17", get_pipeline("vcl-official").describe())


def test_real_exercise_clips() -> None:
    files = sorted(shared_path("pose_samples", "openpose18_pose_trainer", "poses_compressed").glob("*/*.npy"))
    layout = get_layout("openpose18")
    run = get_pipeline("pose2d", num_frames=40)
    out = np.stack([run(read_npy(f).joints, layout).joints for f in files])
    assert out.shape == (112, 3, 40, 18, 2) and np.isfinite(out).all()
    assert np.abs(out[:, :2]).max() < 20  # torso units, whatever the pixels
    assert not out[..., 1].any()  # one person per clip
