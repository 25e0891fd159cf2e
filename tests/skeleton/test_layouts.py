from __future__ import annotations

import pytest

from skeleton.errors import LayoutError
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
    assert "spine" in upper


def test_unknown_layout_lists_the_known_ones() -> None:
    with pytest.raises(LayoutError, match="known layouts: ntu, kinect_v1, msr"):
        get_layout("openpose")


def test_layout_rejects_out_of_range_joints() -> None:
    with pytest.raises(LayoutError, match=r"joint ids \[3\] outside 0..2"):
        Layout("bad", ("a", "b", "c"), ((0, 1), (1, 3)), center=1, origin=1, spine=(0, 1), shoulders=(0, 2))


def test_disconnected_layout_is_refused() -> None:
    with pytest.raises(LayoutError, match="joint 2 is not connected"):
        Layout("bad", ("a", "b", "c"), ((0, 1),), center=1, origin=1, spine=(0, 1), shoulders=(0, 1))
