"""Clips from requests: JSON joints, ``.npy`` bodies, paths under the data root and uploaded
files, each checked against the per-clip limits (``VCL_MAX_PERSONS``, ``VCL_MAX_FRAMES``) before
any preprocessing. A ``.npy`` body is checked from its header (``server.npy``). Files are read
within ``skeleton.readers.limits`` bounds derived from the same settings, so a compressed file is
refused from its headers before it is decompressed, and uploads stop being read as soon as the
clips so far pass ``VCL_MAX_CLIPS``.

Errors are ``SkeletonError``s naming where the clip was in the request (``clips[0]``, ``clip``,
``upload 'x.npz'``), the limit and the value found.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from server.files import confine, read_path, read_upload
from server.npy import read_npy_body
from server.schemas import ClipIn, ClipOptions
from server.settings import Settings
from skeleton.clip import Clip, ClipMeta, check_joints
from skeleton.errors import SkeletonError
from skeleton.layouts import get_layout
from skeleton.readers.common import check_channels_name, default_channels
from skeleton.readers.limits import ReadLimits, bounded

MAX_COORDINATE = 1e6  # beyond any capture's units; far beyond it float32 maths in the model overflows
Upload = tuple[str | None, bytes]  # (file name as sent, content)
INLINE_BYTES = 128 * 1024  # a .npy body up to this is read on the event loop (about 1 ms of work)


@dataclass(frozen=True)
class ClipSource:
    """Reads a request's clips when called. ``nbytes``: the size of a binary body it parses (0 for
    anything else). The service reads a ``small`` source (a .npy body up to ``INLINE_BYTES``, one
    or a few clips) on the event loop, where handing it to a worker thread and back would cost more
    than the reading itself (docs/server.md); every other source is read in a worker thread."""

    read: Callable[[], list[Clip]]
    nbytes: int = 0

    def __call__(self) -> list[Clip]:
        return self.read()

    @property
    def small(self) -> bool:
        return 0 < self.nbytes <= INLINE_BYTES

    def then(self, step: Callable[[list[Clip]], list[Clip]]) -> ClipSource:
        """This source followed by ``step`` on its clips (the same size)."""
        return ClipSource(lambda: step(self.read()), self.nbytes)


class ClipReader:
    """Turns request clips into ``Clip``s within the settings' limits."""

    def __init__(self, settings: Settings) -> None:
        self.max_persons = settings.max_persons
        self.max_frames = settings.max_frames
        self.max_clips = settings.max_clips
        self.data_root = Path(settings.data_root) if settings.data_root else None

    def limits(self, max_clips: int | None = None) -> ReadLimits:
        """Bounds for reading one file of at most ``max_clips`` clips (default ``VCL_MAX_CLIPS``)."""
        return ReadLimits.for_clips(max_clips or self.max_clips, self.max_persons, self.max_frames)

    def check_size(self, joints: np.ndarray, where: str) -> None:
        """Joints (M, T, V, C) within the person, frame and coordinate limits."""
        if joints.shape[0] > self.max_persons:
            raise SkeletonError(
                f"{where}: {joints.shape[0]} persons, at most {self.max_persons} (VCL_MAX_PERSONS)"
            )
        if joints.shape[1] > self.max_frames:
            raise SkeletonError(
                f"{where}: {joints.shape[1]} frames, at most {self.max_frames} (VCL_MAX_FRAMES)"
            )
        with np.errstate(invalid="ignore"):
            too_far = np.abs(joints) > MAX_COORDINATE
        if too_far.any():
            raise SkeletonError(
                f"{where}: coordinates beyond ±{MAX_COORDINATE:g} (largest {np.nanmax(np.abs(joints)):.3g}); "
                "captures are in metres, millimetres or pixels, all far below that"
            )

    def from_json(self, item: ClipIn, where: str) -> list[Clip]:
        """The clip of JSON joints, or every clip in the file at ``path``."""
        if item.path is not None:
            return self._from_path(item.path, where)
        get_layout(item.layout)
        try:
            arr = np.asarray(item.joints, dtype=np.float64)
        except (ValueError, TypeError, OverflowError):  # ragged, not numbers, or ints past float range
            raise SkeletonError(
                f"{where}.joints: expected a numeric array [M][T][V][3] or [T][V][3]"
            ) from None
        if arr.ndim == 3:
            arr = arr[None]
        if arr.ndim != 4:
            raise SkeletonError(
                f"{where}.joints: expected [M][T][V][3] or [T][V][3], got {arr.ndim} dimensions"
            )
        return [self.clip_of(arr, item, where)]

    def clip_of(self, arr: np.ndarray, options: ClipOptions, where: str) -> Clip:
        """The clip of joints (M, T, V, C) with ``options``' layout, channels and name."""
        layout = get_layout(options.layout)
        self.check_size(arr, where)
        if options.channels is not None:
            channels = check_channels_name(options.channels, arr.shape[-1], where, "channels")
        else:
            channels = default_channels(arr.shape[-1], layout.name, where, "joints")
        joints = check_joints(arr, where, layout.num_joints, channels=channels)
        meta = ClipMeta(source=f"request:{options.name}", name=options.name)
        return Clip(joints=joints, label=None, meta=meta, layout=layout.name, channels=channels)

    def from_npy(self, data: bytes, options: ClipOptions) -> list[Clip]:
        """The clip, or every clip of the batch, of a ``.npy`` body (``server.npy``); a batch's
        clips are ``body[i]`` in messages and all named ``options.name``."""
        get_layout(options.layout)  # an unknown layout is named before the array is looked at
        arr = read_npy_body(data, self.limits())
        batch = arr.reshape((1,) * (5 - arr.ndim) + arr.shape)
        return [
            self.clip_of(clip.astype(np.float64), options, f"body[{i}]" if arr.ndim == 5 else "body")
            for i, clip in enumerate(batch)
        ]

    def _from_path(self, relative: str, where: str) -> list[Clip]:
        path = confine(self.data_root, relative)
        if not path.is_file():
            raise SkeletonError(f"{where}.path {relative!r}: not a file")
        assert self.data_root is not None  # confine refuses paths without one
        with bounded(self.limits()):
            clips = read_path(self.data_root, path)
        for clip in clips:
            self.check_size(clip.joints, where)
        return clips

    def from_uploads(self, uploads: Sequence[Upload]) -> list[Clip]:
        """Every clip in every uploaded file; refused as soon as the clips pass ``VCL_MAX_CLIPS``
        (every file holds at least one clip, so more files than that are refused unread)."""
        if len(uploads) > self.max_clips:
            raise SkeletonError(f"clips: at most {self.max_clips} per request, got {len(uploads)} files")
        clips: list[Clip] = []
        for name, data in uploads:
            if len(clips) >= self.max_clips:
                raise SkeletonError(f"clips: at most {self.max_clips} per request, got more")
            with bounded(self.limits(self.max_clips - len(clips))):
                for clip in read_upload(name, data):
                    self.check_size(clip.joints, f"upload {name!r}")
                    clips.append(clip)
            if len(clips) > self.max_clips:
                raise SkeletonError(f"clips: at most {self.max_clips} per request, got more")
        return clips

    def json_source(self, items: Sequence[ClipIn], where: str = "clips") -> ClipSource:
        """A source of every clip of ``items`` (``where[i]`` in messages)."""
        return ClipSource(
            lambda: [c for i, item in enumerate(items) for c in self.from_json(item, f"{where}[{i}]")]
        )

    def upload_source(self, uploads: Sequence[Upload]) -> ClipSource:
        return ClipSource(lambda: self.from_uploads(uploads))

    def npy_source(self, data: bytes, options: ClipOptions) -> ClipSource:
        return ClipSource(lambda: self.from_npy(data, options), len(data))
