"""Skeleton layouts: joint names, graph edges, bone parents and the joints the pipelines use.

Three capture layouts and four pose-estimator layouts are built in:

- ``ntu``: Kinect v2, 25 joints (NTU RGB+D 60/120 and PKU-MMD). Edges, bone pairs and the
  graph centre are those of ST-GCN / the official VCL code.
- ``kinect_v1``: Kinect v1, 20 joints in UTD-MHAD order (head first).
- ``msr``: MSR Action3D, 20 joints in its own order.
- ``coco17``: COCO keypoints (MMPose, RTMPose, YOLO-pose, MoveNet), 17 joints; edges and centre
  (the nose) as PySKL's ``coco`` graph.
- ``openpose18``: COCO-18 as OpenPose writes it (COCO-17 plus a neck, in OpenPose order); edges
  and centre (the neck) as ST-GCN's ``openpose`` graph (its Kinetics-skeleton models).
- ``openpose25``: OpenPose BODY_25 (neck, mid-hip and feet added); the 24 tree pairs of
  OpenPose's ``POSE_BODY_25_PAIRS`` (without the ear-shoulder extras), centre the neck.
- ``mediapipe33``: MediaPipe Pose / BlazePose, 33 landmarks; a tree of its connections (face to
  the nose, shoulders to the nose as in the COCO graph, hips to the shoulders, hands and feet to
  wrists and ankles), centre the nose.

Estimator layouts have no pelvis or spine joint. Every layout therefore names its ``hips`` and
``shoulders`` pairs; the pose-estimator pipeline and the layout mappings centre on the mid-hips
and scale by the torso (mid-hips to mid-shoulders), which works for any layout.

Bone parents are not listed by hand: they are the breadth-first tree of the edges rooted at the
graph centre (the centre is its own parent, so its bone is zero). For ``ntu`` this reproduces
the 25 official bone pairs exactly (a test checks it).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

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
        hips: (left, right) joints; their midpoint is the body centre for estimator layouts
            (every built-in layout names them; None only for ad-hoc test layouts).
        up_axis: index of the vertical axis in raw capture coordinates (y = 1 for Kinect; also
            1 in image coordinates, where it points down).
        estimator: True for the layouts of 2D pose estimators (no pelvis or spine joint).
    """

    name: str
    joints: tuple[str, ...]
    edges: tuple[tuple[int, int], ...]
    center: int
    origin: int
    spine: tuple[int, int]
    shoulders: tuple[int, int]
    hips: tuple[int, int] | None = None
    up_axis: int = 1
    estimator: bool = False
    parents: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        v = len(self.joints)
        used = [j for edge in self.edges for j in edge]
        used += [self.center, self.origin, *self.spine, *self.shoulders, *(self.hips or ())]
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

    def mid_hips(self, x: np.ndarray) -> np.ndarray:
        """Midpoint of the hips: x (..., V, C) -> (..., C)."""
        if self.hips is None:
            raise LayoutError(f"layout {self.name!r} names no hip joints")
        return 0.5 * (x[..., self.hips[0], :] + x[..., self.hips[1], :])

    def mid_shoulders(self, x: np.ndarray) -> np.ndarray:
        """Midpoint of the shoulders: x (..., V, C) -> (..., C)."""
        return 0.5 * (x[..., self.shoulders[0], :] + x[..., self.shoulders[1], :])


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
    hips=(12, 16),
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
    hips=(12, 16),
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
    hips=(4, 5),  # mirrored like the shoulders
)

_COCO17_JOINTS = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
    "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
_COCO17_EDGES = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 5), (12, 6), (9, 7), (7, 5), (10, 8), (8, 6),
    (5, 0), (6, 0), (1, 0), (3, 1), (2, 0), (4, 2),
)  # fmt: skip
_OPENPOSE18_JOINTS = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
    "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "right_eye", "left_eye", "right_ear", "left_ear",
)  # fmt: skip
_OPENPOSE18_EDGES = (
    (4, 3), (3, 2), (7, 6), (6, 5), (13, 12), (12, 11), (10, 9), (9, 8), (11, 5), (8, 2), (5, 1),
    (2, 1), (0, 1), (15, 0), (14, 0), (17, 15), (16, 14),
)  # fmt: skip
_OPENPOSE25_JOINTS = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
    "left_wrist", "mid_hip", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee",
    "left_ankle", "right_eye", "left_eye", "right_ear", "left_ear", "left_big_toe",
    "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel",
)  # fmt: skip
_OPENPOSE25_EDGES = (
    (1, 8), (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (8, 9), (9, 10), (10, 11), (8, 12),
    (12, 13), (13, 14), (1, 0), (0, 15), (15, 17), (0, 16), (16, 18), (14, 19), (19, 20), (14, 21),
    (11, 22), (22, 23), (11, 24),
)  # fmt: skip
_MEDIAPIPE33_JOINTS = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel",
    "right_heel", "left_foot_index", "right_foot_index",
)  # fmt: skip
_MEDIAPIPE33_EDGES = (
    (0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (0, 9), (0, 10), (0, 11),
    (0, 12), (11, 13), (13, 15), (15, 17), (15, 19), (15, 21), (12, 14), (14, 16), (16, 18),
    (16, 20), (16, 22), (11, 23), (12, 24), (23, 25), (25, 27), (27, 29), (27, 31), (24, 26),
    (26, 28), (28, 30), (28, 32),
)  # fmt: skip

COCO17 = Layout(
    "coco17", _COCO17_JOINTS, _COCO17_EDGES, center=0, origin=0, spine=(11, 0), shoulders=(5, 6),
    hips=(11, 12), estimator=True,
)  # fmt: skip
OPENPOSE18 = Layout(
    "openpose18", _OPENPOSE18_JOINTS, _OPENPOSE18_EDGES, center=1, origin=1, spine=(11, 1),
    shoulders=(5, 2), hips=(11, 8), estimator=True,
)  # fmt: skip
OPENPOSE25 = Layout(
    "openpose25", _OPENPOSE25_JOINTS, _OPENPOSE25_EDGES, center=1, origin=8, spine=(8, 1),
    shoulders=(5, 2), hips=(12, 9), estimator=True,
)  # fmt: skip
MEDIAPIPE33 = Layout(
    "mediapipe33", _MEDIAPIPE33_JOINTS, _MEDIAPIPE33_EDGES, center=0, origin=0, spine=(23, 0),
    shoulders=(11, 12), hips=(23, 24), estimator=True,
)  # fmt: skip

LAYOUTS: dict[str, Layout] = {
    layout.name: layout for layout in (NTU, KINECT_V1, MSR, COCO17, OPENPOSE18, OPENPOSE25, MEDIAPIPE33)
}


def get_layout(name: str) -> Layout:
    """Look a layout up by name; the error lists the known ones."""
    try:
        return LAYOUTS[name]
    except KeyError:
        raise LayoutError(f"unknown layout {name!r}; known layouts: {', '.join(LAYOUTS)}") from None
