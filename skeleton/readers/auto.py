"""Read a clip file of any supported format, chosen by its extension and content.

This is what the server uses for paths and uploads, so it reads only formats that cannot run
code: PySKL / MMAction2 pickles (``.pkl``) are refused here and read only by
``vcl data prepare --dataset pyskl`` (with a restricted unpickler, ``readers/pyskl.py``).
"""

from __future__ import annotations

from pathlib import Path

from skeleton.clip import Clip, ClipMeta
from skeleton.errors import ClipFormatError
from skeleton.layouts import get_layout
from skeleton.readers.arrays import read_array_json, read_npy
from skeleton.readers.common import load_json
from skeleton.readers.kinetics import is_kinetics_skeleton, read_kinetics_skeleton
from skeleton.readers.landmarks import read_landmarks_csv, read_landmarks_json
from skeleton.readers.msr import read_msr_action3d
from skeleton.readers.npz import read_npz
from skeleton.readers.ntu import read_ntu_skeleton
from skeleton.readers.openpose import read_openpose_folder, read_openpose_frame
from skeleton.readers.pkummd import ROW_VALUES, read_pkummd
from skeleton.readers.utd import read_utd_mhad
from skeleton.tracking import detections_to_clip

FORMATS = (
    ".skeleton (NTU RGB+D), .txt (MSR Action3D or PKU-MMD), .mat (UTD-MHAD), .npz, .npy, "
    ".json (arrays, Kinetics-skeleton, landmark lists, one OpenPose frame), .csv (landmarks), "
    "or a folder of OpenPose *_keypoints.json"
)
SUFFIXES = (".skeleton", ".txt", ".mat", ".npz", ".npy", ".json", ".csv")


def read_json_clip(path: Path) -> Clip:
    """A ``.json`` clip: plain arrays (``joints``), Kinetics-skeleton (``data``), one OpenPose
    frame (``people`` with ``pose_keypoints*``), or landmark lists (``frames`` or a list)."""
    data = load_json(path)
    if isinstance(data, dict) and "joints" in data:
        return read_array_json(path, data)
    if is_kinetics_skeleton(data):
        return read_kinetics_skeleton(path, data)
    if isinstance(data, dict) and "people" in data and "frames" not in data:
        people, layout = read_openpose_frame(path, data=data)
        if not people:
            raise ClipFormatError(path, "nobody detected in the frame", field="people")
        meta = ClipMeta(source=str(path), name=path.stem, dataset="openpose", frame_range=(0, 1))
        v = get_layout(layout).num_joints
        return detections_to_clip([people], num_joints=v, channels="xys", layout=layout, meta=meta)
    if isinstance(data, list) or (isinstance(data, dict) and "frames" in data):
        return read_landmarks_json(path, data=data)
    raise ClipFormatError(
        path,
        "unrecognised JSON clip",
        expected='"joints" (arrays), "data" (Kinetics-skeleton), "people" (OpenPose) or "frames" (landmarks)',
        actual=sorted(data)[:8] if isinstance(data, dict) else type(data).__name__,
    )


def read_clips(path: str | Path) -> list[Clip]:
    """Every clip in a file: NTU ``.skeleton``, UTD-MHAD ``.mat``, ``.npz``, ``.npy``, ``.json``,
    ``.csv``, an OpenPose output folder, and ``.txt`` as PKU-MMD when its first row holds 150
    values, else as MSR Action3D. ``.pkl`` is refused (see the module docstring)."""
    path = Path(path)
    if path.is_dir():
        return [read_openpose_folder(path)]
    if not path.is_file():
        raise ClipFormatError(path, "no such file")
    suffix = path.suffix.lower()
    if suffix == ".skeleton":
        return [read_ntu_skeleton(path)]
    if suffix == ".mat":
        return [read_utd_mhad(path)]
    if suffix == ".npz":
        return read_npz(path)
    if suffix == ".npy":
        return [read_npy(path)]
    if suffix == ".json":
        return [read_json_clip(path)]
    if suffix == ".csv":
        return [read_landmarks_csv(path)]
    if suffix == ".txt":
        with open(path, errors="replace") as fh:
            first = fh.readline().split()
        return read_pkummd(path) if len(first) == ROW_VALUES else [read_msr_action3d(path)]
    if suffix in (".pkl", ".pickle"):
        raise ClipFormatError(
            path,
            "pickles are not read here (loading one can run code); convert it with "
            "`vcl data prepare --dataset pyskl`, which uses a restricted unpickler",
            expected=FORMATS,
            actual=suffix,
        )
    raise ClipFormatError(path, "unsupported file type", expected=FORMATS, actual=suffix or "no extension")
