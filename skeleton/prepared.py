"""The prepared-dataset format on disk, and reading it back.

A prepared dataset is a directory holding:

- ``joints.npy``: (N, C, T, V, M) float32, memory-mappable (C = the manifest's
  ``input_channels``: 3 for x, y, z or x, y, score, 2 for x, y);
- ``labels.npy``: (N,) int64, -1 for unlabelled clips;
- ``samples.jsonl``: one JSON object of metadata per clip, in order;
- ``splits.npz``: ``<protocol>_train`` / ``<protocol>_test`` int64 index arrays;
- ``skipped.json``: the inputs that were skipped, each with its reason;
- ``manifest.json``: layout, raw-clip ``channels`` and network ``input_channels``, the layout
  ``mapping`` applied (or null), pipeline and version, class names, split counts, source, counts and
  ``content_sha256`` (over joints, labels and sample names, so it does not depend on paths).
"""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from common.jsonfile import read_json_file
from skeleton.errors import DatasetError

FORMAT = "vcl-prepared-dataset"
FORMAT_VERSION = 1
FILES = {
    "joints": "joints.npy",
    "labels": "labels.npy",
    "samples": "samples.jsonl",
    "splits": "splits.npz",
    "skipped": "skipped.json",
}


def content_hash(directory: Path) -> str:
    """SHA-256 over joints.npy, labels.npy and the sample names, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    for key in ("joints", "labels"):
        with open(directory / FILES[key], "rb") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
    with open(directory / FILES["samples"]) as fh:
        for line in fh:
            digest.update(json.loads(line)["name"].encode() + b"\n")
    return digest.hexdigest()


class PreparedDataset:
    """Read access to a prepared dataset directory.

    Attributes:
        manifest: the parsed ``manifest.json``.
        joints: (N, C, T, V, M) float32 memory map.
        labels: (N,) int64.
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.manifest: dict[str, Any] = read_json_file(
            self.directory / "manifest.json", FORMAT, DatasetError, "a prepared dataset"
        )
        for key, name in FILES.items():
            if not (self.directory / name).is_file():
                raise DatasetError(f"{self.directory}: missing {name} ({key})")

    @cached_property
    def joints(self) -> np.ndarray:
        arr = np.load(self.directory / FILES["joints"], mmap_mode="r")
        expected = tuple(self.manifest["shape"])
        if arr.shape != expected:
            raise DatasetError(
                f"{self.directory / FILES['joints']}: shape {arr.shape} does not match the "
                f"manifest's {expected}"
            )
        return arr

    @cached_property
    def labels(self) -> np.ndarray:
        return np.load(self.directory / FILES["labels"])

    @cached_property
    def samples(self) -> list[dict[str, Any]]:
        with open(self.directory / FILES["samples"]) as fh:
            return [json.loads(line) for line in fh]

    def __len__(self) -> int:
        return int(self.manifest["num_samples"])

    @property
    def class_names(self) -> list[str]:
        return list(self.manifest["class_names"] or [])

    @property
    def protocols(self) -> list[str]:
        return sorted(self.manifest["splits"])

    def split(self, protocol: str, part: str) -> np.ndarray:
        """Sample indices of ``part`` (``train`` or ``test``) under ``protocol``."""
        if part not in ("train", "test"):
            raise DatasetError(f"split part must be 'train' or 'test', got {part!r}")
        if protocol not in self.manifest["splits"]:
            raise DatasetError(
                f"{self.directory}: no protocol {protocol!r}; available: "
                f"{', '.join(self.protocols) or 'none'}"
            )
        with np.load(self.directory / FILES["splits"]) as splits:
            return np.asarray(splits[f"{protocol}_{part}"])

    def verify(self) -> None:
        """Recompute the content hash and compare it with the manifest's."""
        actual = content_hash(self.directory)
        if actual != self.manifest["content_sha256"]:
            raise DatasetError(
                f"{self.directory}: content hash mismatch: manifest says "
                f"{self.manifest['content_sha256']}, files give {actual}"
            )

    def summary(self) -> dict[str, Any]:
        """The fields ``vcl data info`` prints."""
        m = self.manifest
        return {
            "num_samples": m["num_samples"],
            "num_classes": m["num_classes"],
            "layout": m["layout"],
            "channels": m.get("channels", "xyz"),
            "pipeline": f"{m['pipeline']['name']} v{m['pipeline']['version']}",
            "shape": m["shape"],
            "dataset": m["dataset"],
            "splits": m["splits"],
            "skipped": m["counts"]["skipped"],
            "content_sha256": m["content_sha256"],
        }
