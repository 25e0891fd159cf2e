"""``vcl data merge``: several prepared datasets of one layout -> one prepared dataset.

The use is pretraining on more clips than one small dataset holds (docs/RESULTS.md: a few hundred
clips do not pretrain an encoder that beats raw coordinates). Each source is taken in one of
three ways (``PART``):

- ``split``: its clips keep their train / test part of the protocol (the dataset evaluated; clips
  the protocol leaves unassigned are left out);
- ``train``: only its training clips, as training clips;
- ``all``: every clip as a training clip (a pretraining-only source: its test subjects do not
  meet the evaluated dataset's test clips, which come from another dataset).

Labels stay usable: the class lists are concatenated, each name prefixed with its source's dataset
name when the sources come from more than one dataset (``utd-mhad: jogging in place``), and every
label is shifted by the classes before it. The sources must agree on layout, raw and network
channels, pipeline (name, version, options) and clip shape; the merged manifest records each
source (path, dataset, content hash, part, clips). Joints are copied in blocks, so memory stays
bounded whatever the sizes; the output is published atomically (``common.publish``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from common.publish import publish_dir
from skeleton.errors import DatasetError
from skeleton.prepared import FILES, FORMAT, FORMAT_VERSION, PreparedDataset, content_hash

PARTS = ("split", "train", "all")
_AGREE = ("layout", "channels", "input_channels", "pipeline")
_BLOCK = 256  # clips copied at a time


def parse_source(text: str) -> tuple[Path, str]:
    """``"DIR"`` or ``"DIR:PART"`` -> (directory, part); the part defaults to ``split``."""
    head, sep, tail = text.rpartition(":")
    if sep and tail in PARTS:
        return Path(head), tail
    if sep and "/" not in tail and tail:
        raise DatasetError(f"source {text!r}: part must be one of {', '.join(PARTS)}, got {tail!r}")
    return Path(text), "split"


def _selection(data: PreparedDataset, part: str, protocol: str) -> tuple[np.ndarray, np.ndarray]:
    """(indices taken, whether each goes to train) for one source."""
    n = len(data)
    if part == "all":
        return np.arange(n, dtype=np.int64), np.ones(n, dtype=bool)
    train = data.split(protocol, "train")
    if part == "train":
        return np.sort(train), np.ones(len(train), dtype=bool)
    test = data.split(protocol, "test")
    taken = np.sort(np.concatenate([train, test]))
    return taken, np.isin(taken, train)


def merge_datasets(
    sources: list[tuple[str | Path, str]],
    out: str | Path,
    *,
    protocol: str = "xsub",
    progress: bool = True,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Merge prepared datasets into ``out`` and return its manifest.

    Args:
        sources: (directory, part) pairs, part one of ``PARTS`` (see the module docstring).
        out: output directory; must not exist unless ``overwrite``.
        protocol: the one protocol of the merged dataset: the ``split`` / ``train`` sources' parts
            under it (each must have it), every ``all`` clip in its train part.
    """
    out = Path(out)
    if len(sources) < 2:
        raise DatasetError(f"merge needs at least two sources, got {len(sources)}")
    if out.exists() and not overwrite:
        raise DatasetError(f"{out}: already exists; choose another --out or pass --overwrite")
    datasets = []
    seen: set[Path] = set()
    for directory, part in sources:
        if Path(directory).resolve() in seen:
            raise DatasetError(f"{directory}: given twice (its clips would be duplicated)")
        seen.add(Path(directory).resolve())
        if part not in PARTS:
            raise DatasetError(f"{directory}: part must be one of {', '.join(PARTS)}, got {part!r}")
        if Path(directory).resolve() == out.resolve():
            raise DatasetError(f"{directory}: a source cannot be the output")
        datasets.append(PreparedDataset(directory))
    first = datasets[0]
    for data in datasets[1:]:
        for key in _AGREE:
            if data.manifest.get(key) != first.manifest.get(key):
                raise DatasetError(
                    f"{data.directory}: {key} {data.manifest.get(key)!r} differs from "
                    f"{first.directory}'s {first.manifest.get(key)!r}; map or prepare both the same way"
                )
        if data.manifest["shape"][1:] != first.manifest["shape"][1:]:
            raise DatasetError(
                f"{data.directory}: clip shape {data.manifest['shape'][1:]} differs from "
                f"{first.directory}'s {first.manifest['shape'][1:]}"
            )
    selections = [_selection(d, part, protocol) for d, (_, part) in zip(datasets, sources, strict=True)]
    names = {d.manifest["dataset"] for d in datasets}
    prefix = len(names) > 1
    class_names: list[str] = []
    offsets = []
    for data in datasets:
        offsets.append(len(class_names))
        own = data.class_names or [f"class {c}" for c in range(int(data.manifest["num_classes"]))]
        class_names += [f"{data.manifest['dataset']}: {c}" if prefix else c for c in own]
    total = sum(len(taken) for taken, _ in selections)
    shape = (total, *first.manifest["shape"][1:])
    with publish_dir(out) as tmp:
        labels = np.empty(total, dtype=np.int64)
        is_train = np.empty(total, dtype=bool)
        joints = np.lib.format.open_memmap(tmp / FILES["joints"], mode="w+", dtype="<f4", shape=shape)
        bar = tqdm(total=total, unit="clip", desc="merge", disable=not progress)
        at = 0
        with open(tmp / FILES["samples"], "w") as fh:
            for data, offset, (taken, train) in zip(datasets, offsets, selections, strict=True):
                samples = data.samples
                for start in range(0, len(taken), _BLOCK):
                    block = taken[start : start + _BLOCK]
                    joints[at : at + len(block)] = data.joints[block]
                    for i, src in enumerate(block):
                        label = int(data.labels[src])
                        labels[at + i] = label + offset if label >= 0 else -1
                        meta = {**samples[src], "label": int(labels[at + i]), "index": at + i}
                        fh.write(json.dumps(meta) + "\n")
                    is_train[at : at + len(block)] = train[start : start + _BLOCK]
                    at += len(block)
                    bar.update(len(block))
        bar.close()
        joints.flush()
        del joints
        np.save(tmp / FILES["labels"], labels)
        splits = {
            f"{protocol}_train": np.flatnonzero(is_train).astype(np.int64),
            f"{protocol}_test": np.flatnonzero(~is_train).astype(np.int64),
        }
        np.savez(tmp / FILES["splits"], **splits)  # type: ignore[arg-type]
        (tmp / FILES["skipped"]).write_text("[]\n")
        per_class = np.bincount(labels[labels >= 0], minlength=len(class_names))
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "dataset": "+".join(d.manifest["dataset"] for d in datasets),
            **{key: first.manifest.get(key) for key in _AGREE},
            "joint_names": first.manifest["joint_names"],
            "mapping": None,
            "camera": None,
            "class_names": class_names,
            "num_classes": len(class_names),
            "num_samples": total,
            "shape": list(shape),
            "axes": ["N", "C", "T", "V", "M"],
            "files": FILES,
            "splits": {
                protocol: {"train": int(is_train.sum()), "test": int((~is_train).sum()), "unassigned": 0}
            },
            "unavailable_protocols": {},
            "source": {
                "merged": [
                    {
                        "path": str(d.directory),
                        "dataset": d.manifest["dataset"],
                        "content_sha256": d.manifest["content_sha256"],
                        "mapping": d.manifest.get("mapping"),
                        "part": part,
                        "clips": len(taken),
                        "train": int(train.sum()),
                    }
                    for d, (_, part), (taken, train) in zip(datasets, sources, selections, strict=True)
                ]
            },
            "counts": {
                "inputs": total,
                "clips": total,
                "skipped": 0,
                "unlabelled": int((labels < 0).sum()),
                "per_class": [int(c) for c in per_class],
            },
            "content_sha256": content_hash(tmp),
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest
