"""OpenPose output: a folder of per-frame ``*_keypoints.json`` files (``--write_json``).

Each file is one frame: ``{"version": ..., "people": [{"pose_keypoints_2d": [x0, y0, c0, x1,
...]}, ...]}``; OpenPose 1.0/1.1 name the key ``pose_keypoints``. 54 values per person are
COCO-18 (``openpose18``), 75 are BODY_25 (``openpose25``); x, y in pixels (or 0-1 with
``--keypoint_scale 3``), c the confidence, a missing joint (0, 0, 0). Frames are ordered by the
number before ``_keypoints.json`` (the frame index OpenPose writes). A malformed frame (not JSON,
no ``people`` list, a wrong number of values, non-numbers) is skipped with a ``FrameSkipped``
warning naming the file and the field, and the clip is read without it; its frame stays empty.
People are linked across frames into tracks (``skeleton.tracking``).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from skeleton.clip import Clip, ClipMeta
from skeleton.errors import ClipFormatError, FrameSkipped
from skeleton.layouts import get_layout
from skeleton.readers.common import (
    MAX_FRAME_FILES,
    MAX_PEOPLE_PER_FRAME,
    check_file_size,
    check_frame_count,
    layout_for_joints,
    load_json,
)
from skeleton.tracking import detections_to_clip

KEYS = ("pose_keypoints_2d", "pose_keypoints")
_FRAME = re.compile(r"(\d+)_keypoints\.json$")
PER_FRAME_BYTES = 4 << 20  # a frame of a few dozen people is a few kB


def frame_files(folder: Path) -> list[Path]:
    """The ``*_keypoints.json`` files of a folder in frame order."""
    files = list(folder.glob("*_keypoints.json"))
    if len(files) > MAX_FRAME_FILES:
        raise ClipFormatError(
            folder, "too many frame files", expected=f"at most {MAX_FRAME_FILES}", actual=len(files)
        )
    check_frame_count(len(files), folder, "*_keypoints.json")

    def key(path: Path) -> tuple[int, str]:
        match = _FRAME.search(path.name)
        return (int(match.group(1)) if match else -1, path.name)

    return sorted(files, key=key)


def read_openpose_frame(
    path: Path, layout: str | None = None, data: Any = None
) -> tuple[list[np.ndarray], str]:
    """The people of one frame file (or of its parsed JSON ``data``), each (V, 3), and the layout
    their value count gives ("" when nobody is in the frame).

    Raises ClipFormatError naming the file and field when the frame is malformed.
    """
    if data is None:
        check_file_size(path, PER_FRAME_BYTES)
        data = load_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("people"), list):
        raise ClipFormatError(
            path, "no people list", field="people", expected="a list", actual=type(data).__name__
        )
    people = data["people"]
    if len(people) > MAX_PEOPLE_PER_FRAME:
        raise ClipFormatError(
            path,
            "too many people",
            field="people",
            expected=f"at most {MAX_PEOPLE_PER_FRAME}",
            actual=len(people),
        )
    out: list[np.ndarray] = []
    for i, person in enumerate(people):
        key = next((k for k in KEYS if isinstance(person, dict) and k in person), None)
        if key is None:
            raise ClipFormatError(
                path, "person without keypoints", field=f"people[{i}]", expected=" or ".join(KEYS)
            )
        field = f"people[{i}].{key}"
        values = person[key]
        if not isinstance(values, list) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in values
        ):
            raise ClipFormatError(path, "keypoints are not a list of numbers", field=field)
        if len(values) % 3:
            raise ClipFormatError(
                path,
                "keypoint count is not a multiple of 3",
                field=field,
                expected="3 per joint",
                actual=len(values),
            )
        layout = layout_for_joints(len(values) // 3, path, field, layout)
        pose = np.asarray(values, dtype=np.float64).reshape(-1, 3)
        if not np.isfinite(pose).all():
            raise ClipFormatError(path, "non-finite keypoint", field=field)
        if pose.any():
            out.append(pose)
    if layout is None:  # nobody in the frame: no layout to learn from it
        return out, ""
    return out, layout


def read_openpose_folder(
    folder: str | Path, layout: str | None = None, label: int | None = None, dataset: str = "openpose"
) -> Clip:
    """One clip from a folder of OpenPose frame files (channels ``xys``, one slot per track).

    ``meta.extra["skipped_frames"]`` lists the malformed frames as ``{"file", "reason"}``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ClipFormatError(folder, "not a folder of OpenPose *_keypoints.json files")
    files = frame_files(folder)
    if not files:
        raise ClipFormatError(folder, "no *_keypoints.json files")
    detections: list[list[np.ndarray]] = []
    skipped: list[dict[str, str]] = []
    for path in files:
        try:
            people, found = read_openpose_frame(path, layout)
        except ClipFormatError as err:
            reason = str(err)[len(str(path)) :].lstrip(": ")
            warnings.warn(f"{path}: frame skipped: {reason}", FrameSkipped, stacklevel=2)
            skipped.append({"file": path.name, "reason": reason})
            detections.append([])
            continue
        layout = layout or found or None
        detections.append(people)
    if layout is None:
        raise ClipFormatError(folder, "nobody detected in any frame", expected="at least one person")
    meta = ClipMeta(
        source=str(folder),
        name=folder.name,
        dataset=dataset,
        frame_range=(0, len(files)),
        extra={"units": "pixels", "skipped_frames": skipped},
    )
    return detections_to_clip(
        detections,
        num_joints=get_layout(layout).num_joints,
        channels="xys",
        layout=layout,
        meta=meta,
        label=label,
    )
