"""Pose-estimator readers: fixtures written from the documented formats, then the real files."""

from __future__ import annotations

import json
import os
import pickle
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from skeleton.errors import ClipFormatError, FrameSkipped
from skeleton.readers import common
from skeleton.readers.arrays import read_array_json, read_npy
from skeleton.readers.auto import read_clips
from skeleton.readers.kinetics import read_kinetics_skeleton
from skeleton.readers.landmarks import read_landmarks_csv, read_landmarks_json
from skeleton.readers.openpose import read_openpose_folder
from skeleton.readers.pyskl import read_pyskl
from tests.conftest import shared_path

RNG = np.random.default_rng(0)


def _pose(v: int, offset: float = 0.0) -> np.ndarray:
    """(V, 3) x, y in pixels around ``offset``, score in 0.5..1."""
    xy = RNG.uniform(100, 200, size=(v, 2)) + offset
    return np.concatenate([xy, RNG.uniform(0.5, 1.0, size=(v, 1))], axis=1)


# ----------------------------------------------------------------------------- OpenPose folder


def _write_frame(folder: Path, index: int, people: list[np.ndarray], key: str = "pose_keypoints_2d") -> Path:
    path = folder / f"video_{index:012d}_keypoints.json"
    path.write_text(json.dumps({"version": 1.3, "people": [{key: p.ravel().tolist()} for p in people]}))
    return path


def test_openpose_folder_body25_with_two_people_in_changing_order(tmp_path: Path) -> None:
    a, b = _pose(25), _pose(25, offset=1000.0)
    for t in range(6):
        people = [a + t, b - t] if t % 2 else [b - t, a + t]  # the estimator's order changes
        _write_frame(tmp_path, t, people if t != 3 else [a + t])  # b is lost in frame 3
    clip = read_openpose_folder(tmp_path)
    assert (clip.layout, clip.channels, clip.joints.shape) == ("openpose25", "xys", (2, 6, 25, 3))
    np.testing.assert_allclose(clip.joints[0, :, 0, 0], a[0, 0] + np.arange(6))  # a stays in slot 0
    assert not clip.joints[1, 3].any() and clip.joints[1, 4].any()  # b resumes after the gap
    assert [t["span"] for t in clip.meta.extra["tracks"]] == [[0, 6], [0, 6]]
    assert clip.body_ids is not None and clip.body_ids[1].tolist() == [
        1,
        1,
        1,
        0,
        1,
        1,
    ]  # b came first in frame 0


def test_openpose_old_key_and_coco18(tmp_path: Path) -> None:
    for t in range(3):
        _write_frame(tmp_path, t, [_pose(18)], key="pose_keypoints")
    clip = read_openpose_folder(tmp_path)
    assert (clip.layout, clip.joints.shape) == ("openpose18", (1, 3, 18, 3))


def test_malformed_openpose_frame_is_skipped_with_a_warning(tmp_path: Path) -> None:
    for t in range(4):
        _write_frame(tmp_path, t, [_pose(18) + t])
    bad = _write_frame(tmp_path, 2, [])
    bad.write_text(json.dumps({"people": [{"pose_keypoints_2d": [1.0] * 53}]}))
    (tmp_path / "video_000000000003_keypoints.json").write_text("{not json")
    with pytest.warns(FrameSkipped) as caught:
        clip = read_openpose_folder(tmp_path)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 2
    assert str(bad) in messages[0] and "people[0].pose_keypoints_2d" in messages[0]
    assert "multiple of 3" in messages[0] and "not valid JSON" in messages[1]
    assert clip.num_frames == 4 and clip.joints[0, :2].any() and not clip.joints[0, 2:].any()
    assert [s["file"] for s in clip.meta.extra["skipped_frames"]] == [
        bad.name,
        "video_000000000003_keypoints.json",
    ]


def test_openpose_folder_without_anybody_is_an_error(tmp_path: Path) -> None:
    _write_frame(tmp_path, 0, [])
    with pytest.raises(ClipFormatError, match="nobody detected"):
        read_openpose_folder(tmp_path)
    with pytest.raises(ClipFormatError, match="no \\*_keypoints.json"):
        read_openpose_folder(tmp_path / "..")


# ----------------------------------------------------------------------------- Kinetics-skeleton


def _kinetics(frames: list[list[np.ndarray]], label: int = 3) -> dict:
    data = []
    for t, people in enumerate(frames):
        skeleton = [
            {"pose": p[:, :2].ravel().round(3).tolist(), "score": p[:, 2].round(3).tolist()} for p in people
        ]
        data.append({"frame_index": t + 1, "skeleton": skeleton})
    return {"data": data, "label": "dancing", "label_index": label}


def test_kinetics_skeleton(tmp_path: Path) -> None:
    person = _pose(18) / 1000
    person[4] = 0  # a missing joint: 0 in pose and score
    other = person + 0.5
    other[4] = 0
    path = tmp_path / "clip.json"
    path.write_text(json.dumps(_kinetics([[], [person], [person, other], []])))
    clip = read_kinetics_skeleton(path)
    assert (clip.layout, clip.channels, clip.label, clip.joints.shape) == (
        "openpose18",
        "xys",
        3,
        (2, 3, 18, 3),
    )
    assert clip.meta.extra["label_name"] == "dancing"
    assert not clip.joints[:, 0].any() and not clip.joints[0, :, 4].any()
    assert [c.layout for c in read_clips(path)] == ["openpose18"]  # the auto reader knows it


def test_kinetics_bad_person_names_the_field(tmp_path: Path) -> None:
    doc = _kinetics([[_pose(18)]])
    doc["data"][0]["skeleton"][0]["score"] = [1.0] * 17
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(
        ClipFormatError, match=r"bad.json: wrong number of values \(field 'data\[0\].skeleton\[0\].score'\)"
    ):
        read_kinetics_skeleton(path)


# ----------------------------------------------------------------------------- landmarks


def _landmarks(pose: np.ndarray, z: bool = True, score: str = "visibility") -> list[dict]:
    out = []
    for x, y, s in pose:
        joint = {"x": x, "y": y} | ({"z": -0.1} if z else {}) | ({score: s} if score else {})
        out.append(joint)
    return out


def test_mediapipe_json_image_and_world(tmp_path: Path) -> None:
    image = _pose(33) / 1000
    world = RNG.normal(0, 0.3, size=(33, 3))
    frames: list[dict[str, Any]] = [
        {
            "keypoints": _landmarks(image),
            "world_landmarks": [dict(zip("xyz", w, strict=True)) | {"visibility": 0.9} for w in world],
        },
        {"keypoints": []},
        {"landmarks": _landmarks(image + 0.01), "world_landmarks": []},
    ]
    path = tmp_path / "mp.json"
    path.write_text(json.dumps({"frames": frames, "label": 1}))
    clip = read_landmarks_json(path)
    assert (clip.layout, clip.channels, clip.label, clip.joints.shape) == (
        "mediapipe33",
        "xys",
        1,
        (1, 3, 33, 3),
    )
    np.testing.assert_allclose(clip.joints[0, 0], image)
    assert not clip.joints[0, 1].any()
    world_clip = read_landmarks_json(path, world=True)
    assert (world_clip.channels, world_clip.joints.shape) == ("xyz", (1, 3, 33, 3))
    np.testing.assert_allclose(world_clip.joints[0, 0], world)
    only_world = tmp_path / "world.json"
    only_world.write_text(json.dumps([{"world_landmarks": frames[0]["world_landmarks"]}]))
    assert read_clips(only_world)[0].channels == "xyz"  # no image keypoints: world is chosen


def test_movenet_style_pixels_with_score_and_people_lists(tmp_path: Path) -> None:
    a, b = _pose(17), _pose(17, offset=600)
    frames = [
        {
            "people": [
                {"keypoints": _landmarks(a, z=False, score="score")},
                {"keypoints": _landmarks(b, z=False, score="score")},
            ]
        }
    ]
    frames.append({"people": [{"keypoints": _landmarks(b + 2, z=False, score="score")}]})
    path = tmp_path / "two.json"
    path.write_text(json.dumps(frames))
    clip = read_landmarks_json(path)
    assert (clip.layout, clip.joints.shape) == ("coco17", (2, 2, 17, 3))
    np.testing.assert_allclose(clip.joints[:, 1].sum(axis=(1, 2)).min(), 0.0)  # a is gone in frame 1
    assert sorted(t["span"] for t in clip.meta.extra["tracks"]) == [[0, 1], [0, 2]]
    unscored = tmp_path / "xy.json"
    unscored.write_text(json.dumps([{"keypoints": _landmarks(a, z=False, score="")}]))
    assert read_landmarks_json(unscored).channels == "xy"


def test_landmark_json_errors_name_frame_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([{"keypoints": _landmarks(_pose(33))}, {"keypoints": [{"x": 1}] * 33}]))
    with pytest.raises(ClipFormatError, match=r"missing coordinate \(field 'frames\[1\].keypoints\[0\].y'\)"):
        read_landmarks_json(path)
    path.write_text(json.dumps([{"keypoints": _landmarks(_pose(20))}]))
    with pytest.raises(ClipFormatError, match="joint count names no pose-estimator layout"):
        read_landmarks_json(path)


def test_landmark_csv_image_and_world(tmp_path: Path) -> None:
    pose = _pose(33) / 1000
    rows = ["frame,landmark,x,y,z,visibility"]
    rows += [
        f"{t},{v},{pose[v, 0] + t / 1000},{pose[v, 1]},0.0,{pose[v, 2]}" for t in (0, 2) for v in range(33)
    ]
    path = tmp_path / "mp.csv"
    path.write_text("\n".join(rows) + "\n")
    clip = read_clips(path)[0]
    assert (clip.layout, clip.channels, clip.joints.shape) == ("mediapipe33", "xys", (1, 3, 33, 3))
    np.testing.assert_allclose(clip.joints[0, 2, :, 0], pose[:, 0] + 0.002)
    assert not clip.joints[0, 1].any()
    world = tmp_path / "world.csv"
    world.write_text(
        "frame,landmark,world_x,world_y,world_z\n" + "".join(f"0,{v},0.1,{v / 10},0.2\n" for v in range(33))
    )
    assert read_landmarks_csv(world).channels == "xyz"
    world.write_text("frame,landmark,x\n0,0,1\n")
    with pytest.raises(ClipFormatError, match=r"world.csv:1: missing columns"):
        read_landmarks_csv(world)
    world.write_text("frame,landmark,x,y\n0,0,1,2\n0,zero,1,2\n")
    with pytest.raises(ClipFormatError, match=r"world.csv:3: non-numeric value"):
        read_landmarks_csv(world)


# ----------------------------------------------------------------------------- plain arrays


def test_array_json_and_npy_any_layout(tmp_path: Path) -> None:
    joints = RNG.normal(size=(2, 5, 17, 3))
    path = tmp_path / "a.json"
    path.write_text(json.dumps({"joints": joints.tolist(), "label": 4}))
    clip = read_clips(path)[0]
    assert (clip.layout, clip.channels, clip.label, clip.joints.shape) == ("coco17", "xys", 4, (2, 5, 17, 3))
    path.write_text(json.dumps({"layout": "ntu", "joints": RNG.normal(size=(5, 25, 3)).tolist()}))
    assert (read_array_json(path).layout, read_array_json(path).channels) == ("ntu", "xyz")
    path.write_text(json.dumps({"layout": "coco17", "channels": "xyz", "joints": joints.tolist()}))
    assert read_array_json(path).channels == "xyz"
    path.write_text(json.dumps({"layout": "coco17", "channels": "xy", "joints": joints.tolist()}))
    with pytest.raises(ClipFormatError, match="channels do not fit the array"):
        read_array_json(path)
    npy = tmp_path / "b.npy"
    np.save(npy, RNG.normal(size=(9, 33, 2)))
    assert (read_npy(npy).layout, read_npy(npy).channels, read_npy(npy).joints.shape) == (
        "mediapipe33",
        "xy",
        (1, 9, 33, 2),
    )
    np.save(npy, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ClipFormatError, match="not a readable .npy"):
        read_npy(npy)


def test_sizes_are_checked_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.json"
    path.write_text(json.dumps({"joints": np.zeros((3, 17, 3)).tolist()}))
    monkeypatch.setattr(common, "MAX_FILE_BYTES", 10)
    with pytest.raises(ClipFormatError, match="file too large: expected at most 10 bytes"):
        common.load_json(path)


# ----------------------------------------------------------------------------- PySKL pickles


def _pyskl(v: int = 17) -> dict:
    annotations = [
        {
            "frame_dir": f"clip{i}",
            "label": i,
            "img_shape": (480, 640),
            "total_frames": 8,
            "keypoint": RNG.uniform(0, 600, size=(2, 8, v, 2)).astype(np.float32),
            "keypoint_score": RNG.uniform(size=(2, 8, v)).astype(np.float32),
        }
        for i in range(3)
    ]
    return {"split": {"xsub_train": ["clip0", "clip1"], "xsub_val": ["clip2"]}, "annotations": annotations}


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_pyskl_pickle(tmp_path: Path, protocol: int) -> None:
    path = tmp_path / "ann.pkl"
    path.write_bytes(pickle.dumps(_pyskl(), protocol=protocol))
    clips = read_pyskl(path)
    assert [(c.meta.name, c.label, c.meta.extra["splits"]) for c in clips] == [
        ("clip0", 0, {"xsub": "train"}), ("clip1", 1, {"xsub": "train"}), ("clip2", 2, {"xsub": "test"}),
    ]  # fmt: skip
    assert (clips[0].layout, clips[0].channels, clips[0].joints.shape) == ("coco17", "xys", (2, 8, 17, 3))


class _Payload:
    def __reduce__(self) -> tuple:
        return (os.system, ("echo unpickled",))


def test_pyskl_refuses_anything_but_containers_and_arrays(tmp_path: Path) -> None:
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"annotations": [_Payload()]}))
    with pytest.raises(ClipFormatError, match=r"global that is not allowed.*got posix.system|got nt.system"):
        read_pyskl(path)
    path.write_bytes(pickle.dumps({"annotations": [{"keypoint": Counter()}]}))
    with pytest.raises(ClipFormatError, match="got collections.Counter"):
        read_pyskl(path)
    path.write_bytes(pickle.dumps(_pyskl())[:-40])
    with pytest.raises(ClipFormatError, match="not a readable pickle"):
        read_pyskl(path)


def test_auto_reader_refuses_pickles(tmp_path: Path) -> None:
    path = tmp_path / "ann.pkl"
    path.write_bytes(pickle.dumps(_pyskl()))
    with pytest.raises(ClipFormatError, match="pickles are not read here"):
        read_clips(path)


# ----------------------------------------------------------------------------- real files

POSE = ("pose_samples",)


def test_real_openpose_exercise_arrays() -> None:
    files = sorted(shared_path(*POSE, "openpose18_pose_trainer", "poses_compressed").glob("*/*.npy"))
    clips = [read_npy(f) for f in files]
    assert len(clips) == 112
    # names are <exercise>_<good|bad>_<n> or, for shoulderpress, <exercise><good|bad><n>
    counts = Counter((f.parent.name, "good" if "good" in f.stem else "bad") for f in files)
    assert counts == {
        ("bicep", "good"): 6, ("bicep", "bad"): 10, ("frontraise", "good"): 15, ("frontraise", "bad"): 13,
        ("shoulderpress", "good"): 19, ("shoulderpress", "bad"): 17, ("shouldershrug", "good"): 15,
        ("shouldershrug", "bad"): 17,
    }  # fmt: skip
    assert {(c.layout, c.channels, c.joints.shape[0], c.joints.shape[2]) for c in clips} == {
        ("openpose18", "xys", 1, 18)
    }
    frames = [c.num_frames for c in clips]
    assert (min(frames), max(frames), int(np.median(frames))) == (27, 146, 78)


def test_real_openpose_json_frames() -> None:
    folders = sorted(
        p for p in shared_path(*POSE, "openpose18_pose_trainer", "json_frames").iterdir() if p.is_dir()
    )
    assert len(folders) == 16
    with warnings.catch_warnings():
        warnings.simplefilter("error", FrameSkipped)  # no real frame is malformed
        clips = {f.name: read_openpose_folder(f) for f in folders}
    assert sum(c.num_frames for c in clips.values()) == 1813
    assert {c.layout for c in clips.values()} == {"openpose18"}
    two = sum(int(((c.joints != 0).any(axis=(2, 3))).sum(axis=0).__ge__(2).sum()) for c in clips.values())
    assert two == 30  # frames holding two people
    row0 = np.load(
        shared_path(*POSE, "openpose18_pose_trainer", "poses_compressed", "bicep", "bicep_bad_1.npy")
    )[0]
    np.testing.assert_allclose(clips["bicep_bad_1"].joints[0, 0], row0)
    assert clips["bicep_bad_1"].meta.extra["tracks"] == [{"id": 1, "span": [0, 108], "frames_detected": 108}]


def test_real_kinetics_skeleton() -> None:
    folder = shared_path(*POSE, "kinetics_skeleton")
    files = sorted(folder.glob("kinetics_val*/*.json"))
    assert len(files) == 12
    clips = [read_kinetics_skeleton(f) for f in files]
    frames = sorted(c.num_frames for c in clips)
    assert (frames[0], frames[-1], sum(frames)) == (164, 299, 3249)
    labels = {}
    for name in ("kinetics_val_label.json", "kinetics_val_old_label.json"):
        labels.update({k: v["label_index"] for k, v in json.loads((folder / name).read_text()).items()})
    assert all(c.label == labels[c.meta.name] for c in clips)
    assert sum(len(c.meta.extra["tracks"]) for c in clips[:5]) >= 5
    present = max(int((c.joints != 0).any(axis=(2, 3)).sum(axis=0).max()) for c in clips)
    assert present == 11  # people in one frame, as the README says


@pytest.mark.parametrize(
    ("folder", "layout"), [("pushfit_mediapipe33", "mediapipe33"), ("pushfit_movenet_coco17", "coco17")]
)
def test_real_pushfit_landmarks(folder: str, layout: str) -> None:
    files = sorted(shared_path(*POSE, folder).glob("*/*.json"))
    assert Counter(f.parent.name for f in files) == {"correct": 6, "wrong": 6}
    clips = [read_clips(f)[0] for f in files]
    assert {(c.layout, c.channels) for c in clips} == {(layout, "xys")}
    assert [c.num_frames for c in clips] == [61, 54, 52, 57, 53, 60, 83, 66, 116, 99, 100, 113]
    assert all(c.joints.shape[2] == get_count(layout) for c in clips)


def get_count(layout: str) -> int:
    return {"mediapipe33": 33, "coco17": 17}[layout]


def test_one_openpose_frame_file_is_a_one_frame_clip(tmp_path: Path) -> None:
    path = _write_frame(tmp_path, 0, [_pose(25), _pose(25, offset=800)])
    clip = read_clips(path)[0]
    assert (clip.layout, clip.joints.shape, clip.channels) == ("openpose25", (2, 1, 25, 3), "xys")
    empty = _write_frame(tmp_path, 1, [])
    with pytest.raises(ClipFormatError, match="nobody detected in the frame"):
        read_clips(empty)
