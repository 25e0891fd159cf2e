"""What the pose-estimator readers share: size limits checked before reading, JSON loading,
the layout a joint count implies, and the channels an array's last axis holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from skeleton.clip import CHANNELS
from skeleton.errors import ClipFormatError
from skeleton.layouts import LAYOUTS
from skeleton.readers.limits import current as current_limits

MAX_FILE_BYTES = 256 << 20  # one clip file (JSON, CSV, .npy); larger ones are refused unread
MAX_FRAMES = 100_000  # frames of one clip (about an hour at 30 fps)
MAX_PEOPLE_PER_FRAME = 64
MAX_FRAME_FILES = MAX_FRAMES  # per-frame files in one OpenPose folder

# Joint counts that name an estimator layout unambiguously (25 could be NTU, but estimator
# formats never hold Kinect joints).
ESTIMATOR_LAYOUTS: dict[int, str] = {17: "coco17", 18: "openpose18", 25: "openpose25", 33: "mediapipe33"}


def frame_limit() -> int:
    """Frames one clip may have: MAX_FRAMES, or less when the caller set read limits (the server)."""
    limits = current_limits()
    if limits is not None and limits.max_frames is not None:
        return min(MAX_FRAMES, limits.max_frames)
    return MAX_FRAMES


def check_frame_count(count: int, source: str | Path, field: str) -> None:
    """Raise ClipFormatError when a clip declares more frames than ``frame_limit()``."""
    limit = frame_limit()
    if count > limit:
        raise ClipFormatError(
            source, "too many frames", field=field, expected=f"at most {limit}", actual=count
        )


def check_file_size(path: Path, limit: int | None = None) -> None:
    """Raise ClipFormatError when ``path`` is missing or larger than ``limit`` (MAX_FILE_BYTES) bytes."""
    limit = MAX_FILE_BYTES if limit is None else limit
    try:
        size = path.stat().st_size
    except OSError as err:
        raise ClipFormatError(path, f"cannot read file ({err.strerror})") from None
    if size > limit:
        raise ClipFormatError(
            path, "file too large", expected=f"at most {limit} bytes", actual=f"{size} bytes"
        )


def load_json(path: Path) -> Any:
    """The parsed JSON of a file within MAX_FILE_BYTES; ClipFormatError when it is not JSON."""
    check_file_size(path)
    try:
        return json.loads(path.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ClipFormatError(path, f"not valid JSON ({err})") from None
    except RecursionError:
        raise ClipFormatError(path, "JSON nested too deeply") from None


def layout_for_joints(count: int, source: str | Path, field: str, layout: str | None = None) -> str:
    """The layout of a skeleton with ``count`` joints: ``layout`` when given (checked), else by count."""
    if layout is not None:
        if layout not in LAYOUTS:
            raise ClipFormatError(
                source, "unknown layout", field="layout", expected=sorted(LAYOUTS), actual=layout
            )
        if LAYOUTS[layout].num_joints != count:
            raise ClipFormatError(
                source, "wrong joint count", field=field, expected=LAYOUTS[layout].num_joints, actual=count
            )
        return layout
    if count not in ESTIMATOR_LAYOUTS:
        raise ClipFormatError(
            source,
            "joint count names no pose-estimator layout",
            field=field,
            expected=" or ".join(f"{v} ({k})" for v, k in sorted(ESTIMATOR_LAYOUTS.items())),
            actual=count,
        )
    return ESTIMATOR_LAYOUTS[count]


def default_channels(num_channels: int, layout: str, source: str | Path, field: str) -> str:
    """Channels of an array whose last axis is ``num_channels`` long: 2 -> xy; 3 -> xys for an
    estimator layout, xyz for a capture layout; 4 -> xyzs."""
    if num_channels == 3:
        return "xys" if LAYOUTS[layout].estimator else "xyz"
    by_count = {len(c): c for c in CHANNELS if len(c) != 3}
    if num_channels not in by_count:
        raise ClipFormatError(
            source, "wrong channel count", field=field, expected="2, 3 or 4", actual=num_channels
        )
    return by_count[num_channels]


def check_channels_name(channels: str, num_channels: int, source: str | Path, field: str) -> str:
    """``channels`` if it is known and fits an axis of ``num_channels``."""
    if channels not in CHANNELS or len(channels) != num_channels:
        raise ClipFormatError(
            source,
            "channels do not fit the array",
            field=field,
            expected=f"one of {[c for c in CHANNELS if len(c) == num_channels] or list(CHANNELS)}",
            actual=channels,
        )
    return channels
