"""UTD-MHAD ``aA_sS_tT_skeleton.mat`` files (Kinect v1, 20 joints, head first).

MATLAB v5 files holding ``d_skel`` of shape (20, 3, T).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import scipy.io

from skeleton.clip import Clip, ClipMeta, check_joints
from skeleton.errors import ClipFormatError

NUM_JOINTS = 20
VARIABLE = "d_skel"
_NAME = re.compile(r"a(\d+)_s(\d+)_t(\d+)")


def read_utd_mhad(path: str | Path) -> Clip:
    """One sequence as a Clip with joints (1, T, 20, 3) float64 and label = action - 1."""
    path = Path(path)
    try:  # scipy raises NotImplementedError for MATLAB v7.3 (HDF5) files: a format error here
        content = scipy.io.loadmat(str(path))
    except (OSError, ValueError, TypeError, NotImplementedError) as err:
        raise ClipFormatError(path, f"not a readable MATLAB file ({err})") from None
    if VARIABLE not in content:
        found = sorted(k for k in content if not k.startswith("__"))
        raise ClipFormatError(path, "missing variable", field=VARIABLE, expected=VARIABLE, actual=found)
    skel = np.asarray(content[VARIABLE])
    if skel.ndim == 2:
        skel = skel[:, :, None]
    if skel.ndim != 3 or skel.shape[1] != 3 or skel.shape[0] != NUM_JOINTS:
        raise ClipFormatError(
            path, "wrong array shape", field=VARIABLE, expected=f"({NUM_JOINTS}, 3, T)", actual=skel.shape
        )
    joints = check_joints(skel.transpose(2, 0, 1)[None], str(path), NUM_JOINTS)
    match = _NAME.search(path.stem)
    name = path.stem.replace("_skeleton", "")
    meta = ClipMeta(
        source=str(path),
        name=name,
        dataset="utd-mhad",
        subject=int(match.group(2)) if match else None,
        repetition=int(match.group(3)) if match else None,
        frame_range=(0, joints.shape[1]),
    )
    return Clip(
        joints=np.ascontiguousarray(joints),
        label=int(match.group(1)) - 1 if match else None,
        meta=meta,
        layout="kinect_v1",
    )
