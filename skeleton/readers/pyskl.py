"""PySKL / MMAction2 skeleton annotation files (``.pkl``), read with a restricted unpickler.

The file is a pickle of ``{"split": {"xsub_train": [frame_dir, ...], ...}, "annotations": [
{"frame_dir": str, "label": int, "img_shape": (h, w), "total_frames": int, "keypoint":
(M, T, V, C) float array, "keypoint_score": (M, T, V) float array}, ...]}`` (an older variant is
the bare list of annotations). 2D files have C = 2 plus ``keypoint_score`` (channels ``xys``);
3D files (PySKL's NTU) have C = 3 and no score (``xyz``).

Never unpickle untrusted data: a pickle can run any code while it loads. ``RestrictedUnpickler``
resolves no global except numpy's array and dtype reconstructors and ``set``/``frozenset``, so
loading builds only plain containers, numbers, strings and numpy arrays; anything else is refused
with ClipFormatError naming the global. Even so this reader runs only in ``vcl data prepare``
(``--dataset pyskl``), on files the operator chose; the server's reader refuses ``.pkl``.

Splits become protocols: ``<name>_train`` -> protocol ``<name>`` train; ``<name>_val`` and
``<name>_test`` -> test; a bare ``train`` / ``val`` / ``test`` -> protocol ``default``.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from skeleton.clip import Clip, ClipMeta, check_joints
from skeleton.errors import ClipFormatError
from skeleton.readers.common import MAX_FRAMES, check_file_size, layout_for_joints

MAX_PICKLE_BYTES = 4 << 30
MAX_PERSONS = 64
ALLOWED_GLOBALS = frozenset(
    {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # protocol 2 stores array bytes as latin-1 text
        ("builtins", "set"),
        ("builtins", "frozenset"),
    }
)


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals in ALLOWED_GLOBALS."""

    def __init__(self, file: Any, source: str) -> None:
        super().__init__(file)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED_GLOBALS:
            raise ClipFormatError(
                self.source,
                "pickle refers to a global that is not allowed (only plain containers and numpy arrays load)",
                expected="numpy arrays, dicts, lists, tuples, numbers, strings",
                actual=f"{module}.{name}",
            )
        return super().find_class(module, name)

    def persistent_load(self, pid: Any) -> Any:
        raise ClipFormatError(self.source, "pickle uses persistent ids, which are not allowed")


def load_restricted(path: str | Path) -> Any:
    """The object in a pickle file, built only from allowed types."""
    path = Path(path)
    check_file_size(path, MAX_PICKLE_BYTES)
    with open(path, "rb") as fh:
        try:
            return RestrictedUnpickler(fh, str(path)).load()
        except ClipFormatError:
            raise
        except Exception as err:  # a truncated or corrupt pickle raises many kinds
            raise ClipFormatError(path, f"not a readable pickle ({type(err).__name__}: {err})") from None


def _protocol(split: str) -> tuple[str, str] | None:
    base, _, part = split.rpartition("_")
    if not base:
        base, part = "default", split
    if part == "train":
        return base, "train"
    if part in ("val", "test"):
        return base, "test"
    return None


def _array(ann: dict[str, Any], key: str, path: Path, field: str) -> np.ndarray:
    value = ann.get(key)
    if not isinstance(value, np.ndarray) or not np.issubdtype(value.dtype, np.number):
        raise ClipFormatError(
            path, "missing or non-numeric array", field=field, expected="a numeric numpy array"
        )
    return value


def read_pyskl(path: str | Path, layout: str | None = None) -> list[Clip]:
    """Every annotation of a PySKL / MMAction2 pickle as a Clip (see the module docstring)."""
    path = Path(path)
    data = load_restricted(path)
    if isinstance(data, list):
        data = {"annotations": data, "split": {}}
    if not isinstance(data, dict) or not isinstance(data.get("annotations"), list):
        raise ClipFormatError(path, "no annotation list", field="annotations", expected="a list of dicts")
    splits: dict[str, dict[str, str]] = {}
    for split, names in (data.get("split") or {}).items():
        protocol = _protocol(str(split))
        if protocol is None or not isinstance(names, list | tuple):
            continue
        for name in names:
            splits.setdefault(str(name), {})[protocol[0]] = protocol[1]
    clips = []
    for i, ann in enumerate(data["annotations"]):
        where = f"annotations[{i}]"
        if not isinstance(ann, dict):
            raise ClipFormatError(path, "annotation is not a dict", field=where)
        kp = _array(ann, "keypoint", path, f"{where}.keypoint")
        if (
            kp.ndim != 4
            or kp.shape[-1] not in (2, 3)
            or kp.shape[0] > MAX_PERSONS
            or kp.shape[1] > MAX_FRAMES
        ):
            raise ClipFormatError(
                path,
                "wrong keypoint shape",
                field=f"{where}.keypoint",
                expected=f"(M <= {MAX_PERSONS}, T <= {MAX_FRAMES}, V, 2 or 3)",
                actual=kp.shape,
            )
        ann_layout = layout_for_joints(kp.shape[2], path, f"{where}.keypoint", layout)
        if kp.shape[-1] == 2:
            score = _array(ann, "keypoint_score", path, f"{where}.keypoint_score")
            if score.shape != kp.shape[:3]:
                raise ClipFormatError(
                    path,
                    "score shape differs",
                    field=f"{where}.keypoint_score",
                    expected=kp.shape[:3],
                    actual=score.shape,
                )
            values, channels = np.concatenate([kp, score[..., None]], axis=-1), "xys"
        else:
            values, channels = kp, "xyz"
        joints = check_joints(
            values, f"{path} {where}", kp.shape[2], field_name=f"{where}.keypoint", channels=channels
        )
        label = ann.get("label")
        if label is not None and not isinstance(label, int | np.integer):
            raise ClipFormatError(path, "bad label", field=f"{where}.label", expected="an int", actual=label)
        name = str(ann.get("frame_dir", f"{path.stem}_{i:06d}"))
        shape = ann.get("img_shape")
        meta = ClipMeta(
            source=str(path),
            name=name,
            dataset="pyskl",
            frame_range=(0, joints.shape[1]),
            extra={
                "splits": splits.get(name, {}),
                "index": i,
                "img_shape": [int(s) for s in shape] if isinstance(shape, tuple | list) else None,
            },
        )
        clips.append(
            Clip(
                joints=joints,
                label=None if label is None or int(label) < 0 else int(label),
                meta=meta,
                layout=ann_layout,
                channels=channels,
            )
        )
    return clips
