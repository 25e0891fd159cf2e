"""UTD-MHAD ``aA_sS_tT_skeleton.mat`` files (Kinect v1, 20 joints, head first).

MATLAB v5 files holding ``d_skel`` of shape (20, 3, T).
"""

from __future__ import annotations

import math
import re
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np
import scipy.io

from skeleton.clip import Clip, ClipMeta, check_joints
from skeleton.errors import ClipFormatError
from skeleton.readers.limits import ReadLimits
from skeleton.readers.limits import current as current_limits

NUM_JOINTS = 20
VARIABLE = "d_skel"
_NAME = re.compile(r"a(\d+)_s(\d+)_t(\d+)")


MAT_HEADER = 128
MI_COMPRESSED = 15
CHUNK = 1 << 16


def _check_mat(path: Path, limits: ReadLimits) -> None:
    """Refuse a MATLAB v5 file that would decompress past ``limits`` before ``loadmat`` runs: the
    zlib elements are inflated in bounded steps and counted (nothing kept), then the shapes
    ``scipy.io.whosmat`` reads from the headers are checked (``d_skel`` frames, bytes)."""
    budget = limits.max_array_bytes
    if limits.max_frames is not None:  # one clip of float64 joints, plus room for the other fields
        clip_bytes = limits.max_frames * NUM_JOINTS * 3 * 8 + (1 << 20)
        budget = clip_bytes if budget is None else min(budget, clip_bytes)
    if budget is not None:
        total = 0
        with open(path, "rb") as fh:
            header = fh.read(MAT_HEADER)
            order = "<" if header[126:128] == b"IM" else ">"
            while len(tag := fh.read(8)) == 8:
                kind, size = struct.unpack(order + "II", tag)
                if kind & 0xFFFF0000:  # a small element packed in its tag
                    continue
                if kind != MI_COMPRESSED:
                    total += size
                    fh.seek(size + (-size % 8), 1)
                else:
                    total += _inflated_size(fh, size, budget - total, path)
                if total > budget:
                    raise ClipFormatError(
                        path,
                        "decompresses too large",
                        expected=f"at most {budget} bytes",
                        actual=f"over {total}",
                    )
    try:
        variables = scipy.io.whosmat(str(path))
    except (OSError, ValueError, TypeError, NotImplementedError, struct.error) as err:
        raise ClipFormatError(path, f"not a readable MATLAB file ({err})") from None
    for name, shape, _ in variables:
        if budget is not None and math.prod(shape) * 8 > budget:
            raise ClipFormatError(
                path, "variable too large", field=name, expected=f"at most {budget} bytes", actual=shape
            )
        if (
            name == VARIABLE
            and limits.max_frames is not None
            and len(shape) == 3
            and shape[2] > limits.max_frames
        ):
            raise ClipFormatError(
                path, "too many frames", field=name, expected=f"at most {limits.max_frames}", actual=shape[2]
            )


def _inflated_size(fh: BinaryIO, size: int, budget: int, path: Path) -> int:
    """Bytes the next ``size`` compressed bytes inflate to, counted in bounded steps, stopping
    once past ``budget``."""
    inflate = zlib.decompressobj()
    total, left = 0, size
    try:
        while left > 0 and total <= budget:
            data = fh.read(min(CHUNK, left))
            if not data:
                break
            left -= len(data)
            while data and total <= budget:
                total += len(inflate.decompress(data, CHUNK))
                data = inflate.unconsumed_tail
    except zlib.error as err:
        raise ClipFormatError(path, f"not a readable MATLAB file ({err})") from None
    fh.seek(left, 1)
    return total


def read_utd_mhad(path: str | Path) -> Clip:
    """One sequence as a Clip with joints (1, T, 20, 3) float64 and label = action - 1."""
    path = Path(path)
    limits = current_limits()
    if limits is not None:
        _check_mat(path, limits)
    try:  # scipy raises NotImplementedError for MATLAB v7.3 (HDF5) files: a format error here
        content = scipy.io.loadmat(str(path), variable_names=[VARIABLE] if limits is not None else None)
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
