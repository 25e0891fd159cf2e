from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skeleton.errors import ClipFormatError
from skeleton.readers.ntu import parse_ntu_name, read_ntu_skeleton, read_skip_list, write_ntu_skeleton
from tests.conftest import shared_path


def test_real_samples_parse_with_true_frames_and_bodies(ntu_samples: list[Path]) -> None:
    clips = [read_ntu_skeleton(p) for p in ntu_samples]
    assert [c.meta.name for c in clips] == [
        "S001C001P001R001A011", "S001C003P008R002A058", "S002C001P003R001A003",
        "S003C001P015R001A034", "S004C002P003R001A017",
    ]  # fmt: skip
    assert [c.num_frames for c in clips] == [82, 70, 100, 71, 124]
    assert [c.num_bodies for c in clips] == [1, 2, 1, 1, 1]
    assert [c.label for c in clips] == [10, 57, 2, 33, 16]
    a058 = clips[1]
    assert (np.abs(a058.joints).sum(axis=(2, 3)) > 0).all()  # two people in every frame
    assert a058.body_ids is not None and len(set(a058.body_ids[:, 0].tolist())) == 2
    assert (a058.meta.setup, a058.meta.view, a058.meta.subject, a058.meta.repetition) == (1, "3", 8, 2)
    # first joint of the first frame, straight from the text
    np.testing.assert_array_equal(clips[0].joints[0, 0, 0], [0.2058097, 0.1920515, 3.810989])


def test_name_fields() -> None:
    assert parse_ntu_name("S018C002P045R001A120") == {
        "setup": 18,
        "camera": 2,
        "subject": 45,
        "repetition": 1,
        "action": 120,
    }
    assert parse_ntu_name("clip") is None


def _body(seed: float) -> np.ndarray:
    return np.arange(75, dtype=float).reshape(25, 3) / 100 + seed


def test_bodies_that_come_and_go_and_empty_frames(tmp_path: Path) -> None:
    path = tmp_path / "S001C001P001R001A001.skeleton"
    frames = [
        [(7, _body(1))],
        [],  # nobody tracked
        [(7, _body(2)), (9, _body(3)), (11, _body(4))],  # three bodies
        [(9, _body(5))],  # the first body left; the second moves to slot 0
    ]
    write_ntu_skeleton(path, frames)
    clip = read_ntu_skeleton(path)
    assert clip.joints.shape == (3, 4, 25, 3)
    assert not clip.joints[:, 1].any()
    np.testing.assert_array_equal(clip.joints[2, 2], _body(4))
    np.testing.assert_array_equal(clip.joints[0, 3], _body(5))
    assert not clip.joints[1:, 3].any()
    assert clip.body_ids is not None
    assert clip.body_ids[:, 2].tolist() == [7, 9, 11] and clip.body_ids[:, 3].tolist() == [9, 0, 0]


def _write_lines(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "S001C001P001R001A001.skeleton"
    path.write_text("\r\n".join(lines) + "\r\n")
    return path


def _valid_lines() -> list[str]:
    return (
        ["2", "1", "1 0 1 1 1 1 0 0 0 2", "25"]
        + ["0.1 0.2 0.3" + " 0" * 9] * 25
        + ["1", "1 0 1 1 1 1 0 0 0 2", "25"]
        + ["0.1 0.2 0.4" + " 0" * 9] * 25
    )


def test_truncated_file_names_the_end(tmp_path: Path) -> None:
    path = _write_lines(tmp_path, _valid_lines()[:40])
    with pytest.raises(
        ClipFormatError,
        match=r"A001.skeleton:40: truncated file: expected joints of frame 2, body 1, got end of file",
    ) as err:
        read_ntu_skeleton(path)
    assert err.value.line == 40


def test_missing_frames_at_end_of_file(tmp_path: Path) -> None:
    lines = _valid_lines()
    lines[0] = "3"
    with pytest.raises(ClipFormatError, match=r":57: truncated file: expected body count of frame 3"):
        read_ntu_skeleton(_write_lines(tmp_path, lines))


def test_wrong_joint_count(tmp_path: Path) -> None:
    lines = _valid_lines()
    lines[3] = "20"
    with pytest.raises(ClipFormatError, match=r":4: wrong joint count.*expected 25, got 20"):
        read_ntu_skeleton(_write_lines(tmp_path, lines))


def test_nan_coordinate_names_its_line(tmp_path: Path) -> None:
    lines = _valid_lines()
    lines[10] = "nan 0.2 0.3" + " 0" * 9
    with pytest.raises(ClipFormatError, match=r":11: non-finite joints of frame 1, body 1"):
        read_ntu_skeleton(_write_lines(tmp_path, lines))


def test_garbage_value(tmp_path: Path) -> None:
    lines = _valid_lines()
    lines[12] = "0.1 abc 0.3" + " 0" * 9
    with pytest.raises(ClipFormatError, match=r":13: non-numeric joints.*got 0.1 abc 0.3"):
        read_ntu_skeleton(_write_lines(tmp_path, lines))


def test_short_joint_line(tmp_path: Path) -> None:
    lines = _valid_lines()
    lines[5] = "0.1 0.2"
    with pytest.raises(ClipFormatError, match=r":6: bad joints.*expected 12 values, got 2 values"):
        read_ntu_skeleton(_write_lines(tmp_path, lines))


def test_empty_and_bodyless_sequences(tmp_path: Path) -> None:
    with pytest.raises(ClipFormatError, match=r":1: empty sequence"):
        read_ntu_skeleton(_write_lines(tmp_path, ["0"]))
    with pytest.raises(ClipFormatError, match="no body in any frame"):
        read_ntu_skeleton(_write_lines(tmp_path, ["2", "0", "0"]))
    with pytest.raises(ClipFormatError, match=r":1: bad frame count"):
        read_ntu_skeleton(_write_lines(tmp_path, ["x"]))
    empty = tmp_path / "empty.skeleton"
    empty.write_text("")
    with pytest.raises(ClipFormatError, match="truncated file: expected frame count"):
        read_ntu_skeleton(empty)


def test_all_zero_coordinates_are_not_a_clip(tmp_path: Path) -> None:
    path = tmp_path / "S001C001P001R001A001.skeleton"
    write_ntu_skeleton(path, [[(1, np.zeros((25, 3)))]])
    with pytest.raises(ClipFormatError, match="every coordinate is zero"):
        read_ntu_skeleton(path)


def test_published_skip_lists() -> None:
    assert len(read_skip_list(shared_path("ntu_lists", "NTU_RGBD_samples_with_missing_skeletons.txt"))) == 302
    assert (
        len(read_skip_list(shared_path("ntu_lists", "NTU_RGBD120_samples_with_missing_skeletons.txt"))) == 535
    )
