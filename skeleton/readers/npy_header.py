"""The header of a ``.npy`` array, read and checked before any array is made.

A ``.npy`` file (``numpy.save``) is the magic ``\\x93NUMPY``, a version, a small header
(``{'descr': '<f4', 'fortran_order': False, 'shape': (2, 64, 25, 3)}``) and then the raw data.
Reading the header alone says what loading would allocate, so untrusted arrays (an ``.npz``
member, a request body) are refused from it: an object dtype (a pickle), a negative or oversized
shape, data shorter or longer than the shape declares. ``joints_over_limits`` holds the clip
bounds (``skeleton.readers.limits.ReadLimits``) against a joints shape (T, V, C), (M, T, V, C) or
(N, M, T, V, C).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import IO

import numpy as np

from skeleton.readers.limits import ReadLimits

MAGIC = b"\x93NUMPY"


@dataclass(frozen=True)
class NpyHeader:
    """What a ``.npy`` header declares; ``offset``: bytes before the data."""

    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    offset: int

    @property
    def nbytes(self) -> int:
        """Bytes of data the shape and dtype declare (a Python int: no overflow)."""
        return math.prod(self.shape) * self.dtype.itemsize


def read_npy_header(handle: IO[bytes]) -> NpyHeader:
    """The header at the start of ``handle`` (left just past it). numpy's own parser, which
    bounds the header's length; ValueError for a bad magic, version, header or a negative
    dimension, EOFError when it is cut short."""
    start = handle.tell()
    version = np.lib.format.read_magic(handle)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran_order, dtype = read(handle)
    if any(size < 0 for size in shape):
        raise ValueError(f"negative dimension in shape {shape}")
    return NpyHeader(tuple(shape), dtype, bool(fortran_order), handle.tell() - start)


def joints_over_limits(shape: tuple[int, ...], limits: ReadLimits) -> tuple[str, int, int] | None:
    """(what, bound, found) for the first of clips, persons and frames past its bound in a joints
    shape (T, V, C), (M, T, V, C) or (N, M, T, V, C); None when within them (or another rank)."""
    if len(shape) not in (3, 4, 5):
        return None
    axes = {"clips": 0 if len(shape) == 5 else -1, "persons": len(shape) - 4, "frames": len(shape) - 3}
    bounds = (("clips", limits.max_clips), ("persons", limits.max_persons), ("frames", limits.max_frames))
    for what, bound in bounds:
        axis = axes[what]
        if bound is not None and axis >= 0 and shape[axis] > bound:
            return what, bound, shape[axis]
    return None
