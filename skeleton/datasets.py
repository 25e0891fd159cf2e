"""Supported datasets: where their files are, how to read them, their classes and protocols.

One explicit table, ``DATASETS``, maps a dataset key to its ``DatasetSpec``. Reading happens in
worker processes, so a spec only hands out picklable ``SourceItem`` tuples and ``read_item``
turns one back into clips.

Pose-estimator output (``openpose``, ``kinetics-skeleton``, ``landmarks``, ``arrays``,
``pyskl``) takes its layout from the files. Labels: Kinetics-skeleton and PySKL files carry
them; for the others, when the clips lie in two or more class folders (``<root>/<class>/...``),
the folder names sorted are the classes; otherwise a JSON ``label`` is used or the clips are
unlabelled.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

from skeleton.classes import (
    MSR_ACTION3D_CLASSES,
    NTU60_CLASSES,
    NTU120_CLASSES,
    PKUMMD_CLASSES,
    UTD_MHAD_CLASSES,
)
from skeleton.clip import Clip, ClipMeta
from skeleton.errors import DatasetError
from skeleton.readers.arrays import read_array_json, read_npy
from skeleton.readers.auto import read_json_clip
from skeleton.readers.kinetics import read_kinetics_skeleton
from skeleton.readers.landmarks import read_landmarks_csv, read_landmarks_json
from skeleton.readers.msr import read_msr_action3d
from skeleton.readers.npz import read_npz, read_npz_header
from skeleton.readers.ntu import parse_ntu_name, read_ntu_skeleton
from skeleton.readers.openpose import read_openpose_folder
from skeleton.readers.pkummd import read_pkummd
from skeleton.readers.pyskl import read_pyskl
from skeleton.readers.utd import read_utd_mhad
from skeleton.synthetic import SYNTHETIC_CLASSES, synthetic_clip

# Standard cross-subject training performers (Shahroudy et al. 2016; Liu et al. 2019).
NTU60_XSUB_TRAIN = frozenset({1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38})
NTU120_XSUB_TRAIN = NTU60_XSUB_TRAIN | frozenset({
    45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86, 89,
    91, 92, 93, 94, 95, 97, 98, 100, 103,
})  # fmt: skip
NTU_XVIEW_TRAIN_CAMERAS = frozenset({"2", "3"})
PKUMMD_XVIEW_TRAIN_VIEWS = frozenset({"M", "R"})


class SourceItem(NamedTuple):
    """One unit of reading work: a file (plus its label file) or a synthetic sample index.

    For the estimator datasets ``sample`` is the class-folder label (-1: none) and ``aux`` the
    class name; for ``synthetic`` ``path`` is ``synthetic:<seed>[:<layout>:<channels>]``.
    """

    dataset: str
    path: str
    aux: str | None = None
    sample: int = 0


Splitter = Callable[[ClipMeta], str | None]


@dataclass(frozen=True)
class DatasetSpec:
    """How to discover, read and split one dataset.

    Attributes:
        name: dataset key.
        layout: skeleton layout of its clips.
        class_names: names by 0-based label (None: read from the data, for ``npz``).
        protocols: protocol name -> function giving ``"train"``/``"test"`` (None: excluded).
    """

    name: str
    layout: str
    class_names: tuple[str, ...] | None
    protocols: dict[str, Splitter]


def _odd_subject_train(meta: ClipMeta) -> str | None:
    if meta.subject is None:
        return None
    return "train" if meta.subject % 2 == 1 else "test"


def _ntu_xsub(train: frozenset[int]) -> Splitter:
    return lambda meta: None if meta.subject is None else ("train" if meta.subject in train else "test")


def _ntu_xview(meta: ClipMeta) -> str | None:
    return None if meta.view is None else ("train" if meta.view in NTU_XVIEW_TRAIN_CAMERAS else "test")


def _ntu_xset(meta: ClipMeta) -> str | None:
    return None if meta.setup is None else ("train" if meta.setup % 2 == 0 else "test")


def _pkummd_xview(meta: ClipMeta) -> str | None:
    return None if meta.view is None else ("train" if meta.view in PKUMMD_XVIEW_TRAIN_VIEWS else "test")


HOLDOUT_TEST_PERCENT = 30


def _holdout(meta: ClipMeta) -> str:
    """A fixed 70/30 split by a hash of the clip's name, for data with no subjects or views (pose
    estimator output): the same clip always falls on the same side, whatever else is prepared."""
    bucket = int(hashlib.sha256(meta.name.encode()).hexdigest()[:8], 16) % 100
    return "test" if bucket < HOLDOUT_TEST_PERCENT else "train"


def _from_file(protocol: str) -> Splitter:
    return lambda meta: meta.extra.get("splits", {}).get(protocol)


DATASETS: dict[str, DatasetSpec] = {
    "ntu60": DatasetSpec(
        "ntu60", "ntu", NTU60_CLASSES, {"xsub": _ntu_xsub(NTU60_XSUB_TRAIN), "xview": _ntu_xview}
    ),
    "ntu120": DatasetSpec(
        "ntu120", "ntu", NTU120_CLASSES, {"xsub": _ntu_xsub(NTU120_XSUB_TRAIN), "xset": _ntu_xset}
    ),
    "pku-mmd": DatasetSpec("pku-mmd", "ntu", PKUMMD_CLASSES, {"xview": _pkummd_xview}),
    "msr-action3d": DatasetSpec("msr-action3d", "msr", MSR_ACTION3D_CLASSES, {"xsub": _odd_subject_train}),
    "utd-mhad": DatasetSpec("utd-mhad", "kinect_v1", UTD_MHAD_CLASSES, {"xsub": _odd_subject_train}),
    "npz": DatasetSpec("npz", "ntu", None, {}),
    "synthetic": DatasetSpec("synthetic", "ntu", SYNTHETIC_CLASSES, {"xsub": _odd_subject_train}),
    # pose-estimator output; "" = the layout is read from the files
    "openpose": DatasetSpec("openpose", "", None, {"holdout": _holdout}),
    "kinetics-skeleton": DatasetSpec("kinetics-skeleton", "openpose18", None, {"holdout": _holdout}),
    "landmarks": DatasetSpec("landmarks", "", None, {"holdout": _holdout}),
    "arrays": DatasetSpec("arrays", "", None, {"holdout": _holdout}),
    "pyskl": DatasetSpec("pyskl", "", None, {}),
}
ESTIMATOR_DATASETS = ("openpose", "kinetics-skeleton", "landmarks", "arrays", "pyskl")
FOLDER_LABELLED = ("openpose", "landmarks", "arrays")


def get_dataset(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise DatasetError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}") from None


def _files(root: Path, pattern: str) -> list[Path]:
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise DatasetError(f"{root}: no such file or directory")
    return sorted(root.rglob(pattern), key=lambda p: p.name)


def _pkummd_split_file(root: Path, name: str) -> Path | None:
    found = sorted(root.rglob(name)) if root.is_dir() else []
    return found[0] if found else None


def read_pkummd_split(path: Path) -> dict[str, str]:
    """Sequence name -> train/test from an official PKU-MMD split file.

    The file lists the training sequences after a line starting with ``Training`` and the test
    ones after a line starting with ``Validation``/``Validataion``/``Test``; names are separated
    by commas or whitespace.
    """
    assignment: dict[str, str] = {}
    part: str | None = None
    for line in path.read_text().splitlines():
        head = line.strip().lower()
        if head.startswith("train"):
            part, line = "train", line.split(":", 1)[1] if ":" in line else ""
        elif head.startswith(("valid", "test")):
            part, line = "test", line.split(":", 1)[1] if ":" in line else ""
        for name in re.split(r"[,\s]+", line.strip()):
            if name and part is not None:
                assignment[name] = part
    if not assignment:
        raise DatasetError(
            f"{path}: no sequence names found; expected 'Training videos:' and 'Validation videos:' sections"
        )
    return assignment


def _openpose_folders(root: Path) -> list[Path]:
    if root.is_dir() and any(root.glob("*_keypoints.json")):
        return [root]
    return sorted({p.parent for p in _files(root, "*_keypoints.json")})


def _with_folder_labels(dataset: str, root: Path, paths: list[Path]) -> list[SourceItem]:
    """Items labelled by their class folder (the first folder under ``root``) when there are two
    or more such folders, else unlabelled (``sample`` -1)."""

    def folder(p: Path) -> str | None:
        parts = p.relative_to(root).parts if root.is_dir() and p != root else ()
        return parts[0] if len(parts) > 1 else None

    names = sorted({f for f in (folder(p) for p in paths) if f is not None})
    if len(names) < 2 or any(folder(p) is None for p in paths):
        return [SourceItem(dataset, str(p), None, -1) for p in paths]
    index = {n: i for i, n in enumerate(names)}
    return [SourceItem(dataset, str(p), folder(p), index[folder(p) or ""]) for p in paths]


def _estimator_items(spec: DatasetSpec, root: Path) -> list[SourceItem]:
    if spec.name == "openpose":
        return _with_folder_labels("openpose", root, _openpose_folders(root))
    if spec.name == "kinetics-skeleton":
        files = [p for p in _files(root, "*.json") if not p.stem.endswith("_label")]
        return [SourceItem(spec.name, str(p)) for p in files]
    if spec.name == "pyskl":
        return [SourceItem(spec.name, str(p)) for p in _files(root, "*.pkl")]
    patterns = ("*.json", "*.csv") if spec.name == "landmarks" else ("*.npy", "*.json")
    files = sorted({p for pattern in patterns for p in _files(root, pattern)}, key=lambda p: str(p))
    return _with_folder_labels(spec.name, root, files)


def discover(
    spec: DatasetSpec,
    root: Path | None,
    num_samples: int = 0,
    seed: int = 0,
    synthetic_layout: str = "ntu",
    synthetic_channels: str = "xyz",
) -> list[SourceItem]:
    """The reading work for a dataset under ``root`` (ignored for ``synthetic``)."""
    if spec.name == "synthetic":
        if num_samples <= 0:
            raise DatasetError(f"synthetic: --num-samples must be positive, got {num_samples}")
        source = f"synthetic:{seed}" + (
            f":{synthetic_layout}:{synthetic_channels}"
            if (synthetic_layout, synthetic_channels) != ("ntu", "xyz")
            else ""
        )
        return [SourceItem("synthetic", source, None, i) for i in range(num_samples)]
    if root is None:
        raise DatasetError(f"{spec.name}: --root is required")
    if spec.name in ESTIMATOR_DATASETS:
        return _estimator_items(spec, root)
    if spec.name in ("ntu60", "ntu120"):
        items = []
        for path in _files(root, "*.skeleton"):
            fields = parse_ntu_name(path.stem)
            if spec.name == "ntu60" and fields is not None and fields["action"] > 60:
                continue
            items.append(SourceItem(spec.name, str(path)))
        return items
    if spec.name == "pku-mmd":
        files = [
            p
            for p in _files(root, "*.txt")
            if "label" not in str(p.parent).lower()
            and "split" not in str(p.parent).lower()
            and not p.name.startswith("cross-")
        ]
        labels = {p.name: p for p in _files(root, "*.txt") if "label" in str(p.parent).lower()}
        return [
            SourceItem("pku-mmd", str(p), str(labels[p.name]) if p.name in labels else None) for p in files
        ]
    patterns = {"msr-action3d": "*_skeleton3D.txt", "utd-mhad": "*_skeleton.mat", "npz": "*.npz"}
    return [SourceItem(spec.name, str(p)) for p in _files(root, patterns[spec.name])]


def read_item(item: SourceItem) -> list[Clip]:
    """Read one SourceItem into clips (runs in worker processes)."""
    if item.dataset in ("ntu60", "ntu120"):
        return [read_ntu_skeleton(item.path, dataset=item.dataset)]
    if item.dataset == "pku-mmd":
        return read_pkummd(item.path, item.aux)
    if item.dataset == "msr-action3d":
        return [read_msr_action3d(item.path)]
    if item.dataset == "utd-mhad":
        return [read_utd_mhad(item.path)]
    if item.dataset == "npz":
        return read_npz(item.path)
    if item.dataset == "synthetic":
        _, seed, *rest = item.path.split(":")
        return [synthetic_clip(item.sample, int(seed), *rest)]
    if item.dataset in ESTIMATOR_DATASETS:
        return _read_estimator_item(item)
    raise DatasetError(f"unknown dataset {item.dataset!r}")


def _read_estimator_item(item: SourceItem) -> list[Clip]:
    path = Path(item.path)
    if item.dataset == "pyskl":
        return read_pyskl(path)
    if item.dataset == "kinetics-skeleton":
        return [read_kinetics_skeleton(path)]
    if item.dataset == "openpose":
        clip = read_openpose_folder(path)
    elif item.dataset == "landmarks":
        clip = read_landmarks_csv(path) if path.suffix.lower() == ".csv" else read_landmarks_json(path)
    elif path.suffix.lower() == ".npy":
        clip = read_npy(path)
    else:
        clip = read_array_json(path) if item.dataset == "arrays" else read_json_clip(path)
    if item.sample >= 0:
        clip = replace(
            clip,
            label=item.sample,
            meta=replace(clip.meta, extra={**clip.meta.extra, "class_name": item.aux}),
        )
    return [replace(clip, meta=replace(clip.meta, dataset=item.dataset))]


def _kinetics_classes(items: list[SourceItem]) -> tuple[str, ...] | None:
    """Names by label index from the label file of each clip folder, as ST-GCN ships them:
    ``<folder>_label.json`` beside the folder (or ``*_label.json`` inside it), mapping clip id to
    ``{"label", "label_index"}``; indices no file names become ``class_<i>``. Two files giving
    one index different names are refused (their numberings differ: prepare them apart)."""
    names: dict[int, tuple[str, Path]] = {}
    for folder in sorted({Path(item.path).parent for item in items}):
        for label_file in [folder.parent / f"{folder.name}_label.json", *sorted(folder.glob("*_label.json"))]:
            if not label_file.is_file():
                continue
            try:
                entries = [
                    (int(e["label_index"]), str(e["label"]))
                    for e in json.loads(label_file.read_text()).values()
                ]
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
                raise DatasetError(f"{label_file}: not a Kinetics-skeleton label file ({err})") from None
            for index, name in entries:
                known = names.setdefault(index, (name, label_file))
                if known[0] != name:
                    raise DatasetError(
                        f"{label_file}: label index {index} is {name!r}, but {known[1]} calls it "
                        f"{known[0]!r}; prepare folders with different numberings separately"
                    )
    if not names:
        return None
    return tuple(names[i][0] if i in names else f"class_{i}" for i in range(max(names) + 1))


def dataset_classes(spec: DatasetSpec, items: list[SourceItem]) -> tuple[str, ...] | None:
    """Class names; for ``npz`` those of the first file that has them; for the estimator datasets
    the class folders, or the Kinetics-skeleton label files."""
    if spec.name in FOLDER_LABELLED:
        folders = {item.sample: item.aux for item in items if item.sample >= 0}
        return tuple(str(folders[i]) for i in range(len(folders))) if folders else None
    if spec.name == "kinetics-skeleton":
        return _kinetics_classes(items)
    if spec.class_names is not None or spec.name != "npz":
        return spec.class_names
    for item in items:
        names = read_npz_header(item.path)["class_names"]
        if names:
            return tuple(names)
    return None


def dataset_layout(spec: DatasetSpec, items: list[SourceItem]) -> str:
    """The layout of a dataset's clips: the spec's, or read from the first file."""
    if spec.name == "synthetic" and items and items[0].path.count(":") == 3:
        return items[0].path.split(":")[2]
    if not spec.layout and items:
        return read_item(items[0])[0].layout
    if spec.name == "npz" and items:
        layouts = {read_npz_header(item.path)["layout"] for item in items}
        if len(layouts) > 1:
            raise DatasetError(f"npz files mix layouts {sorted(layouts)}; prepare them separately")
        return layouts.pop()
    return spec.layout


def _listed(assignment: dict[str, str]) -> Splitter:
    return lambda meta: assignment.get(str(meta.extra.get("sequence")))


def dataset_protocols(
    spec: DatasetSpec, items: list[SourceItem], root: Path | None
) -> tuple[dict[str, Splitter], dict[str, str]]:
    """The protocols usable here, and those that are not with the reason.

    ``npz`` takes its protocols from the ``split_<name>`` arrays of its files. PKU-MMD takes
    cross-subject (and, when present, cross-view) from the official split files
    ``cross-subject.txt`` / ``cross-view.txt`` found under the root; without the former its
    cross-subject protocol is unavailable, and cross-view falls back to the view letter
    (middle and right views train, left view test).
    """
    protocols = dict(spec.protocols)
    unavailable: dict[str, str] = {}
    if spec.name == "npz":
        names = sorted({p for item in items for p in read_npz_header(item.path)["protocols"]})
        protocols = {p: _from_file(p) for p in names}
    if spec.name == "pyskl":
        names = sorted(
            {p for item in items for clip in read_pyskl(item.path) for p in clip.meta.extra["splits"]}
        )
        protocols = {p: _from_file(p) for p in names}
    if spec.name == "pku-mmd":
        for protocol, file_name in (("xsub", "cross-subject.txt"), ("xview", "cross-view.txt")):
            split_file = _pkummd_split_file(root, file_name) if root is not None else None
            if split_file is not None:
                protocols[protocol] = _listed(read_pkummd_split(split_file))
            elif protocol not in protocols:
                unavailable[protocol] = f"no {file_name} split file under the dataset root"
    return protocols, unavailable
