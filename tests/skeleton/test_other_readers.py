from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io

from skeleton.clip import Clip, ClipMeta
from skeleton.errors import ClipFormatError
from skeleton.readers.msr import read_msr_action3d
from skeleton.readers.npz import read_npz, read_npz_header, write_npz
from skeleton.readers.pkummd import read_pkummd, read_pkummd_labels
from skeleton.readers.utd import read_utd_mhad
from tests.conftest import shared_path


# ---------------------------------------------------------------- MSR Action3D
def test_msr_action3d_real_files() -> None:
    folder = shared_path("msr_action3d", "real_world_coordinates")
    files = sorted(folder.glob("*_skeleton3D.txt"))
    assert len(files) == 567
    clips, errors = [], {}
    for path in files:
        try:
            clips.append(read_msr_action3d(path))
        except ClipFormatError as err:
            errors[path.name] = str(err)
    assert list(errors) == ["a13_s09_e02_skeleton3D.txt"]
    assert "every coordinate is zero" in errors["a13_s09_e02_skeleton3D.txt"]
    assert len({c.label for c in clips}) == 20 and {c.label for c in clips} == set(range(20))
    assert {c.meta.subject for c in clips} == set(range(1, 11))
    frames = [c.num_frames for c in clips]
    assert (min(frames), max(frames), int(np.median(frames))) == (13, 936, 39)
    assert all(c.joints.shape[2] == 20 and c.layout == "msr" for c in clips)


def _msr_file(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "a02_s03_e01_skeleton3D.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_msr_parses_name_and_values(tmp_path: Path) -> None:
    lines = [f"{j} {j + 0.5} 2.0 1" for j in range(20)] * 2
    clip = read_msr_action3d(_msr_file(tmp_path, lines))
    assert clip.joints.shape == (1, 2, 20, 3)
    assert (clip.label, clip.meta.subject, clip.meta.repetition, clip.meta.name) == (1, 3, 1, "a02_s03_e01")
    np.testing.assert_array_equal(clip.joints[0, 1, 7], [7, 7.5, 2.0])


@pytest.mark.parametrize(
    ("mutate", "pattern"),
    [
        (lambda ls: ls[:35], r":35: truncated file.*expected a multiple of 20 lines, got 35 lines"),
        (lambda ls: ls[:3] + ["1 2 3"] + ls[4:], r":4: bad joint line: expected 4 values"),
        (lambda ls: ls[:5] + ["1 inf 3 1"] + ls[6:], r":6: non-finite coordinate"),
        (lambda ls: ls[:5] + ["1 x 3 1"] + ls[6:], r":6: non-numeric coordinate"),
        (lambda ls: [], r"empty sequence"),
    ],
)
def test_msr_bad_input(tmp_path: Path, mutate: object, pattern: str) -> None:
    lines = [f"{j} {j + 0.5} 2.0 1" for j in range(20)] * 2
    with pytest.raises(ClipFormatError, match=pattern):
        read_msr_action3d(_msr_file(tmp_path, mutate(lines)))  # type: ignore[operator]


# ---------------------------------------------------------------- UTD-MHAD
def test_utd_mhad_real_files() -> None:
    files = sorted(shared_path("utd_mhad", "Skeleton").glob("*_skeleton.mat"))
    clips = [read_utd_mhad(p) for p in files]
    assert len(clips) == 861
    assert {c.label for c in clips} == set(range(27))
    assert {c.meta.subject for c in clips} == set(range(1, 9))
    frames = [c.num_frames for c in clips]
    assert (min(frames), max(frames)) == (41, 125)
    names = {c.meta.name for c in clips}
    assert not names & {"a8_s1_t4", "a23_s6_t4", "a27_s8_t4"}
    first = next(c for c in clips if c.meta.name == "a1_s1_t1")
    raw = scipy.io.loadmat(str(first.meta.source))["d_skel"]
    np.testing.assert_array_equal(first.joints[0, 5], raw[:, :, 5])


def test_utd_bad_files(tmp_path: Path) -> None:
    bad = tmp_path / "a1_s1_t1_skeleton.mat"
    bad.write_bytes(b"MATLAB garbage" * 20)
    with pytest.raises(ClipFormatError, match="not a readable MATLAB file"):
        read_utd_mhad(bad)
    scipy.io.savemat(str(bad), {"skeleton": np.ones((20, 3, 4))})
    with pytest.raises(ClipFormatError, match=r"missing variable \(field 'd_skel'\)"):
        read_utd_mhad(bad)
    scipy.io.savemat(str(bad), {"d_skel": np.ones((25, 3, 4))})
    with pytest.raises(ClipFormatError, match=r"wrong array shape.*expected \(20, 3, T\), got \(25, 3, 4\)"):
        read_utd_mhad(bad)
    arr = np.ones((20, 3, 4))
    arr[3, 1, 2] = np.nan
    scipy.io.savemat(str(bad), {"d_skel": arr})
    with pytest.raises(ClipFormatError, match="non-finite coordinate at person 0, frame 2, joint 3, axis y"):
        read_utd_mhad(bad)


# ---------------------------------------------------------------- PKU-MMD
def test_pkummd_sample_sequence() -> None:
    (clip,) = read_pkummd(shared_path("pkummd_sample", "A10N08-L.txt"))
    assert clip.joints.shape == (2, 1040, 25, 3)
    assert clip.label is None and clip.meta.view == "L"


def test_pkummd_segments_from_label_file(tmp_path: Path) -> None:
    sequence = np.random.default_rng(0).normal(size=(30, 150))
    sequence[:, 75:] = 0
    path = tmp_path / "0002-M.txt"
    np.savetxt(path, sequence, fmt="%.6f")
    labels = tmp_path / "labels.txt"
    labels.write_text("3,2,10,1\n51,12,40,2\n")
    first, second = read_pkummd(path, labels)
    assert (first.label, first.meta.frame_range, first.num_frames) == (2, (2, 10), 8)
    assert (second.label, second.meta.frame_range, second.num_frames) == (50, (12, 30), 18)
    np.testing.assert_allclose(first.joints[0, 0].ravel(), sequence[2, :75], atol=1e-6)
    assert first.meta.view == "M" and first.meta.extra["sequence"] == "0002-M"


def test_pkummd_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "0002-L.txt"
    path.write_text("1 " * 150 + "\n" + "1 " * 149 + "\n")
    with pytest.raises(ClipFormatError, match=r":2: wrong number of values.*got 149"):
        read_pkummd(path)
    path.write_text("1 " * 150 + "\n" + "1 " * 10 + "nan " + "1 " * 139 + "\n")
    with pytest.raises(ClipFormatError, match=r":2: non-finite coordinate"):
        read_pkummd(path)
    labels = tmp_path / "l.txt"
    labels.write_text("3,9,4,1\n")
    with pytest.raises(ClipFormatError, match=r"l.txt:1: bad label row"):
        read_pkummd_labels(labels)
    path.write_text("1 " * 150 + "\n")
    labels.write_text("3,5,9,1\n")
    with pytest.raises(
        ClipFormatError, match=r"segment 1 starts after the sequence ends.*expected < 1, got 5"
    ):
        read_pkummd(path, labels)


# ---------------------------------------------------------------- generic npz
def _clip(frames: int, seed: int, label: int | None) -> Clip:
    joints = np.random.default_rng(seed).normal(size=(2, frames, 25, 3))
    joints[1, frames // 2 :] = 0
    return Clip(joints=joints, label=label, meta=ClipMeta(source="mem", name=f"c{seed}"))


def test_npz_round_trip(tmp_path: Path) -> None:
    clips = [_clip(10, 0, 1), _clip(7, 1, None), _clip(12, 2, 0)]
    path = tmp_path / "mine.npz"
    write_npz(path, clips, class_names=["a", "b"])
    back = read_npz(path)
    assert [c.num_frames for c in back] == [10, 7, 12]
    assert [c.label for c in back] == [1, None, 0]
    assert [c.meta.name for c in back] == ["c0", "c1", "c2"]
    np.testing.assert_allclose(back[1].joints, clips[1].joints, atol=1e-6)  # stored as float32
    assert read_npz_header(path) == {
        "layout": "ntu",
        "class_names": ["a", "b"],
        "protocols": [],
        "channels": "xyz",
    }


def test_npz_single_clip_and_splits(tmp_path: Path) -> None:
    path = tmp_path / "one.npz"
    np.savez(path, joints=np.ones((5, 20, 3)), layout=np.array("msr"))
    (clip,) = read_npz(path)
    assert clip.joints.shape == (1, 5, 20, 3) and clip.layout == "msr" and clip.label is None
    np.savez(
        path,
        joints=np.ones((2, 1, 5, 25, 3)),
        split_xsub=np.array(["train", "test"]),
        subjects=np.array([1, 2]),
    )
    clips = read_npz(path)
    assert [c.meta.extra["splits"] for c in clips] == [{"xsub": "train"}, {"xsub": "test"}]
    assert [c.meta.subject for c in clips] == [1, 2]


@pytest.mark.parametrize(
    ("arrays", "pattern"),
    [
        ({"joint": np.ones((1, 1, 5, 25, 3))}, r"missing array \(field 'joints'\)"),
        (
            {"joints": np.ones((1, 1, 5, 20, 3))},
            r"wrong joint count \(field 'joints\[0\]'\): expected 25, got 20",
        ),
        ({"joints": np.ones((5, 25))}, r"wrong array shape"),
        ({"joints": np.ones((2, 1, 5, 25, 3)), "labels": np.array([0])}, r"wrong length \(field 'labels'\)"),
        ({"joints": np.ones((1, 1, 5, 25, 3)), "lengths": np.array([9])}, r"bad clip length"),
        ({"joints": np.ones((1, 1, 5, 25, 3)), "split_x": np.array(["val"])}, r"bad split value"),
        ({"joints": np.ones((1, 1, 5, 25, 3)), "layout": np.array("coco")}, r"unknown layout"),
        ({"joints": np.zeros((1, 1, 5, 25, 3))}, r"every coordinate is zero"),
        (
            {"joints": np.ones((1, 1, 5, 25, 3)), "labels": np.array([4]), "class_names": np.array(["a"])},
            r"label out of range",
        ),
    ],
)
def test_npz_bad_input(tmp_path: Path, arrays: dict[str, np.ndarray], pattern: str) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)  # type: ignore[arg-type]
    with pytest.raises(ClipFormatError, match=pattern):
        read_npz(path)


def test_npz_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "bad.npz"
    path.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ClipFormatError, match="not a readable .npz file"):
        read_npz(path)
