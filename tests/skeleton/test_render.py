"""One synthetic motion in every layout, in 3D and through a camera as estimator output."""

from __future__ import annotations

import numpy as np
import pytest

from skeleton.layouts import LAYOUTS, NTU, get_layout
from skeleton.render import as_layout, project
from skeleton.synthetic import synthetic_clip


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
