"""Layout mappings, checked on the synthetic generator (one motion rendered in every layout)."""

from __future__ import annotations

import numpy as np
import pytest

from skeleton.clip import Clip, ClipMeta
from skeleton.errors import LayoutError
from skeleton.layouts import NTU, get_layout
from skeleton.mapping import MAPPINGS, Mapping, apply_mapping, map_clip, mapping_path, mix, same
from skeleton.synthetic import synthetic_clip

SOURCES = ["coco17", "openpose18", "openpose25", "mediapipe33", "kinect_v1", "msr"]


@pytest.mark.parametrize("source", SOURCES)
def test_mapped_3d_clip_matches_the_ntu_clip_of_the_same_motion(source: str) -> None:
    ntu = synthetic_clip(14, seed=2)  # a two-person handshake
    mapped = map_clip(synthetic_clip(14, seed=2, layout=source), "ntu")
    assert mapped.mapped_from == source and mapped.clip.layout == "ntu"
    assert mapped.clip.meta.extra["mapped_from"] == source
    x, y = mapped.clip.joints, ntu.joints
    assert x.shape == y.shape
    direct = [v for v, name in enumerate(NTU.joints) if name not in mapped.synthesised]
    np.testing.assert_allclose(x[:, :, direct], y[:, :, direct], atol=1e-9)  # the same body points
    err = np.linalg.norm(x - y, axis=-1)[:2].mean(axis=(0, 1))  # per joint, metres
    for v in range(NTU.num_joints):
        assert err[v] < 0.13, (NTU.joints[v], err[v])  # stand-ins stay within a hand's length


def test_synthesised_joints_are_reported() -> None:
    coco = map_clip(synthetic_clip(0, layout="coco17"), "ntu")
    assert set(coco.synthesised) == {
        "spine_base", "spine_mid", "spine_shoulder", "neck", "head", "left_hand", "right_hand",
        "left_hand_tip", "right_hand_tip", "left_thumb", "right_thumb", "left_foot", "right_foot",
    }  # fmt: skip
    assert map_clip(synthetic_clip(0, layout="openpose18"), "ntu").synthesised == coco.synthesised
    mp = map_clip(synthetic_clip(0, layout="mediapipe33"), "ntu")
    assert "left_thumb" not in mp.synthesised and "left_hand" in mp.synthesised
    assert map_clip(synthetic_clip(0, layout="kinect_v1"), "ntu").synthesised == (
        "neck", "left_hand_tip", "left_thumb", "right_hand_tip", "right_thumb",
    )  # fmt: skip
    same_layout = map_clip(synthetic_clip(0), "ntu")
    assert same_layout.synthesised == () and "mapped_from" not in same_layout.clip.meta.extra


def test_mapped_2d_clip_matches_on_corresponding_joints() -> None:
    ntu = synthetic_clip(5, seed=1, channels="xys").joints[0]
    coco = map_clip(synthetic_clip(5, seed=1, layout="coco17", channels="xys"), "ntu")
    assert coco.clip.channels == "xys"
    x = coco.clip.joints[0]
    direct = [v for v, name in enumerate(NTU.joints) if name not in coco.synthesised]
    sure = (x[..., direct, 2] > 0.5) & (ntu[..., direct, 2] > 0.5)
    gap = np.linalg.norm(x[..., direct, :2] - ntu[..., direct, :2], axis=-1)[sure]
    assert sure.mean() > 0.8 and np.median(gap) < 5.0  # pixels: the two renderings' noise only


def test_missing_source_joints_fall_back_or_go_missing() -> None:
    coco = get_layout("coco17")
    joints = synthetic_clip(3, layout="coco17", channels="xys").joints.copy()
    joints[0, :, coco.index("left_ear")] = 0.0  # head falls back to the nose
    joints[0, :, coco.index("left_wrist")] = 0.0  # the hand has no fallback
    joints[0, 0, coco.index("left_hip"), 2] = 0.1  # a weak hip weakens the spine base
    out, fell_back = apply_mapping(joints, MAPPINGS[("coco17", "ntu")], score=True)
    np.testing.assert_array_equal(out[0, :, NTU.index("head")], joints[0, :, coco.index("nose")])
    assert fell_back == {NTU.index("head"), NTU.index("neck")}
    assert not out[0, :, NTU.index("left_hand")].any()
    assert out[0, 0, NTU.index("spine_base"), 2] == pytest.approx(0.1)
    assert not out[1].any()  # the absent second person stays absent


def test_mapping_path_and_errors() -> None:
    assert [(m.source, m.target) for m in mapping_path("openpose25", "ntu")] == [
        ("openpose25", "coco17"),
        ("coco17", "ntu"),
    ]
    assert mapping_path("ntu", "ntu") == []
    with pytest.raises(LayoutError, match="no mapping from layout 'ntu' to 'coco17'"):
        mapping_path("ntu", "coco17")
    with pytest.raises(LayoutError, match="unknown layout"):
        mapping_path("ntu", "body99")
    with pytest.raises(LayoutError, match="no rule for"):
        Mapping("coco17", "ntu", {"head": same("nose")})
    rules = {n: same("nose") for n in NTU.joints} | {"head": mix({"nose": 0.5})}
    with pytest.raises(LayoutError, match="weights must sum to 1"):
        Mapping("coco17", "ntu", rules)
    clip = Clip(np.ones((1, 2, 25, 3)), None, ClipMeta("mem", "m"), layout="ntu")
    with pytest.raises(LayoutError, match=r"expected joints \(M, T, 17, C\)"):
        apply_mapping(clip.joints, MAPPINGS[("coco17", "ntu")], score=False)


@pytest.mark.parametrize("key", sorted(MAPPINGS))
def test_declared_mappings_commute_with_translation(key: tuple[str, str]) -> None:
    src = get_layout(key[0])
    x = np.random.default_rng(0).normal(size=(1, 3, src.num_joints, 3))
    shift = np.array([0.5, -2.0, 3.0])
    a, _ = apply_mapping(x, MAPPINGS[key], score=False)
    b, _ = apply_mapping(x + shift, MAPPINGS[key], score=False)
    np.testing.assert_allclose(b, a + shift, atol=1e-9)
