from __future__ import annotations

import numpy as np
import pytest

from skeleton.graph import hop_distance, spatial_partition
from skeleton.layouts import LAYOUTS, NTU, Layout


def test_ntu_partition_equals_the_official_buffer(reference: dict) -> None:
    a = spatial_partition(NTU)
    assert a.dtype == np.float32
    assert np.array_equal(a, reference["A_graph"])


def test_ntu_partition_structure() -> None:
    a = spatial_partition(NTU)
    assert [int((a[k] != 0).sum()) for k in range(3)] == [25, 40, 8]
    pairs = {(int(j), int(i)) for j, i in zip(*np.nonzero(a[2]), strict=True)}
    assert pairs == {(20, 1), (20, 2), (20, 4), (20, 8), (1, 0), (2, 3), (4, 5), (8, 9)}


def test_three_joint_chain_by_hand() -> None:
    chain = Layout(
        "chain", ("a", "b", "c"), ((0, 1), (1, 2)), center=1, origin=1, spine=(0, 1), shoulders=(0, 2)
    )
    a = spatial_partition(chain)
    # degrees with self-loops: 2, 3, 2; A[j, i] = 1 / deg(i)
    expected = np.zeros((3, 3, 3))
    expected[0] = np.diag([1 / 2, 1 / 3, 1 / 2])
    expected[1, 0, 1] = expected[1, 2, 1] = 1 / 3  # leaf -> centre: the leaf is further
    expected[2, 1, 0] = expected[2, 1, 2] = 1 / 2  # centre -> leaf: the centre is closer
    np.testing.assert_allclose(a, expected, rtol=1e-7)


def test_hop_distance_is_infinite_beyond_max_hop() -> None:
    hop = hop_distance(4, ((0, 1), (1, 2), (2, 3)), max_hop=2)
    assert hop[0].tolist() == [0, 1, 2, np.inf]


@pytest.mark.parametrize("layout", LAYOUTS.values(), ids=list(LAYOUTS))
def test_columns_sum_to_one(layout: Layout) -> None:
    a = spatial_partition(layout)
    assert a.shape == (3, layout.num_joints, layout.num_joints)
    np.testing.assert_allclose(a.sum(axis=(0, 1)), 1.0, rtol=1e-6)
    assert np.count_nonzero(a[0]) == layout.num_joints
