"""Skeleton layouts: joint names, graph edges, bone parents and the joints the pipelines use.

Three capture layouts are built in:

- ``ntu``: Kinect v2, 25 joints (NTU RGB+D 60/120 and PKU-MMD). Edges, bone pairs and the
  graph centre are those of ST-GCN / the official VCL code.
- ``kinect_v1``: Kinect v1, 20 joints in UTD-MHAD order (head first).
- ``msr``: MSR Action3D, 20 joints in its own order.

Bone parents are not listed by hand: they are the breadth-first tree of the edges rooted at the
graph centre (the centre is its own parent, so its bone is zero). For ``ntu`` this reproduces
the 25 official bone pairs exactly (a test checks it).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from skeleton.errors import LayoutError


def _bfs_parents(num_joints: int, edges: tuple[tuple[int, int], ...], center: int) -> tuple[int, ...]:
    neighbours: list[list[int]] = [[] for _ in range(num_joints)]
    for a, b in edges:
        neighbours[a].append(b)
        neighbours[b].append(a)
    parents = [-1] * num_joints
    parents[center] = center
    queue = deque([center])
    while queue:
        node = queue.popleft()
        for nxt in sorted(neighbours[node]):
            if parents[nxt] == -1:
                parents[nxt] = node
                queue.append(nxt)
    if -1 in parents:
        raise LayoutError(f"joint {parents.index(-1)} is not connected to the centre {center}")
    return tuple(parents)


@dataclass(frozen=True)
class Layout:
    """A skeleton layout.

    Attributes:
        name: layout key (``ntu``, ``kinect_v1``, ``msr``).
        joints: joint names, index = joint id (0-based).
        edges: undirected bones as 0-based (a, b) pairs, self-loops excluded.
        center: graph centre of the ST-GCN spatial partition.
        origin: joint subtracted when centring (spine middle on Kinect v2).
        spine: (lower, upper) joints; vcl-official rotates ``upper - lower`` onto +z.
        shoulders: (left, right) joints; pipelines rotate ``right - left`` onto +x.
        up_axis: index of the vertical axis in raw capture coordinates (y = 1 for Kinect).
    """

    name: str
    joints: tuple[str, ...]
    edges: tuple[tuple[int, int], ...]
    center: int
    origin: int
    spine: tuple[int, int]
    shoulders: tuple[int, int]
    up_axis: int = 1
    parents: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        v = len(self.joints)
        used = [j for edge in self.edges for j in edge]
        used += [self.center, self.origin, *self.spine, *self.shoulders]
        bad = [j for j in used if not 0 <= j < v]
        if bad:
            raise LayoutError(f"layout {self.name!r}: joint ids {bad} outside 0..{v - 1}")
        object.__setattr__(self, "parents", _bfs_parents(v, self.edges, self.center))

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    def index(self, joint_name: str) -> int:
        """0-based id of a joint by name."""
        try:
            return self.joints.index(joint_name)
        except ValueError:
            raise LayoutError(f"layout {self.name!r} has no joint {joint_name!r}") from None


def _one_based(pairs: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    return tuple((a - 1, b - 1) for a, b in pairs)


NTU = Layout(
    name="ntu",
    joints=(
        "spine_base",
        "spine_mid",
        "neck",
        "head",
        "left_shoulder",
        "left_elbow",
        "left_wrist",
        "left_hand",
        "right_shoulder",
        "right_elbow",
        "right_wrist",
        "right_hand",
        "left_hip",
        "left_knee",
        "left_ankle",
        "left_foot",
        "right_hip",
        "right_knee",
        "right_ankle",
        "right_foot",
        "spine_shoulder",
        "left_hand_tip",
        "left_thumb",
        "right_hand_tip",
        "right_thumb",
    ),  # fmt: skip
    edges=_one_based(
        [
            (1, 2),
            (2, 21),
            (3, 21),
            (4, 3),
            (5, 21),
            (6, 5),
            (7, 6),
            (8, 7),
            (9, 21),
            (10, 9),
            (11, 10),
            (12, 11),
            (13, 1),
            (14, 13),
            (15, 14),
            (16, 15),
            (17, 1),
            (18, 17),
            (19, 18),
            (20, 19),
            (22, 23),
            (23, 8),
            (24, 25),
            (25, 12),
        ]
    ),  # fmt: skip
    center=20,
    origin=1,
    spine=(0, 1),
    shoulders=(4, 8),
)

KINECT_V1 = Layout(
    name="kinect_v1",
    joints=(
        "head",
        "shoulder_center",
        "spine",
        "hip_center",
        "left_shoulder",
        "left_elbow",
        "left_wrist",
        "left_hand",
        "right_shoulder",
        "right_elbow",
        "right_wrist",
        "right_hand",
        "left_hip",
        "left_knee",
        "left_ankle",
        "left_foot",
        "right_hip",
        "right_knee",
        "right_ankle",
        "right_foot",
    ),  # fmt: skip
    edges=(
        (0, 1),
        (1, 2),
        (2, 3),
        (1, 4),
        (4, 5),
        (5, 6),
        (6, 7),
        (1, 8),
        (8, 9),
        (9, 10),
        (10, 11),
        (3, 12),
        (12, 13),
        (13, 14),
        (14, 15),
        (3, 16),
        (16, 17),
        (17, 18),
        (18, 19),
    ),  # fmt: skip
    center=1,
    origin=2,
    spine=(3, 2),
    shoulders=(4, 8),
)

MSR = Layout(
    name="msr",
    joints=(
        "right_shoulder",
        "left_shoulder",
        "neck",
        "spine",
        "right_hip",
        "left_hip",
        "hip_center",
        "right_elbow",
        "left_elbow",
        "right_wrist",
        "left_wrist",
        "right_hand",
        "left_hand",
        "right_knee",
        "left_knee",
        "right_ankle",
        "left_ankle",
        "right_foot",
        "left_foot",
        "head",
    ),  # fmt: skip
    edges=(
        (19, 2),
        (2, 0),
        (2, 1),
        (2, 3),
        (3, 6),
        (6, 4),
        (6, 5),
        (0, 7),
        (7, 9),
        (9, 11),
        (1, 8),
        (8, 10),
        (10, 12),
        (4, 13),
        (13, 15),
        (15, 17),
        (5, 14),
        (14, 16),
        (16, 18),
    ),  # fmt: skip
    center=2,
    origin=3,
    spine=(6, 3),
    # The dataset's "right" shoulder lies at smaller camera x than its "left" (the labels are
    # mirrored relative to the Kinect SDK's, as seen in the real files), so right - left would
    # turn people around; the pair is swapped so every layout ends up facing the same way.
    shoulders=(0, 1),
)

LAYOUTS: dict[str, Layout] = {layout.name: layout for layout in (NTU, KINECT_V1, MSR)}


def get_layout(name: str) -> Layout:
    """Look a layout up by name; the error lists the known ones."""
    try:
        return LAYOUTS[name]
    except KeyError:
        raise LayoutError(f"unknown layout {name!r}; known layouts: {', '.join(LAYOUTS)}") from None
