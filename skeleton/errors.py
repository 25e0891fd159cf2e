"""Exceptions raised by the data layer.

Every error names the file and, where it applies, the line or field, with the expected
and the actual value, so that a CLI or the server can turn it into one readable line.
"""

from __future__ import annotations

from pathlib import Path

from common.errors import VclError


class SkeletonError(VclError):
    """Base class of every data-layer error."""


class ClipFormatError(SkeletonError):
    """A clip file (or array) is malformed, truncated or holds unusable values.

    Args:
        source: the file (or a description of the array) being read.
        reason: what is wrong, in a few words.
        line: 1-based line number in a text file, when known.
        field: name of the field or variable involved, when known.
        expected: what the reader expected there.
        actual: what it found.
    """

    def __init__(
        self,
        source: str | Path,
        reason: str,
        *,
        line: int | None = None,
        field: str | None = None,
        expected: object = None,
        actual: object = None,
    ) -> None:
        self.source = str(source)
        self.reason = reason
        self.line = line
        self.field = field
        self.expected = expected
        self.actual = actual
        where = self.source if line is None else f"{self.source}:{line}"
        msg = f"{where}: {reason}"
        if field is not None:
            msg += f" (field {field!r})"
        if expected is not None or actual is not None:
            msg += f": expected {expected}, got {actual}"
        super().__init__(msg)


class DatasetError(SkeletonError):
    """A dataset folder, prepared dataset or manifest is missing, inconsistent or unknown."""


class LayoutError(SkeletonError):
    """An array does not fit the skeleton layout it is declared with."""


class FrameSkipped(UserWarning):
    """A malformed frame of a per-frame format (OpenPose) was skipped; the clip is still read."""
