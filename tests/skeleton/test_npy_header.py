"""``skeleton.readers.npy_header``: what a ``.npy`` header declares, and clip bounds on a shape."""

from __future__ import annotations

import io

import numpy as np
import pytest

from skeleton.readers.limits import ReadLimits
from skeleton.readers.npy_header import joints_over_limits, read_npy_header

LIMITS = ReadLimits(max_clips=8, max_persons=2, max_frames=100)


def test_the_header_says_shape_dtype_order_and_where_the_data_starts() -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.zeros((3, 7, 25, 2), ">f2", order="F"), allow_pickle=False)
    data = buffer.getvalue()
    header = read_npy_header(io.BytesIO(data))
    assert (header.shape, header.dtype, header.fortran_order) == ((3, 7, 25, 2), np.dtype(">f2"), True)
    assert header.offset == 128 and header.nbytes == 3 * 7 * 25 * 2 * 2 == len(data) - header.offset


def test_a_negative_dimension_is_refused() -> None:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f4", "fortran_order": False, "shape": (2, -1)})
    with pytest.raises(ValueError, match=r"negative dimension in shape \(2, -1\)"):
        read_npy_header(io.BytesIO(buffer.getvalue()))


@pytest.mark.parametrize(
    ("shape", "over"),
    [
        ((100, 25, 3), None),
        ((101, 25, 3), ("frames", 100, 101)),
        ((3, 100, 25, 3), ("persons", 2, 3)),
        ((2, 101, 25, 3), ("frames", 100, 101)),
        ((9, 3, 101, 25, 3), ("clips", 8, 9)),  # clips are named first
        ((8, 2, 100, 25, 3), None),
        ((10**6, 25), None),  # another rank: not a joints shape
    ],
)
def test_joints_over_limits_names_the_first_bound_passed(
    shape: tuple[int, ...], over: tuple[str, int, int] | None
) -> None:
    assert joints_over_limits(shape, LIMITS) == over
