"""People across frames: link per-frame detections into tracks and rank them.

Pose estimators list the people of each frame in no stable order and lose them for a few frames.
``link_tracks`` links detections frame by frame: the cost of giving detection d to track k is
the mean distance over the joints present in both (coordinates only, never the score), divided
by the size of the track's last detection (the larger side of its bounding box), so the rule is
the same in pixels and in 0-1 units. The assignment of each frame is the one of least total cost
(the Hungarian method, ``scipy.optimize.linear_sum_assignment``); a pair costing more than
``max_cost`` is not linked. A track not seen for more than ``max_gap`` frames is closed;
a detection left over starts a new track.

``detections_to_clip`` turns the tracks into a ``Clip``: one body slot per track, ranked by
presence (the sum over frames of the mean score of the track's joints, or of the fraction of its
joints present without a score), so the slots the pipelines consider first are the people seen
longest and most surely; each slot's span and id are in ``meta.extra["tracks"]``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import linear_sum_assignment

from skeleton.clip import Clip, ClipMeta, check_joints
from skeleton.errors import ClipFormatError
from skeleton.readers.limits import current as current_limits

MAX_TRACKS = 32  # body slots kept per clip (the lowest-ranked tracks beyond it are dropped)
Detections = list[list[np.ndarray]]  # frame -> people -> (V, C) values, missing joints zero


@dataclass(frozen=True)
class Track:
    """One person followed across frames.

    Attributes:
        id: 1-based, in order of appearance.
        frames: (n,) frame indices where the person was detected, increasing.
        detections: the (V, C) values at those frames.
    """

    id: int
    frames: tuple[int, ...]
    detections: tuple[np.ndarray, ...]

    @property
    def span(self) -> tuple[int, int]:
        """(first, last + 1): the frames from the first to the last detection."""
        return self.frames[0], self.frames[-1] + 1


def _present(pose: np.ndarray, coords: int) -> np.ndarray:
    return (pose[:, :coords] != 0).any(axis=1)


def _size(pose: np.ndarray, coords: int) -> float:
    points = pose[_present(pose, coords), :coords]
    if len(points) < 2:
        return 1.0
    extent = float((points.max(axis=0) - points.min(axis=0)).max())
    return extent if extent > 0 else 1.0


def pose_cost(last: np.ndarray, new: np.ndarray, coords: int) -> float:
    """Mean distance over the joints present in both, over the size of ``last``; inf if none."""
    both = _present(last, coords) & _present(new, coords)
    if not both.any():
        return float("inf")
    dist = np.linalg.norm(last[both, :coords] - new[both, :coords], axis=1).mean()
    return float(dist / _size(last, coords))


def link_tracks(
    detections: Detections, coords: int = 2, max_gap: int = 10, max_cost: float = 1.0
) -> list[Track]:
    """Link the people of each frame into tracks (see the module docstring).

    Args:
        detections: per frame, the people detected, each (V, C).
        coords: leading channels that are coordinates.
        max_gap: frames a track may go unseen and still be continued.
        max_cost: largest cost (mean joint distance / person size) of a link.
    """
    frames: list[list[int]] = []
    poses: list[list[np.ndarray]] = []
    last_seen: list[int] = []
    for t, people in enumerate(detections):
        open_tracks = [k for k, seen in enumerate(last_seen) if t - seen <= max_gap + 1]
        cost = np.full((len(open_tracks), len(people)), np.inf)
        for i, k in enumerate(open_tracks):
            for j, pose in enumerate(people):
                cost[i, j] = pose_cost(poses[k][-1], pose, coords)
        linked: set[int] = set()
        if cost.size:
            finite = np.where(np.isfinite(cost), cost, 1e9)
            for i, j in zip(*linear_sum_assignment(finite), strict=True):
                if cost[i, j] <= max_cost:
                    k = open_tracks[i]
                    frames[k].append(t)
                    poses[k].append(people[j])
                    last_seen[k] = t
                    linked.add(int(j))
        for j, pose in enumerate(people):
            if j not in linked:
                frames.append([t])
                poses.append([pose])
                last_seen.append(t)
    return [Track(k + 1, tuple(f), tuple(p)) for k, (f, p) in enumerate(zip(frames, poses, strict=True))]


def presence(track: Track, channels: str) -> float:
    """Ranking score of a track: sum over frames of its mean joint score (without a score, of the
    fraction of its joints present)."""
    coords = len(channels.rstrip("s"))
    if channels.endswith("s"):
        return float(sum(pose[:, -1].mean() for pose in track.detections))
    return float(sum(_present(pose, coords).mean() for pose in track.detections))


def detections_to_clip(
    detections: Detections,
    *,
    num_joints: int,
    channels: str,
    layout: str,
    meta: ClipMeta,
    label: int | None = None,
    max_gap: int = 10,
    max_tracks: int = MAX_TRACKS,
) -> Clip:
    """Track the people of ``detections`` and return them as a Clip (M tracks, T frames).

    ``meta.extra`` gains ``tracks``: per body slot ``{"id", "span", "frames_detected"}``; and
    ``dropped_tracks``, the number of tracks beyond ``max_tracks`` (or beyond the caller's
    ``max_persons`` read limit, so a crowded clip keeps its most present people). ``body_ids``
    holds each slot's track id in the frames it was detected. Raises ClipFormatError when nobody is detected.
    """
    source = meta.source
    if not any(detections):
        raise ClipFormatError(source, "nobody detected in any frame", expected="at least one person")
    limits = current_limits()
    if limits is not None and limits.max_persons is not None:
        max_tracks = min(max_tracks, limits.max_persons)
    coords = len(channels.rstrip("s"))
    tracks = link_tracks(detections, coords=coords, max_gap=max_gap)
    ranked = sorted(tracks, key=lambda tr: (-presence(tr, channels), tr.id))[:max_tracks]
    joints = np.zeros((len(ranked), len(detections), num_joints, len(channels)))
    body_ids = np.zeros((len(ranked), len(detections)), dtype=np.int64)
    for m, track in enumerate(ranked):
        joints[m, list(track.frames)] = np.stack(track.detections)
        body_ids[m, list(track.frames)] = track.id
    joints = check_joints(joints, source, num_joints, channels=channels)
    spans = [{"id": tr.id, "span": list(tr.span), "frames_detected": len(tr.frames)} for tr in ranked]
    extra = {**meta.extra, "tracks": spans, "dropped_tracks": len(tracks) - len(ranked)}
    return Clip(
        joints=joints,
        label=label,
        meta=replace(meta, extra=extra),
        layout=layout,
        body_ids=body_ids,
        channels=channels,
    )


@dataclass(frozen=True)
class PersonClip:
    """One person of a clip, cut to the frames from its first to its last appearance.

    Attributes:
        clip: a one-person Clip (M = 1) of those frames.
        track: the track id (``meta.extra["tracks"]``), or the body slot + 1 for clips without
            tracks (captures).
        span: (first, last + 1) frame of the person in the original clip.
    """

    clip: Clip
    track: int
    span: tuple[int, int]


def split_persons(clip: Clip) -> list[PersonClip]:
    """Every person (body slot with data) of ``clip`` as its own clip, in slot order."""
    tracks = clip.meta.extra.get("tracks") if isinstance(clip.meta.extra, dict) else None
    out = []
    for m in range(clip.joints.shape[0]):
        present = np.flatnonzero((clip.joints[m] != 0).any(axis=(1, 2)))
        if len(present) == 0:
            continue
        start, stop = int(present[0]), int(present[-1]) + 1
        track = int(tracks[m]["id"]) if tracks and m < len(tracks) else m + 1
        meta = replace(
            clip.meta,
            name=f"{clip.meta.name}#{track}",
            frame_range=(clip.meta.frame_range[0] + start, clip.meta.frame_range[0] + stop),
            extra={**clip.meta.extra, "track": track, "span": [start, stop]},
        )
        ids = None if clip.body_ids is None else clip.body_ids[m : m + 1, start:stop]
        person = replace(clip, joints=clip.joints[m : m + 1, start:stop], meta=meta, body_ids=ids)
        out.append(PersonClip(person, track, (start, stop)))
    return out
