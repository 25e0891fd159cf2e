"""Keypoint / landmark lists per frame: MediaPipe Pose (image and world landmarks), MoveNet,
MMPose-style dumps. JSON or CSV; docs/data.md has the exact format with examples.

JSON: a list of frames, or ``{"frames": [...], "layout": "mediapipe33", "label": 3}`` (both keys
optional). A frame is ``{"keypoints": [joint, ...]}`` (``"landmarks"`` is accepted for
``"keypoints"``), optionally with ``"world_landmarks": [joint, ...]``, or ``{"people":
[{"keypoints": [...], "world_landmarks": [...]}, ...]}`` for several people; a frame with no
detection has an empty list (or no key). A joint is ``{"x": .., "y": .., "z": .., "visibility":
..}``; ``z`` and the score (``visibility`` or ``score``) are optional.

- Image keypoints give channels ``xys`` (x, y and the score; ``xy`` when no joint has one); their
  ``z`` (MediaPipe's relative depth) is dropped. Units as given (pixels or 0-1).
- World landmarks (MediaPipe's metric 3D, origin between the hips) give ``xyz``, the
  visibility dropped. They are read with ``world=True``, or when no frame has image keypoints.

CSV: a header, then one row per joint: ``frame,landmark,x,y[,z][,visibility|score]`` for image
keypoints, or ``frame,landmark,world_x,world_y,world_z`` for world landmarks; an optional
``person`` column numbers people within a frame. ``frame`` and ``landmark`` are 0-based integers.

The layout comes from ``layout`` or the joint count (17 coco17, 18 openpose18, 25 openpose25,
33 mediapipe33). People are linked across frames into tracks (``skeleton.tracking``).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np

from skeleton.clip import Clip, ClipMeta
from skeleton.errors import ClipFormatError
from skeleton.layouts import get_layout
from skeleton.readers.common import (
    MAX_PEOPLE_PER_FRAME,
    check_file_size,
    check_frame_count,
    frame_limit,
    layout_for_joints,
    load_json,
)
from skeleton.tracking import detections_to_clip

IMAGE_KEYS = ("keypoints", "landmarks")
WORLD_KEY = "world_landmarks"
SCORE_KEYS = ("visibility", "score")


def _people(frame: Any, path: Path, where: str) -> list[dict[str, Any]]:
    if not isinstance(frame, dict):
        raise ClipFormatError(path, "frame is not an object", field=where)
    if "people" in frame:
        people = frame["people"]
        if not isinstance(people, list) or len(people) > MAX_PEOPLE_PER_FRAME:
            raise ClipFormatError(
                path,
                "bad people list",
                field=f"{where}.people",
                expected=f"a list of <= {MAX_PEOPLE_PER_FRAME}",
            )
        if not all(isinstance(p, dict) for p in people):
            raise ClipFormatError(path, "person is not an object", field=f"{where}.people")
        return people
    return [frame]


def _joint_list(person: dict[str, Any], world: bool) -> tuple[str, Any]:
    if world:
        return WORLD_KEY, person.get(WORLD_KEY) or []
    key = next((k for k in IMAGE_KEYS if k in person), IMAGE_KEYS[0])
    return key, person.get(key) or []


def _pose(joints: Any, world: bool, path: Path, field: str) -> tuple[np.ndarray, bool]:
    """(V, 4) x, y, z, score (NaN score when absent) and whether any joint had a score."""
    if not isinstance(joints, list):
        raise ClipFormatError(path, "joints are not a list", field=field)
    out = np.zeros((len(joints), 4))
    scored = False
    for v, joint in enumerate(joints):
        if not isinstance(joint, dict):
            raise ClipFormatError(
                path, "joint is not an object", field=f"{field}[{v}]", expected='{"x", "y", ...}'
            )
        axes = ("x", "y", "z") if world else ("x", "y")
        try:
            values = [float(joint[a]) for a in axes]
            if not world and "z" in joint:
                values.append(float(joint["z"]))
            score_key = next((k for k in SCORE_KEYS if k in joint), None)
            score = float(joint[score_key]) if score_key else float("nan")
        except KeyError as err:
            raise ClipFormatError(path, "missing coordinate", field=f"{field}[{v}].{err.args[0]}") from None
        except (TypeError, ValueError):
            raise ClipFormatError(
                path, "non-numeric value", field=f"{field}[{v}]", expected="numbers"
            ) from None
        scored |= score_key is not None
        values += [0.0] * (3 - len(values))
        out[v] = [*values[:3], score]
    if not np.isfinite(out[:, :3]).all():
        raise ClipFormatError(path, "non-finite coordinate", field=field)
    return out, scored


def _to_detections(
    people_frames: list[list[np.ndarray]], scored: bool, world: bool
) -> tuple[list[list[np.ndarray]], str]:
    channels = "xyz" if world else ("xys" if scored else "xy")
    detections = []
    for people in people_frames:
        frame = []
        for pose in people:
            if world:
                values = pose[:, :3]
            elif scored:
                values = np.concatenate([pose[:, :2], np.nan_to_num(pose[:, 3:4], nan=1.0)], axis=1)
                values[(pose[:, :2] == 0).all(axis=1)] = 0.0
            else:
                values = pose[:, :2]
            if values.any():
                frame.append(values)
        detections.append(frame)
    return detections, channels


def read_landmarks_json(
    path: str | Path, world: bool | None = None, layout: str | None = None, data: Any = None
) -> Clip:
    """One clip from landmark JSON (see the module docstring)."""
    path = Path(path)
    data = load_json(path) if data is None else data
    label = None
    if isinstance(data, dict):
        layout = layout or data.get("layout")
        label = data.get("label")
        if label is not None and (not isinstance(label, int) or isinstance(label, bool) or label < 0):
            raise ClipFormatError(path, "bad label", field="label", expected="an int >= 0", actual=label)
        data = data.get("frames")
    if not isinstance(data, list):
        raise ClipFormatError(path, "no frame list", field="frames", expected="a list of frames")
    check_frame_count(len(data), path, "frames")
    frames = [_people(frame, path, f"frames[{t}]") for t, frame in enumerate(data)]
    if world is None:
        has_image = any(_joint_list(p, False)[1] for people in frames for p in people)
        world = not has_image and any(p.get(WORLD_KEY) for people in frames for p in people)
    poses: list[list[np.ndarray]] = []
    scored = False
    for t, people in enumerate(frames):
        row = []
        for j, person in enumerate(people):
            key, joints = _joint_list(person, world)
            field = (
                f"frames[{t}]"
                + (f".people[{j}]" if len(people) > 1 or "people" in data[t] else "")
                + f".{key}"
            )
            if not joints:
                continue
            pose, has_score = _pose(joints, world, path, field)
            layout = layout_for_joints(len(pose), path, field, layout)
            scored |= has_score
            row.append(pose)
        poses.append(row)
    if layout is None:
        raise ClipFormatError(path, "nobody detected in any frame", expected="at least one person")
    detections, channels = _to_detections(poses, scored, world)
    return _clip(detections, channels, layout, path, label, world)


def _clip(
    detections: list[list[np.ndarray]], channels: str, layout: str, path: Path, label: int | None, world: bool
) -> Clip:
    meta = ClipMeta(
        source=str(path),
        name=path.stem,
        dataset="landmarks",
        frame_range=(0, len(detections)),
        extra={"units": "metres" if world else "image", "world": world},
    )
    v = get_layout(layout).num_joints
    return detections_to_clip(
        detections, num_joints=v, channels=channels, layout=layout, meta=meta, label=label
    )


def read_landmarks_csv(path: str | Path, layout: str | None = None) -> Clip:
    """One clip from landmark CSV (see the module docstring)."""
    path = Path(path)
    check_file_size(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise ClipFormatError(path, f"cannot read text ({err})") from None
    reader = csv.DictReader(io.StringIO(text))
    columns = set(reader.fieldnames or ())
    world = "world_x" in columns and "x" not in columns
    axes = ("world_x", "world_y", "world_z") if world else ("x", "y", *(("z",) if "z" in columns else ()))
    score_col = None if world else next((k for k in SCORE_KEYS if k in columns), None)
    needed = {"frame", "landmark", *axes}
    if not needed <= columns:
        raise ClipFormatError(
            path, "missing columns", line=1, expected=sorted(needed), actual=sorted(columns)
        )
    rows: dict[tuple[int, int], dict[int, list[float]]] = {}
    for line, row in enumerate(reader, start=2):
        try:
            frame, landmark = int(row["frame"]), int(row["landmark"])
            person = int(row["person"]) if row.get("person") not in (None, "") else 0
            values = [float(row[a]) for a in axes]
            score = float(row[score_col]) if score_col else float("nan")
        except (TypeError, ValueError):
            raise ClipFormatError(
                path, "non-numeric value", line=line, expected="numbers", actual=row
            ) from None
        if not (0 <= frame < frame_limit() and 0 <= landmark < 256 and 0 <= person < MAX_PEOPLE_PER_FRAME):
            raise ClipFormatError(
                path,
                "frame, landmark or person out of range",
                line=line,
                expected=f"frame < {frame_limit()}, landmark < 256, person < {MAX_PEOPLE_PER_FRAME}",
                actual=f"{frame}, {landmark}, {person}",
            )
        values += [0.0] * (3 - len(values))
        rows.setdefault((frame, person), {})[landmark] = [*values, score]
    if not rows:
        raise ClipFormatError(path, "no landmark rows", line=2)
    count = 1 + max(v for joints in rows.values() for v in joints)
    layout = layout_for_joints(count, path, "landmark", layout)
    num_frames = 1 + max(f for f, _ in rows)
    poses: list[list[np.ndarray]] = [[] for _ in range(num_frames)]
    for (frame, _), joints in sorted(rows.items()):
        pose = np.zeros((count, 4))
        pose[:, 3] = np.nan
        for v, values in joints.items():
            pose[v] = values
        poses[frame].append(pose)
    if not all(np.isfinite(p[:, :3]).all() for people in poses for p in people):
        raise ClipFormatError(path, "non-finite coordinate", field=",".join(axes))
    detections, channels = _to_detections(poses, score_col is not None, world)
    return _clip(detections, channels, layout, path, None, world)
