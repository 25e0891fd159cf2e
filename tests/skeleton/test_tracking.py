"""Linking per-frame detections into tracks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skeleton.clip import ClipMeta
from skeleton.errors import ClipFormatError
from skeleton.synthetic import synthetic_clip
from skeleton.tracking import detections_to_clip, link_tracks, pose_cost, split_persons

RNG = np.random.default_rng(0)


def _person(x0: float, score: float = 0.9) -> np.ndarray:
    pose = np.zeros((17, 3))
    pose[:, 0] = x0 + RNG.uniform(0, 40, 17)
    pose[:, 1] = RNG.uniform(100, 300, 17)
    pose[:, 2] = score
    return pose


def test_cost_is_relative_to_the_person_size() -> None:
    a = _person(100)
    assert pose_cost(a, a, 2) == 0.0
    size = max(np.ptp(a[:, 0]), np.ptp(a[:, 1]))
    assert pose_cost(a, a + [size / 2, 0, 0], 2) == pytest.approx(0.5)
    assert pose_cost(a * 0.01, a * 0.01 + [size / 200, 0, 0], 2) == pytest.approx(0.5)  # units do not matter
    b = a.copy()
    b[:, :2] = 0
    assert pose_cost(a, b, 2) == float("inf")  # no joint in common


def test_people_listed_in_any_order_keep_their_tracks() -> None:
    a, b = _person(100), _person(900)
    frames = [[a + t, b - t] if t % 2 else [b - t, a + t] for t in range(8)]
    tracks = link_tracks(frames)
    assert len(tracks) == 2
    for track in tracks:
        x0 = track.detections[0][0, 0]
        assert all(abs(d[0, 0] - x0) < 10 for d in track.detections)  # never swapped
        assert track.span == (0, 8)


def test_gap_tolerance() -> None:
    a = _person(100)
    frames: list[list[np.ndarray]] = [[a], [], [], [a], *([[]] * 4), [a]]
    assert [t.frames for t in link_tracks(frames, max_gap=3)] == [(0, 3), (8,)]
    assert [t.frames for t in link_tracks(frames, max_gap=4)] == [(0, 3, 8)]


def test_someone_far_away_starts_a_new_track() -> None:
    a = _person(100)
    tracks = link_tracks([[a], [a + [5000, 0, 0]]])
    assert [t.frames for t in tracks] == [(0,), (1,)]


def test_clip_slots_are_ranked_by_presence() -> None:
    a, b = _person(100, score=0.9), _person(900, score=0.4)
    frames = [[b], [b, a], [b, a], [b]]  # b is seen longer, a more surely: 2 x 0.9 > 4 x 0.4
    clip = detections_to_clip(
        frames, num_joints=17, channels="xys", layout="coco17", meta=ClipMeta("mem", "m")
    )
    assert clip.joints.shape == (2, 4, 17, 3)
    assert [t["id"] for t in clip.meta.extra["tracks"]] == [2, 1]
    assert [t["span"] for t in clip.meta.extra["tracks"]] == [[1, 3], [0, 4]]
    assert clip.body_ids is not None and clip.body_ids.tolist() == [[0, 2, 2, 0], [1, 1, 1, 1]]
    capped = detections_to_clip(
        frames, num_joints=17, channels="xys", layout="coco17", meta=ClipMeta("mem", "m"), max_tracks=1
    )
    assert capped.joints.shape[0] == 1 and capped.meta.extra["dropped_tracks"] == 1
    with pytest.raises(ClipFormatError, match="nobody detected"):
        detections_to_clip(
            [[], []], num_joints=17, channels="xys", layout="coco17", meta=ClipMeta("mem", "m")
        )


def test_read_limits_cap_tracks_and_frames(tmp_path: Path) -> None:
    from skeleton.readers.common import check_frame_count
    from skeleton.readers.limits import ReadLimits, bounded

    frames = [[_person(100 + 900 * k) for k in range(5)] for _ in range(3)]
    with bounded(ReadLimits(max_persons=2, max_frames=3)):
        clip = detections_to_clip(
            frames, num_joints=17, channels="xys", layout="coco17", meta=ClipMeta("mem", "m")
        )
        assert clip.joints.shape[0] == 2 and clip.meta.extra["dropped_tracks"] == 3
        with pytest.raises(
            ClipFormatError, match=r"too many frames \(field 'frames'\): expected at most 3, got 4"
        ):
            check_frame_count(4, tmp_path, "frames")


def test_split_persons_gives_one_clip_per_track_with_its_span() -> None:
    a, b = _person(100), _person(900)
    frames = [[a], [a, b], [a, b], [b]]
    clip = detections_to_clip(
        frames, num_joints=17, channels="xys", layout="coco17", meta=ClipMeta("mem", "m")
    )
    persons = split_persons(clip)
    assert [(p.track, p.span, p.clip.joints.shape) for p in persons] == [
        (1, (0, 3), (1, 3, 17, 3)),
        (2, (1, 4), (1, 3, 17, 3)),
    ]
    assert persons[1].clip.meta.name == "m#2" and persons[1].clip.meta.extra["span"] == [1, 4]
    capture = synthetic_clip(10)  # handshake: two people, no tracks
    assert [p.track for p in split_persons(capture)] == [1, 2]
    assert [p.track for p in split_persons(synthetic_clip(0))] == [1]
