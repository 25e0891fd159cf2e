"""The unit every reader yields: one skeleton sequence with its label and metadata."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from skeleton.errors import ClipFormatError

# Channel sets a clip can carry, named by their letters: coordinates x, y (image or world) and z
# (depth, 3D only), then s, the estimator's confidence score (visibility for MediaPipe) in 0..1.
CHANNELS: tuple[str, ...] = ("xyz", "xy", "xys", "xyzs")


@dataclass(frozen=True)
class ClipMeta:
    """Where a clip comes from.

    Attributes:
        source: path of the file it was read from.
        name: sample name (file stem, plus the segment for untrimmed sequences).
        dataset: dataset key (``ntu60``, ``pku-mmd``, ...), or ``""`` when unknown.
        subject: performer id, when the dataset defines one.
        view: camera / view id as a string (``"2"`` for NTU camera 2, ``"L"`` for PKU-MMD).
        setup: NTU setup number.
        repetition: replication / trial / episode number.
        frame_range: (start, stop) frame indices of the clip in the source, stop exclusive.
        extra: further reader-specific fields (JSON-serialisable).
    """

    source: str
    name: str
    dataset: str = ""
    subject: int | None = None
    view: str | None = None
    setup: int | None = None
    repetition: int | None = None
    frame_range: tuple[int, int] = (0, 0)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["frame_range"] = list(self.frame_range)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClipMeta:
        """Inverse of ``to_json``; keys that are not fields (e.g. ``label``) are ignored."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        values["frame_range"] = tuple(values.get("frame_range", (0, 0)))
        return cls(**values)


@dataclass(frozen=True)
class Clip:
    """A raw skeleton sequence.

    Attributes:
        joints: (M, T, V, C) float64; M persons (body slots), T frames, V joints, C channels
            as ``channels`` names them (3 for the Kinect captures' x, y, z). An absent person
            in a frame, and a missing joint, is all zeros.
        label: 0-based class index, or None for unlabelled data.
        meta: provenance (subject, view, source file, frame range, ...).
        layout: name of the skeleton layout the joints follow.
        body_ids: (M, T) int64 tracking ids of the body in each slot and frame (0 = empty),
            for formats that carry them (NTU) and for tracked estimator output; None otherwise.
        channels: what the C channels hold, one of ``CHANNELS`` (``"xyz"``, ``"xy"``,
            ``"xys"`` = x, y, score, ``"xyzs"``).
    """

    joints: np.ndarray
    label: int | None
    meta: ClipMeta
    layout: str = "ntu"
    body_ids: np.ndarray | None = None
    channels: str = "xyz"

    def __post_init__(self) -> None:
        if self.channels not in CHANNELS:
            raise ClipFormatError(
                self.meta.source,
                "unknown channels",
                field="channels",
                expected=CHANNELS,
                actual=self.channels,
            )
        if self.joints.ndim != 4 or self.joints.shape[-1] != len(self.channels):
            raise ClipFormatError(
                self.meta.source,
                "joints do not hold the declared channels",
                field="joints",
                expected=f"(M, T, V, {len(self.channels)}) for {self.channels!r}",
                actual=self.joints.shape,
            )

    @property
    def num_frames(self) -> int:
        return int(self.joints.shape[1])

    @property
    def num_bodies(self) -> int:
        """Number of body slots that hold data in at least one frame."""
        present = np.abs(self.joints).reshape(self.joints.shape[0], -1).sum(axis=1) > 0
        return int(present.sum())


def check_joints(
    joints: np.ndarray, source: str, num_joints: int, field_name: str = "joints", channels: str = "xyz"
) -> np.ndarray:
    """Validate a (M, T, V, C) array, C = ``len(channels)``, and return it as float64.

    Raises ClipFormatError naming ``source`` when the shape is wrong, the sequence is empty,
    a value is NaN or infinite, or every value is zero.
    """
    arr = np.asarray(joints)
    c = len(channels)
    if arr.ndim != 4 or arr.shape[-1] != c:
        raise ClipFormatError(
            source, "wrong array shape", field=field_name, expected=f"(M, T, V, {c})", actual=arr.shape
        )
    if arr.shape[2] != num_joints:
        raise ClipFormatError(
            source, "wrong joint count", field=field_name, expected=num_joints, actual=arr.shape[2]
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ClipFormatError(
            source,
            "empty sequence",
            field=field_name,
            expected="T >= 1, M >= 1",
            actual=f"M={arr.shape[0]}, T={arr.shape[1]}",
        )
    try:
        arr = arr.astype(np.float64, copy=False)
    except (TypeError, ValueError):
        raise ClipFormatError(
            source, "non-numeric coordinates", field=field_name, expected="numbers", actual=arr.dtype
        ) from None
    finite = np.isfinite(arr)
    if not finite.all():
        m, t, v, k = (int(i) for i in np.argwhere(~finite)[0])
        raise ClipFormatError(
            source,
            f"non-finite coordinate at person {m}, frame {t}, joint {v}, axis {channels[k]}",
            field=field_name,
            expected="a finite number",
            actual=arr[m, t, v, k],
        )
    if not arr.any():
        raise ClipFormatError(source, "every coordinate is zero (no skeleton captured)", field=field_name)
    return arr
