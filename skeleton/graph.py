"""ST-GCN spatial-partition adjacency (Yan et al., AAAI 2018, "Spatial Temporal Graph
Convolutional Networks for Skeleton-Based Action Recognition", section 3.6).

Max hop 1: A0 holds the self-loops; a neighbour pair (j -> i) goes to A1 when j is not closer
to the graph centre than i (equal distances, infinity included, or further), to A2 when it is
closer. Columns are normalised by node degree (self-loop counted), so the column sums of
A0 + A1 + A2 are all 1.
"""

from __future__ import annotations

import numpy as np

from skeleton.layouts import Layout


def hop_distance(num_joints: int, edges: tuple[tuple[int, int], ...], max_hop: int = 1) -> np.ndarray:
    """(V, V) hop distances, ``inf`` beyond ``max_hop``."""
    adj = np.zeros((num_joints, num_joints))
    for a, b in edges:
        adj[a, b] = adj[b, a] = 1
    dist = np.full((num_joints, num_joints), np.inf)
    reach = [np.linalg.matrix_power(adj + np.eye(num_joints), d) > 0 for d in range(max_hop + 1)]
    for d in range(max_hop, -1, -1):
        dist[reach[d]] = d
    return dist


def spatial_partition(layout: Layout) -> np.ndarray:
    """The (K=3, V, V) spatial-partition adjacency of a layout, float32.

    ``A[k, j, i]`` weights the message from joint j to joint i in partition k.
    """
    v = layout.num_joints
    hop = hop_distance(v, layout.edges, max_hop=1)
    adjacency = (hop <= 1).astype(np.float64)
    degree = adjacency.sum(axis=0)
    normalized = adjacency @ np.diag(1.0 / degree)
    to_center = hop[:, layout.center]
    parts = np.zeros((3, v, v))
    for j in range(v):
        for i in range(v):
            if hop[j, i] == 0:
                parts[0, j, i] = normalized[j, i]
            elif hop[j, i] == 1:
                k = 2 if to_center[j] < to_center[i] else 1
                parts[k, j, i] = normalized[j, i]
    return parts.astype(np.float32)
