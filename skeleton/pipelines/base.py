"""Shared pieces of the preprocessing pipelines."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np

from skeleton.layouts import Layout


@dataclass(frozen=True)
class PipelineResult:
    """A preprocessed clip.

    Attributes:
        joints: (C, T, V, M) float32 network input (C = the pipeline's ``output_channels``).
        frame_indices: (T,) source frame of each output frame (float positions when interpolated).
        body_slots: (M,) body slot of the raw clip that became each person.
        info: further pipeline-specific details.
    """

    joints: np.ndarray
    frame_indices: np.ndarray
    body_slots: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PipelineOptions:
    """Options every pipeline has; subclasses set the class attributes ``name`` and ``version``.

    Attributes:
        num_frames: T of the output (50 in SkeletonCLR / VCL).
        num_persons: M of the output (2).
        max_bodies: body slots of the raw clip considered (4, as the official code).
    """

    name: ClassVar[str]
    version: ClassVar[str]
    num_frames: int = 50
    num_persons: int = 2
    max_bodies: int = 4

    def describe(self) -> dict[str, Any]:
        """Name, version and options, as recorded in manifests."""
        return {"name": self.name, "version": self.version, **asdict(self)}

    @property
    def input_channels(self) -> str:
        """The channels a raw clip must hold (``Clip.channels``): x, y, z for these pipelines."""
        return "xyz"

    @property
    def output_channels(self) -> int:
        """C of the network input the pipeline produces."""
        return 3

    @property
    def score_channel(self) -> bool:
        """Whether the last output channel is a confidence score (bone and motion average it)."""
        return False


class Pipeline(Protocol):
    """What every pipeline offers: a name and version for manifests, its output size, a call."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def num_frames(self) -> int: ...

    @property
    def num_persons(self) -> int: ...

    @property
    def input_channels(self) -> str: ...

    @property
    def output_channels(self) -> int: ...

    @property
    def score_channel(self) -> bool: ...

    def __call__(self, joints: np.ndarray, layout: Layout) -> PipelineResult: ...

    def describe(self) -> dict[str, Any]: ...


def select_bodies(
    joints: np.ndarray, num_persons: int, max_bodies: int, coords: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Keep the ``num_persons`` most active of the first ``max_bodies`` body slots.

    Activity = std(x) + std(y) + std(z) over the frames where the body is present (its
    values do not sum to 0) x all joints; 0 for a body never present. Ties keep the order
    of a stable ascending sort, reversed (the official VCL / 2s-AGCN rule).

    Args:
        joints: (M_raw, F, V, C) raw values.
        coords: how many leading channels are coordinates (the rest, a score, does not count
            towards activity); default min(C, 3).
    Returns:
        (num_persons, F, V, C) float64 and the (num_persons,) chosen slots.
    """
    m_raw, frames, joints_per_body, channels = joints.shape
    coords = min(channels, 3) if coords is None else coords
    slots = np.zeros((max(max_bodies, num_persons), frames, joints_per_body, channels))
    kept = min(m_raw, max_bodies)
    slots[:kept] = joints[:kept]
    scores = np.zeros(len(slots))
    for s, body in enumerate(slots[:max_bodies]):
        present = body[body.sum(axis=(1, 2)) != 0]
        if len(present):
            scores[s] = sum(present[..., c].std() for c in range(coords))
    order = np.argsort(scores, kind="stable")[::-1][:num_persons]
    return slots[order], order.astype(np.int64)


def rotation_onto(u: np.ndarray, target: np.ndarray, dtype: type = np.float64) -> np.ndarray:
    """(3, 3) right-handed rotation taking the direction of u onto the direction of target.

    Rodrigues' formula about axis u x target by angle arccos(u_hat . target_hat); the identity
    when the axis or the angle is below 1e-6 (u already along target, or u zero).
    """
    u = u.astype(dtype)
    target = target.astype(dtype)
    axis = np.cross(u, target)
    norm_u = np.linalg.norm(u)
    if norm_u == 0:
        return np.eye(3, dtype=dtype)
    cos = np.clip(np.dot(u / norm_u, target / np.linalg.norm(target)), -1.0, 1.0)
    theta = np.arccos(cos)
    if np.abs(axis).sum() < 1e-6 or np.abs(theta) < 1e-6:
        return np.eye(3, dtype=dtype)
    k = axis / np.sqrt(np.dot(axis, axis))
    kx: np.ndarray = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]], dtype=dtype)
    rot = np.cos(theta) * np.eye(3) + np.sin(theta) * kx + (1 - np.cos(theta)) * np.outer(k, k)
    return rot.astype(dtype)
