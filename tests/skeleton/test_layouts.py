from __future__ import annotations

import numpy as np
import pytest

from skeleton.errors import LayoutError
from skeleton.graph import spatial_partition
from skeleton.layouts import LAYOUTS, NTU, Layout, get_layout

# The official VCL bone pairs (v, parent), 1-based, from the authors' README.
OFFICIAL_BONES = [
    (1, 2), (2, 21), (3, 21), (4, 3), (5, 21), (6, 5), (7, 6), (8, 7), (9, 21), (10, 9), (11, 10),
    (12, 11), (13, 1), (14, 13), (15, 14), (16, 15), (17, 1), (18, 17), (19, 18), (20, 19), (21, 21),
    (22, 23), (23, 8), (24, 25), (25, 12),
]  # fmt: skip


def test_ntu_parents_are_the_official_bone_pairs() -> None:
    assert NTU.parents == tuple(u - 1 for _, u in OFFICIAL_BONES)


def test_ntu_centre_and_named_joints() -> None:
    assert NTU.joints[NTU.center] == "spine_shoulder"
    assert NTU.joints[NTU.origin] == "spine_mid"
    assert [NTU.joints[j] for j in NTU.spine] == ["spine_base", "spine_mid"]
    assert [NTU.joints[j] for j in NTU.shoulders] == ["left_shoulder", "right_shoulder"]


@pytest.mark.parametrize("layout", LAYOUTS.values(), ids=list(LAYOUTS))
def test_layout_is_a_tree_rooted_at_its_centre(layout: Layout) -> None:
    v = layout.num_joints
    assert len(set(layout.joints)) == v
    assert len(layout.edges) == v - 1
    assert layout.parents[layout.center] == layout.center
    for joint in range(v):  # every joint reaches the centre by following parents
        seen = 0
        while joint != layout.center:
            joint = layout.parents[joint]
            seen += 1
            assert seen < v
    edge_set = {frozenset(e) for e in layout.edges}
    assert all(frozenset((j, p)) in edge_set for j, p in enumerate(layout.parents) if j != p)


@pytest.mark.parametrize("layout", LAYOUTS.values(), ids=list(LAYOUTS))
def test_named_joints_mean_what_they_say(layout: Layout) -> None:
    left, right = (layout.joints[j] for j in layout.shoulders)
    assert "shoulder" in left and "shoulder" in right
    lower, upper = (layout.joints[j] for j in layout.spine)
    assert "hip" in lower or "base" in lower
    assert "spine" in upper or (layout.estimator and upper in ("nose", "neck"))
    assert layout.hips is not None
    left_hip, right_hip = (layout.joints[j] for j in layout.hips)
    assert "hip" in left_hip and "hip" in right_hip
    # left/right agree with the shoulders (msr: both pairs mirrored the same way)
    assert left.split("_")[0] == left_hip.split("_")[0] and right.split("_")[0] == right_hip.split("_")[0]


# Per-layout shape facts (MMAction2-style): joint count, centre, edge count, joints with most
# neighbours, from the estimators' own documentation (see the module docstring of layouts.py).
ESTIMATOR_FACTS = {
    "coco17": (17, "nose", {"nose": 4, "left_shoulder": 3, "right_hip": 2, "left_ankle": 1}),
    "openpose18": (18, "neck", {"neck": 3, "nose": 3, "right_hip": 2, "left_ear": 1}),
    "openpose25": (25, "neck", {"neck": 4, "mid_hip": 3, "left_ankle": 3, "right_heel": 1}),
    "mediapipe33": (33, "nose", {"nose": 6, "left_wrist": 4, "left_ankle": 3, "right_foot_index": 1}),
}


@pytest.mark.parametrize("name", sorted(ESTIMATOR_FACTS))
def test_estimator_layout_shape(name: str) -> None:
    layout = get_layout(name)
    count, centre, degrees = ESTIMATOR_FACTS[name]
    assert layout.estimator and layout.num_joints == count
    assert layout.joints[layout.center] == centre
    for joint, degree in degrees.items():
        j = layout.index(joint)
        assert sum(j in edge for edge in layout.edges) == degree, joint
    a = spatial_partition(layout)
    np.testing.assert_allclose(a.sum(axis=(0, 1)), 1.0, rtol=1e-6)
    # the centre's neighbours all lie further out: the centre sends to them through A2 (sender
    # closer to the centre) and they send to it through A1 (sender not closer)
    for a_, b_ in layout.edges:
        if layout.center in (a_, b_):
            other = b_ if a_ == layout.center else a_
            assert a[2, layout.center, other] > 0 and a[1, other, layout.center] > 0


def test_estimator_layouts_follow_the_documented_joint_orders() -> None:
    # the orders in ../shared/data/pose_samples/README.md
    assert get_layout("openpose18").joints[:5] == (
        "nose",
        "neck",
        "right_shoulder",
        "right_elbow",
        "right_wrist",
    )
    assert get_layout("openpose18").joints[14:] == ("right_eye", "left_eye", "right_ear", "left_ear")
    assert get_layout("coco17").joints[5:7] == ("left_shoulder", "right_shoulder")
    assert get_layout("openpose25").joints[8] == "mid_hip"
    mp = get_layout("mediapipe33")
    assert [mp.joints[i] for i in (0, 11, 12, 15, 16, 23, 24, 29, 31)] == [
        "nose", "left_shoulder", "right_shoulder", "left_wrist", "right_wrist", "left_hip", "right_hip",
        "left_heel", "left_foot_index",
    ]  # fmt: skip
    # COCO-18 is COCO-17 plus a neck: the same 17 names
    assert set(get_layout("openpose18").joints) - set(get_layout("coco17").joints) == {"neck"}


def test_mid_points() -> None:
    x = np.zeros((2, 17, 2))
    layout = get_layout("coco17")
    assert layout.hips is not None
    x[:, layout.hips[0]], x[:, layout.hips[1]] = (1.0, 2.0), (3.0, 4.0)
    x[:, layout.shoulders[0]], x[:, layout.shoulders[1]] = (0.0, 10.0), (2.0, 10.0)
    np.testing.assert_allclose(layout.mid_hips(x), [[2.0, 3.0]] * 2)
    np.testing.assert_allclose(layout.mid_shoulders(x), [[1.0, 10.0]] * 2)
    with pytest.raises(LayoutError, match="names no hip joints"):
        Layout("bare", ("a", "b"), ((0, 1),), center=0, origin=0, spine=(0, 1), shoulders=(0, 1)).mid_hips(x)


def test_unknown_layout_lists_the_known_ones() -> None:
    with pytest.raises(LayoutError, match="known layouts: ntu, kinect_v1, msr, coco17, openpose18"):
        get_layout("openpose")


def test_layout_rejects_out_of_range_joints() -> None:
    with pytest.raises(LayoutError, match=r"joint ids \[3\] outside 0..2"):
        Layout("bad", ("a", "b", "c"), ((0, 1), (1, 3)), center=1, origin=1, spine=(0, 1), shoulders=(0, 2))


def test_disconnected_layout_is_refused() -> None:
    with pytest.raises(LayoutError, match="joint 2 is not connected"):
        Layout("bad", ("a", "b", "c"), ((0, 1),), center=1, origin=1, spine=(0, 1), shoulders=(0, 1))
