"""MSR Action3D ``aAA_sSS_eEE_skeleton3D.txt`` files (20 joints, MSR order).

Four numbers per line (x y z confidence), 20 lines per frame, metres, y up.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from skeleton.clip import Clip, ClipMeta, check_joints
from skeleton.errors import ClipFormatError

NUM_JOINTS = 20
_NAME = re.compile(r"a(\d+)_s(\d+)_e(\d+)")


def read_msr_action3d(path: str | Path) -> Clip:
    """One sequence as a Clip with joints (1, T, 20, 3) float64 and label = action - 1."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="ascii", errors="replace").splitlines()
    except OSError as err:
        raise ClipFormatError(path, f"cannot read file ({err.strerror})") from None
    while lines and not lines[-1].strip():
        lines.pop()
    rows = [line.split() for line in lines]
    for line_no, tokens in enumerate(rows, start=1):
        if len(tokens) != 4:
            raise ClipFormatError(
                path,
                "bad joint line",
                line=line_no,
                expected="4 values (x y z confidence)",
                actual=f"{len(tokens)} values",
            )
    if not rows:
        raise ClipFormatError(path, "empty sequence", expected="at least one frame", actual="no lines")
    if len(rows) % NUM_JOINTS:
        raise ClipFormatError(
            path,
            "truncated file: line count is not a whole number of frames",
            line=len(rows),
            expected=f"a multiple of {NUM_JOINTS} lines",
            actual=f"{len(rows)} lines",
        )
    try:
        values = np.array([tokens[:3] for tokens in rows], dtype=np.float64)
    except ValueError:
        line_no = next(i for i, t in enumerate(rows, start=1) if not _numeric(t[:3]))
        raise ClipFormatError(
            path,
            "non-numeric coordinate",
            line=line_no,
            expected="x y z as numbers",
            actual=" ".join(rows[line_no - 1][:3]),
        ) from None
    finite = np.isfinite(values).all(axis=1)
    if not finite.all():
        bad = int(np.argmin(finite))
        raise ClipFormatError(
            path,
            "non-finite coordinate",
            line=bad + 1,
            expected="finite x y z",
            actual=" ".join(rows[bad][:3]),
        )
    joints = values.reshape(1, -1, NUM_JOINTS, 3)
    check_joints(joints, str(path), NUM_JOINTS)
    match = _NAME.search(path.stem)
    name = path.stem.replace("_skeleton3D", "")
    meta = ClipMeta(
        source=str(path),
        name=name,
        dataset="msr-action3d",
        subject=int(match.group(2)) if match else None,
        repetition=int(match.group(3)) if match else None,
        frame_range=(0, joints.shape[1]),
    )
    return Clip(joints=joints, label=int(match.group(1)) - 1 if match else None, meta=meta, layout="msr")


def _numeric(tokens: list[str]) -> bool:
    try:
        [float(t) for t in tokens]
    except ValueError:
        return False
    return True
