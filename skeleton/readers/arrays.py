"""Plain arrays for any layout: JSON ``{"joints": ...}`` and NumPy ``.npy`` files.

JSON: ``{"layout": "coco17", "channels": "xys", "joints": [[[x, y, s], ...], ...], "label": 2,
"name": "clip"}``; ``joints`` is (T, V, C) or (M, T, V, C), missing joints and absent people
zeros. Only ``joints`` is required: ``layout`` defaults to the estimator layout of V joints
(17, 18, 25, 33), ``channels`` to ``xy`` (C = 2), ``xys`` (C = 3, estimator layout), ``xyz``
(C = 3, capture layout) or ``xyzs`` (C = 4). ``.npy``: the array alone (loaded without pickle),
with the same defaults or a ``layout`` / ``channels`` given to the reader.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from skeleton.clip import Clip, ClipMeta, check_joints
from skeleton.errors import ClipFormatError
from skeleton.readers.common import (
    check_channels_name,
    check_file_size,
    default_channels,
    frame_limit,
    layout_for_joints,
    load_json,
)

MAX_PERSONS = 64


def clip_from_array(
    arr: np.ndarray,
    path: Path,
    field: str,
    layout: str | None,
    channels: str | None,
    label: int | None = None,
    name: str | None = None,
    dataset: str = "arrays",
) -> Clip:
    """A Clip of a (T, V, C) or (M, T, V, C) array, layout and channels given or defaulted."""
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4:
        raise ClipFormatError(
            path, "wrong array shape", field=field, expected="(T, V, C) or (M, T, V, C)", actual=arr.shape
        )
    m, t, v, c = arr.shape
    if m > MAX_PERSONS or t > frame_limit():
        raise ClipFormatError(
            path,
            "array too large",
            field=field,
            expected=f"M <= {MAX_PERSONS}, T <= {frame_limit()}",
            actual=arr.shape,
        )
    layout = layout_for_joints(v, path, field, layout)
    channels = (
        check_channels_name(channels, c, path, "channels")
        if channels
        else default_channels(c, layout, path, field)
    )
    joints = check_joints(arr, f"{path}", v, field_name=field, channels=channels)
    meta = ClipMeta(source=str(path), name=name or path.stem, dataset=dataset, frame_range=(0, t))
    return Clip(joints=joints, label=label, meta=meta, layout=layout, channels=channels)


def read_array_json(path: str | Path, data: Any = None) -> Clip:
    """One clip of a JSON array file (see the module docstring)."""
    path = Path(path)
    data = load_json(path) if data is None else data
    if not isinstance(data, dict) or "joints" not in data:
        raise ClipFormatError(path, "missing field", field="joints", expected='an object with "joints"')
    try:
        arr = np.asarray(data["joints"], dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise ClipFormatError(
            path, "not a numeric array", field="joints", expected="[T][V][C] or [M][T][V][C]"
        ) from None
    label = data.get("label")
    if label is not None and (not isinstance(label, int) or isinstance(label, bool) or label < 0):
        raise ClipFormatError(path, "bad label", field="label", expected="an int >= 0", actual=label)
    for key in ("layout", "channels", "name"):
        if key in data and not isinstance(data[key], str):
            raise ClipFormatError(path, "not a string", field=key, actual=type(data[key]).__name__)
    return clip_from_array(
        arr, path, "joints", data.get("layout"), data.get("channels"), label, data.get("name")
    )


def read_npy(
    path: str | Path, layout: str | None = None, channels: str | None = None, label: int | None = None
) -> Clip:
    """One clip of a ``.npy`` array (T, V, C) or (M, T, V, C); never unpickles."""
    path = Path(path)
    check_file_size(path)
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise ClipFormatError(path, f"not a readable .npy file ({err})") from None
    if not isinstance(arr, np.ndarray) or not np.issubdtype(arr.dtype, np.number):
        raise ClipFormatError(
            path, "not a numeric array", field="array", actual=getattr(arr, "dtype", type(arr))
        )
    return clip_from_array(arr.astype(np.float64), path, "array", layout, channels, label)
