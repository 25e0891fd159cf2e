"""Kinetics-skeleton JSON, the format ST-GCN (Yan et al., AAAI 2018) ships Kinetics-400 in.

One file per clip: ``{"data": [{"frame_index": 1, "skeleton": [{"pose": [x0, y0, x1, y1, ...],
"score": [s0, s1, ...]}, ...]}, ...], "label": "name", "label_index": 0}``. OpenPose COCO-18
(``openpose18``), 36 pose values and 18 scores per person, x and y normalised to 0-1 by the
image size; a missing joint is 0 in pose and score; a frame with nobody has an empty
``skeleton``; ``frame_index`` is 1-based. People are linked across frames into tracks
(``skeleton.tracking``); the label index becomes ``Clip.label`` (the name goes to
``meta.extra["label_name"]``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from skeleton.clip import Clip, ClipMeta
from skeleton.errors import ClipFormatError
from skeleton.layouts import get_layout
from skeleton.readers.common import MAX_PEOPLE_PER_FRAME, frame_limit, load_json
from skeleton.tracking import detections_to_clip

LAYOUT = "openpose18"


def _numbers(values: Any, count: int, path: Path, field: str) -> np.ndarray:
    if not isinstance(values, list) or len(values) != count:
        actual = len(values) if isinstance(values, list) else type(values).__name__
        raise ClipFormatError(path, "wrong number of values", field=field, expected=count, actual=actual)
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ClipFormatError(path, "non-numeric value", field=field, expected="numbers") from None
    if not np.isfinite(arr).all():
        raise ClipFormatError(path, "non-finite value", field=field)
    return arr


def is_kinetics_skeleton(data: Any) -> bool:
    """Whether parsed JSON looks like a Kinetics-skeleton clip."""
    return (
        isinstance(data, dict) and isinstance(data.get("data"), list) and "skeleton" in str(data["data"][:1])
    )


def read_kinetics_skeleton(path: str | Path, data: Any = None) -> Clip:
    """One Kinetics-skeleton clip: channels ``xys``, one slot per track, layout ``openpose18``."""
    path = Path(path)
    data = load_json(path) if data is None else data
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise ClipFormatError(path, "no frame list", field="data", expected="a list of frames")
    v = get_layout(LAYOUT).num_joints
    frames: dict[int, list[np.ndarray]] = {}
    for i, frame in enumerate(data["data"]):
        where = f"data[{i}]"
        if not isinstance(frame, dict):
            raise ClipFormatError(path, "frame is not an object", field=where)
        index = frame.get("frame_index")
        if not isinstance(index, int) or isinstance(index, bool) or not 1 <= index <= frame_limit():
            raise ClipFormatError(
                path,
                "bad frame index",
                field=f"{where}.frame_index",
                expected=f"1..{frame_limit()}",
                actual=index,
            )
        people = frame.get("skeleton", [])
        if not isinstance(people, list) or len(people) > MAX_PEOPLE_PER_FRAME:
            raise ClipFormatError(
                path,
                "bad skeleton list",
                field=f"{where}.skeleton",
                expected=f"a list of <= {MAX_PEOPLE_PER_FRAME}",
            )
        for j, person in enumerate(people):
            field = f"{where}.skeleton[{j}]"
            if not isinstance(person, dict):
                raise ClipFormatError(path, "person is not an object", field=field)
            pose = _numbers(person.get("pose"), 2 * v, path, f"{field}.pose").reshape(v, 2)
            score = _numbers(person.get("score"), v, path, f"{field}.score")
            values = np.concatenate([pose, score[:, None]], axis=1)
            values[(pose == 0).all(axis=1)] = 0.0
            if values.any():
                frames.setdefault(index - 1, []).append(values)
    num_frames = max(frames, default=-1) + 1
    if num_frames == 0:
        raise ClipFormatError(
            path, "nobody detected in any frame", field="data", expected="at least one person"
        )
    label = data.get("label_index")
    if label is not None and (not isinstance(label, int) or isinstance(label, bool) or label < 0):
        raise ClipFormatError(
            path, "bad label index", field="label_index", expected="an int >= 0", actual=label
        )
    meta = ClipMeta(
        source=str(path),
        name=path.stem,
        dataset="kinetics-skeleton",
        frame_range=(0, num_frames),
        extra={"units": "normalised", "label_name": data.get("label")},
    )
    detections = [frames.get(t, []) for t in range(num_frames)]
    return detections_to_clip(detections, num_joints=v, channels="xys", layout=LAYOUT, meta=meta, label=label)
