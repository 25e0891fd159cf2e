"""A ``.npy`` request body (``Content-Type: application/x-npy``): the binary fast path for clips.

The body is one array as ``numpy.save`` writes it: a clip (T, V, C) or (M, T, V, C), or a batch of
same-shaped clips (N, M, T, V, C), in float16, float32 or float64. It is checked from its header
(``skeleton.readers.npy_header``) before any array is made: the magic (so a pickle or any other
format is refused by its first bytes; nothing is ever unpickled), the dtype (no object, integer or
structured arrays), the rank, the clip limits (``VCL_MAX_CLIPS``, ``VCL_MAX_PERSONS``,
``VCL_MAX_FRAMES``), and that the data is exactly as long as the header declares. The array is
then a view of the body's bytes (``np.frombuffer``): nothing beyond the body, which
``VCL_MAX_BODY_BYTES`` already bounds, is allocated until the clip is converted for the model.
Errors are ``SkeletonError``s naming ``body`` and what is wrong.
"""

from __future__ import annotations

import io

import numpy as np

from skeleton.errors import SkeletonError
from skeleton.readers.limits import ReadLimits
from skeleton.readers.npy_header import MAGIC, joints_over_limits, read_npy_header

MEDIA_TYPE = "application/x-npy"
DTYPES = ("float16", "float32", "float64")
SETTING = {"clips": "VCL_MAX_CLIPS", "persons": "VCL_MAX_PERSONS", "frames": "VCL_MAX_FRAMES"}
SHAPES = "(T, V, C), (M, T, V, C) or a batch (N, M, T, V, C)"


def read_npy_body(data: bytes, limits: ReadLimits, where: str = "body") -> np.ndarray:
    """The array of a ``.npy`` body, 3 to 5 dimensions (read-only, a view of ``data``)."""
    if not data.startswith(MAGIC):
        raise SkeletonError(
            f"{where}: not a .npy array (expected the bytes numpy.save writes, starting {MAGIC!r}; "
            f"got {len(data)} bytes starting {data[:8]!r})"
        )
    try:
        header = read_npy_header(io.BytesIO(data))
    except (ValueError, EOFError) as err:
        raise SkeletonError(f"{where}: unreadable .npy header ({err})") from None
    dtype, shape = header.dtype, header.shape
    if dtype.hasobject:
        raise SkeletonError(
            f"{where}: object arrays are not accepted (they are pickles); send {', '.join(DTYPES)}"
        )
    if dtype.name not in DTYPES:
        raise SkeletonError(f"{where}: dtype {dtype.str!r} ({dtype.name}): expected {', '.join(DTYPES)}")
    if len(shape) not in (3, 4, 5):
        raise SkeletonError(f"{where}: shape {shape}: expected {SHAPES}")
    over = joints_over_limits(shape, limits)
    if over is not None:
        what, bound, found = over
        raise SkeletonError(f"{where}: {found} {what}, at most {bound} ({SETTING[what]})")
    if 0 in shape:
        raise SkeletonError(f"{where}: shape {shape}: the array is empty")
    held = len(data) - header.offset
    if held != header.nbytes:
        state = "truncated" if held < header.nbytes else "longer than its header says"
        raise SkeletonError(
            f"{where}: {state}: the header declares {shape} {dtype.name}, {header.nbytes} bytes of data; "
            f"the body holds {held}"
        )
    flat = np.frombuffer(data, dtype=dtype, count=header.nbytes // dtype.itemsize, offset=header.offset)
    return flat.reshape(shape, order="F" if header.fortran_order else "C")
