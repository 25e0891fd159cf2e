"""Read a clip file of any supported format, chosen by its extension and content."""

from __future__ import annotations

from pathlib import Path

from skeleton.clip import Clip
from skeleton.errors import ClipFormatError
from skeleton.readers.msr import read_msr_action3d
from skeleton.readers.npz import read_npz
from skeleton.readers.ntu import read_ntu_skeleton
from skeleton.readers.pkummd import ROW_VALUES, read_pkummd
from skeleton.readers.utd import read_utd_mhad

FORMATS = ".skeleton (NTU RGB+D), .txt (MSR Action3D or PKU-MMD), .mat (UTD-MHAD), .npz"


def read_clips(path: str | Path) -> list[Clip]:
    """Every clip in a file: NTU ``.skeleton``, UTD-MHAD ``.mat``, ``.npz``, and ``.txt`` as
    PKU-MMD when its first row holds 150 values, else as MSR Action3D."""
    path = Path(path)
    if not path.is_file():
        raise ClipFormatError(path, "no such file")
    suffix = path.suffix.lower()
    if suffix == ".skeleton":
        return [read_ntu_skeleton(path)]
    if suffix == ".mat":
        return [read_utd_mhad(path)]
    if suffix == ".npz":
        return read_npz(path)
    if suffix == ".txt":
        with open(path, errors="replace") as fh:
            first = fh.readline().split()
        return read_pkummd(path) if len(first) == ROW_VALUES else [read_msr_action3d(path)]
    raise ClipFormatError(path, "unsupported file type", expected=FORMATS, actual=suffix or "no extension")
