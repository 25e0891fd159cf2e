"""One synthetic motion in every layout, in 3D and through a camera as estimator output."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from skeleton.errors import SkeletonError
from skeleton.layouts import LAYOUTS, NTU, get_layout
from skeleton.prepare import prepare_dataset
from skeleton.render import as_layout, camera_view, project
from skeleton.synthetic import synthetic_clip
from tests.conftest import shared_path


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_every_layout_gets_the_same_motion(layout: str) -> None:
    ntu = synthetic_clip(7, seed=4)
    clip = synthetic_clip(7, seed=4, layout=layout)
    target = get_layout(layout)
    assert clip.joints.shape == (2, ntu.num_frames, target.num_joints, 3) and clip.layout == layout
    assert (clip.label, clip.meta) == (ntu.label, ntu.meta)
    shared = [n for n in target.joints if n in NTU.joints and layout not in ("msr",)]
    for name in shared:  # joints of the same name are the same points (msr: mirrored names)
        np.testing.assert_array_equal(
            clip.joints[:, :, target.index(name)], ntu.joints[:, :, NTU.index(name)]
        )
    assert not clip.joints[1].any()  # one-person class: the second slot stays empty


def test_estimator_extras_sit_where_they_belong() -> None:
    x = synthetic_clip(0, seed=0).joints[0]  # (T, 25, 3), metres
    coco = as_layout(x, "coco17")
    head = x[:, NTU.index("head")]
    for name in ("nose", "left_eye", "right_eye", "left_ear", "right_ear"):
        assert np.linalg.norm(coco[:, get_layout("coco17").index(name)] - head, axis=-1).max() < 0.13
    ears = coco[:, [3, 4]]
    assert np.linalg.norm(ears[:, 0] - ears[:, 1], axis=-1).mean() == pytest.approx(0.15, abs=0.03)
    op = as_layout(x, "openpose25")
    mid_hip = op[:, get_layout("openpose25").index("mid_hip")]
    np.testing.assert_allclose(mid_hip, NTU.mid_hips(x))


def test_2d_rendering_has_estimator_defects() -> None:
    clip = synthetic_clip(3, seed=0, layout="coco17", channels="xys")
    assert clip.channels == "xys" and clip.meta.extra["units"] == "pixels"
    person = clip.joints[0]
    dropped = (person == 0).all(axis=-1).mean()
    weak = ((person[..., 2] > 0) & (person[..., 2] < 0.3)).mean()
    assert 0.01 < dropped < 0.1 and 0.02 < weak < 0.12
    seen = person[person[..., 2] > 0]
    assert (seen[:, 0] > 0).all() and (seen[:, 0] < 1280).all() and (seen[:, 1] < 720).all()
    head = get_layout("coco17").index("nose")
    ankle = get_layout("coco17").index("left_ankle")
    sure = (person[:, head, 2] > 0.5) & (person[:, ankle, 2] > 0.5)
    assert (person[sure, head, 1] < person[sure, ankle, 1]).all()  # image y points down
    xy = synthetic_clip(3, seed=0, layout="coco17", channels="xy")
    assert xy.joints.shape[-1] == 2 and xy.channels == "xy"
    np.testing.assert_array_equal(xy.joints, clip.joints[..., :2])


def test_projection_by_hand() -> None:
    rng = np.random.default_rng(0)
    points = np.array([[[[0.0, 0.0, 2.0], [0.5, 0.3, 2.0], [0.0, 0.0, -1.0]]]])
    out = project(points, rng, focal=500.0, noise_px=0.0, drop=0.0, low=0.0)
    np.testing.assert_allclose(out[0, 0, 0, :2], [640.0, 360.0])
    np.testing.assert_allclose(out[0, 0, 1, :2], [640.0 - 125.0, 360.0 - 75.0])  # x to the camera's left
    assert not out[0, 0, 2].any()  # behind the camera: not detected
    assert 0.6 <= out[0, 0, 0, 2] <= 1.0


def test_bad_channels_are_refused() -> None:
    with pytest.raises(ValueError, match="channels must be xyz, xys or xy"):
        synthetic_clip(0, channels="xyzs")


def test_camera_view_of_a_capture_by_hand() -> None:
    joints = np.zeros((1, 2, 3, 3))
    joints[0, :, 0] = [0.0, 0.0, 2.0]  # on the optical axis
    joints[0, :, 1] = [0.5, 0.3, 2.5]  # x to the camera's left, y up
    joints[0, 1, 2] = [0.0, 0.0, 0.05]  # joint 2: absent in frame 0, too close in frame 1
    clip = replace(synthetic_clip(0, seed=0), joints=joints, layout="kinect_v1")
    view = camera_view(clip)
    assert view.channels == "xys" and view.joints.shape == (1, 2, 3, 3)
    np.testing.assert_allclose(view.joints[0, 0, 0], [320.0, 240.0, 1.0])
    np.testing.assert_allclose(view.joints[0, 0, 1], [320.0 - 525 * 0.2, 240.0 - 525 * 0.12, 1.0])
    assert not view.joints[0, :, 2].any()  # absent and too close: (0, 0, 0), not a score-1 point
    with pytest.raises(SkeletonError, match="a camera view needs 'xyz'"):
        camera_view(view)
    with pytest.raises(SkeletonError, match="no joint lies in front of the camera"):
        camera_view(replace(clip, joints=-np.abs(joints) - 1))


def test_prepare_project_2d_records_the_camera(tmp_path: Path) -> None:
    data = tmp_path / "utd2d"
    root = shared_path("utd_mhad")
    manifest = prepare_dataset(
        "utd-mhad", root, data, pipeline="pose2d", pipeline_options={"keep_score": False},
        project_2d=True, workers=1, progress=False,
    )  # fmt: skip
    assert manifest["camera"] == {"model": "pinhole", "focal_px": 525.0, "size_px": [640, 480], "noise": None}
    assert (manifest["channels"], manifest["input_channels"], manifest["num_samples"]) == ("xys", 2, 861)
    joints = np.load(data / "joints.npy")
    assert joints.shape == (861, 2, 50, 20, 2) and np.isfinite(joints).all()
    hips = get_layout("kinect_v1").hips
    assert hips is not None
    mid = joints[:, :, :, list(hips), 0].mean(axis=(2, 3))  # pose2d centres on the mid-hips
    assert np.abs(mid).max() < 0.5
