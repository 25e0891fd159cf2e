"""A generic ``.npz`` clip format so users can bring any dataset.

Keys (only ``joints`` is required; arrays are loaded with ``allow_pickle=False``):

==================  ===============  ==========================================================
key                 shape            meaning
==================  ===============  ==========================================================
``joints``          (N, M, T, V, C)  float values; also accepted: (M, T, V, C) or (T, V, C)
                                     for a single clip
``lengths``         (N,) int         valid frames per clip (frames past it are padding)
``labels``          (N,) int         0-based class index, -1 for unlabelled
``class_names``     (C,) str         class names, index = label
``layout``          () str           ``ntu`` (default) or any other layout name (``coco17``, ...)
``channels``        () str           ``xyz`` (default for C = 3 in a capture layout), ``xy``,
                                     ``xys`` (default for C = 3 in an estimator layout), ``xyzs``
``names``           (N,) str         sample names (default ``<file stem>_<i>``)
``subjects``        (N,) int         performer ids
``views``           (N,) str         camera / view ids
``setups``          (N,) int         setup ids
``repetitions``     (N,) int         repetition ids
``split_<name>``    (N,) str         ``train`` / ``test`` per clip for protocol ``<name>``
==================  ===============  ==========================================================
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from skeleton.clip import Clip, ClipMeta, check_joints
from skeleton.errors import ClipFormatError
from skeleton.layouts import LAYOUTS
from skeleton.readers.common import check_channels_name, default_channels
from skeleton.readers.limits import ReadLimits
from skeleton.readers.limits import current as current_limits
from skeleton.readers.npy_header import joints_over_limits, read_npy_header

PER_CLIP_KEYS = ("lengths", "labels", "names", "subjects", "views", "setups", "repetitions")


MAX_MEMBERS = 256  # arrays in one file: the keys above, one split per protocol


def _check_members(path: Path, limits: ReadLimits) -> None:
    """Refuse a file whose members would decompress past ``limits``, from the zip directory and
    each member's ``.npy`` header, before any array is loaded: only stored or deflate members
    (numpy writes nothing else; bzip2 and lzma decompress without an output bound), declared sizes
    and ratios within bounds, header shapes within the clip limits and no larger than declared."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile, ValueError, EOFError) as err:
        raise ClipFormatError(path, f"not a readable .npz file ({err})") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_MEMBERS:
            raise ClipFormatError(
                path, "too many arrays", expected=f"at most {MAX_MEMBERS}", actual=len(infos)
            )
        for info in infos:
            _check_member(path, archive, info, limits)


def _check_member(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: ReadLimits) -> None:
    key = info.filename.removesuffix(".npy")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ClipFormatError(
            path,
            "unsupported compression",
            field=key,
            expected="stored or deflate",
            actual=info.compress_type,
        )
    ratio = info.file_size / max(info.compress_size, 1)
    if ratio > limits.max_ratio:
        raise ClipFormatError(
            path,
            "compression ratio too high",
            field=key,
            expected=f"at most {limits.max_ratio:g}",
            actual=f"{ratio:.0f}",
        )
    if limits.max_array_bytes is not None and info.file_size > limits.max_array_bytes:
        raise ClipFormatError(
            path,
            "array too large",
            field=key,
            expected=f"at most {limits.max_array_bytes} bytes",
            actual=info.file_size,
        )
    try:
        with archive.open(info) as handle:  # deflate: decompressed in bounded steps, header only
            header = read_npy_header(handle)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, RuntimeError) as err:
        raise ClipFormatError(path, f"not a readable .npy member ({err})", field=key) from None
    shape, header_end, nbytes = header.shape, header.offset, header.nbytes
    if header.dtype.hasobject:
        raise ClipFormatError(path, "object arrays are not accepted", field=key)
    if header_end + nbytes > info.file_size:
        raise ClipFormatError(
            path,
            "array larger than its declared size",
            field=key,
            expected=f"{info.file_size} bytes",
            actual=header_end + nbytes,
        )
    if limits.max_array_bytes is not None and nbytes > limits.max_array_bytes:
        raise ClipFormatError(
            path,
            "array too large",
            field=key,
            expected=f"at most {limits.max_array_bytes} bytes",
            actual=nbytes,
        )
    over = joints_over_limits(shape, limits) if key == "joints" else None
    if over is not None:
        what, bound, found = over
        raise ClipFormatError(
            path, f"too many {what}", field="joints", expected=f"at most {bound}", actual=found
        )


def _load(path: Path) -> dict[str, np.ndarray]:
    limits = current_limits()
    if limits is not None:
        _check_members(path, limits)
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise ClipFormatError(path, f"not a readable .npz file ({err})") from None


def read_npz_header(path: str | Path) -> dict[str, Any]:
    """Layout name, class names and protocol names of an ``.npz`` clip file."""
    path = Path(path)
    data = _load(path)
    layout = str(data["layout"]) if "layout" in data else "ntu"
    if layout not in LAYOUTS:
        raise ClipFormatError(path, "unknown layout", field="layout", expected=sorted(LAYOUTS), actual=layout)
    names = [str(n) for n in data["class_names"]] if "class_names" in data else None
    protocols = sorted(key[len("split_") :] for key in data if key.startswith("split_"))
    channels = None
    if "joints" in data and data["joints"].ndim >= 3:
        c = int(data["joints"].shape[-1])
        if "channels" in data:
            channels = check_channels_name(str(data["channels"]), c, path, "channels")
        else:
            channels = default_channels(c, layout, path, "joints")
    return {"layout": layout, "class_names": names, "protocols": protocols, "channels": channels}


def read_npz(path: str | Path) -> list[Clip]:
    """All clips of an ``.npz`` file; ``meta.extra['splits']`` maps protocol -> train/test."""
    path = Path(path)
    data = _load(path)
    if "joints" not in data:
        raise ClipFormatError(path, "missing array", field="joints", expected="joints", actual=sorted(data))
    header = read_npz_header(path)
    num_joints = LAYOUTS[header["layout"]].num_joints
    joints = data["joints"]
    if joints.ndim in (3, 4):
        joints = joints.reshape((1,) * (5 - joints.ndim) + joints.shape)
    if joints.ndim != 5:
        raise ClipFormatError(
            path,
            "wrong array shape",
            field="joints",
            expected="(N, M, T, V, C), (M, T, V, C) or (T, V, C)",
            actual=joints.shape,
        )
    n = joints.shape[0]
    for key in [*PER_CLIP_KEYS, *(k for k in data if k.startswith("split_"))]:
        if key in data and data[key].shape != (n,):
            raise ClipFormatError(
                path, "per-clip array has the wrong length", field=key, expected=(n,), actual=data[key].shape
            )
    class_names = header["class_names"]
    clips = []
    for i in range(n):
        field = f"joints[{i}]"
        length = int(data["lengths"][i]) if "lengths" in data else joints.shape[2]
        if not 0 < length <= joints.shape[2]:
            raise ClipFormatError(
                path,
                "bad clip length",
                field=f"lengths[{i}]",
                expected=f"1..{joints.shape[2]}",
                actual=length,
            )
        arr = check_joints(
            joints[i, :, :length],
            f"{path} {field}",
            num_joints,
            field_name=field,
            channels=header["channels"],
        )
        label = int(data["labels"][i]) if "labels" in data else -1
        if label < -1 or (class_names is not None and label >= len(class_names)):
            raise ClipFormatError(
                path,
                "label out of range",
                field=f"labels[{i}]",
                expected=f"-1..{len(class_names) - 1 if class_names else 'C-1'}",
                actual=label,
            )
        splits = {k[len("split_") :]: str(data[k][i]) for k in data if k.startswith("split_")}
        bad = {k: v for k, v in splits.items() if v not in ("train", "test")}
        if bad:
            key, value = next(iter(bad.items()))
            raise ClipFormatError(
                path, "bad split value", field=f"split_{key}[{i}]", expected="'train' or 'test'", actual=value
            )
        meta = ClipMeta(
            source=str(path),
            name=str(data["names"][i]) if "names" in data else f"{path.stem}_{i:06d}",
            dataset="npz",
            subject=int(data["subjects"][i]) if "subjects" in data else None,
            view=str(data["views"][i]) if "views" in data else None,
            setup=int(data["setups"][i]) if "setups" in data else None,
            repetition=int(data["repetitions"][i]) if "repetitions" in data else None,
            frame_range=(0, length),
            extra={"splits": splits, "index": i},
        )
        clips.append(
            Clip(
                joints=arr,
                label=None if label < 0 else label,
                meta=meta,
                layout=header["layout"],
                channels=header["channels"],
            )
        )
    return clips


def write_npz(path: str | Path, clips: list[Clip], class_names: list[str] | None = None) -> None:
    """Write clips in this format (padding to the longest clip and the most persons)."""
    if not clips:
        raise ClipFormatError(path, "no clips to write")
    layout = clips[0].layout
    m = max(c.joints.shape[0] for c in clips)
    t = max(c.num_frames for c in clips)
    v = clips[0].joints.shape[2]
    channels = clips[0].channels
    joints = np.zeros((len(clips), m, t, v, len(channels)), dtype=np.float32)
    for i, c in enumerate(clips):
        joints[i, : c.joints.shape[0], : c.num_frames] = c.joints
    arrays: dict[str, np.ndarray] = {
        "joints": joints,
        "lengths": np.array([c.num_frames for c in clips]),
        "labels": np.array([-1 if c.label is None else c.label for c in clips]),
        "names": np.array([c.meta.name for c in clips]),
        "layout": np.array(layout),
        "channels": np.array(channels),
    }
    if class_names is not None:
        arrays["class_names"] = np.array(class_names)
    np.savez(path, **arrays)  # type: ignore[arg-type]
