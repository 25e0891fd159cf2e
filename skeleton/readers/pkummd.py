"""PKU-MMD skeleton text (Kinect v2, 25 joints, two bodies per row).

A skeleton file holds one untrimmed sequence: one row per frame with 150 numbers,
2 bodies x 25 joints x (x, y, z); the second body is zeros when absent. A label file of the
same name holds ``action_id,start_frame,end_frame,confidence`` rows (action ids 1-based).
Each labelled segment becomes one clip: frames ``start .. end`` taken as a 0-based, end-exclusive
slice of the sequence (clamped to its length). Without a label file the whole sequence is one
unlabelled clip. The file name ends in the view: ``-L``, ``-M`` or ``-R``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from skeleton.clip import Clip, ClipMeta, check_joints
from skeleton.errors import ClipFormatError

NUM_JOINTS = 25
ROW_VALUES = 2 * NUM_JOINTS * 3


def read_pkummd_sequence(path: str | Path) -> np.ndarray:
    """The whole sequence as (2, T, 25, 3) float64."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="ascii", errors="replace").splitlines()
    except OSError as err:
        raise ClipFormatError(path, f"cannot read file ({err.strerror})") from None
    rows = [line.split() for line in lines if line.strip()]
    if not rows:
        raise ClipFormatError(path, "empty sequence", expected="at least one frame row", actual="no rows")
    numbered = [i + 1 for i, line in enumerate(lines) if line.strip()]
    for line_no, tokens in zip(numbered, rows, strict=True):
        if len(tokens) != ROW_VALUES:
            raise ClipFormatError(
                path,
                "wrong number of values in frame row",
                line=line_no,
                expected=f"{ROW_VALUES} (2 bodies x 25 joints x xyz)",
                actual=len(tokens),
            )
    try:
        values = np.array(rows, dtype=np.float64)
    except ValueError:
        for line_no, tokens in zip(numbered, rows, strict=True):
            try:
                [float(t) for t in tokens]
            except ValueError:
                bad = next(t for t in tokens if not _is_float(t))
                raise ClipFormatError(
                    path, "non-numeric value", line=line_no, expected="a number", actual=repr(bad)
                ) from None
        raise
    finite = np.isfinite(values).all(axis=1)
    if not finite.all():
        row = int(np.argmin(finite))
        raise ClipFormatError(
            path,
            "non-finite coordinate",
            line=numbered[row],
            expected="finite numbers",
            actual=values[row][~np.isfinite(values[row])][0],
        )
    joints = values.reshape(len(rows), 2, NUM_JOINTS, 3).transpose(1, 0, 2, 3)
    return check_joints(np.ascontiguousarray(joints), str(path), NUM_JOINTS)


def _is_float(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def read_pkummd_labels(path: str | Path) -> list[tuple[int, int, int]]:
    """(action_id 1-based, start, end) rows of a PKU-MMD label file."""
    path = Path(path)
    segments: list[tuple[int, int, int]] = []
    for line_no, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        tokens = [t for t in line.replace(",", " ").split()]
        try:
            action, start, end = (int(float(t)) for t in tokens[:3])
        except ValueError:
            raise ClipFormatError(
                path,
                "bad label row",
                line=line_no,
                expected="action_id,start_frame,end_frame[,confidence]",
                actual=repr(line.strip()),
            ) from None
        if len(tokens) < 3 or action < 1 or start < 0 or end <= start:
            raise ClipFormatError(
                path,
                "bad label row",
                line=line_no,
                expected="action_id >= 1 and 0 <= start < end",
                actual=repr(line.strip()),
            )
        segments.append((action, start, end))
    return segments


def pkummd_view(name: str) -> str | None:
    """The view letter (L, M or R) at the end of a PKU-MMD sequence name."""
    tail = name.rsplit("-", 1)
    return tail[1] if len(tail) == 2 and tail[1] in {"L", "M", "R"} else None


def read_pkummd(path: str | Path, label_path: str | Path | None = None) -> list[Clip]:
    """Clips of one PKU-MMD sequence: one per labelled segment, or the whole sequence unlabelled."""
    path = Path(path)
    joints = read_pkummd_sequence(path)
    num_frames = joints.shape[1]
    view = pkummd_view(path.stem)
    if label_path is None:
        meta = ClipMeta(
            source=str(path),
            name=path.stem,
            dataset="pku-mmd",
            view=view,
            frame_range=(0, num_frames),
            extra={"sequence": path.stem},
        )
        return [Clip(joints=joints, label=None, meta=meta)]
    clips = []
    for k, (action, start, end) in enumerate(read_pkummd_labels(label_path)):
        stop = min(end, num_frames)
        if start >= num_frames:
            raise ClipFormatError(
                label_path,
                f"segment {k + 1} starts after the sequence ends",
                line=None,
                field="start_frame",
                expected=f"< {num_frames}",
                actual=start,
            )
        meta = ClipMeta(
            source=str(path),
            name=f"{path.stem}_{k:03d}",
            dataset="pku-mmd",
            view=view,
            frame_range=(start, stop),
            extra={"sequence": path.stem, "segment": k},
        )
        segment = check_joints(joints[:, start:stop], f"{path} frames {start}..{stop}", NUM_JOINTS)
        clips.append(Clip(joints=segment, label=action - 1, meta=meta))
    return clips
