"""Render an NTU-layout body as another layout, and through a pinhole camera as estimator output.

``as_layout`` places every joint of a target layout on an NTU (Kinect v2) skeleton: joints that
are the same body point are copied (shoulders, elbows, wrists, hips, knees, ankles), the rest
are put at fixed offsets in the frame of the head, the torso or the limb they belong to (nose,
eyes and ears ahead of and beside the head, OpenPose's neck and mid-hip as the midpoints of the
shoulders and hips, MediaPipe's fingers from the hand, hand tip and thumb, heels and toes from
the ankle and foot). So one motion can be emitted in every layout, as the synthetic generator
does, and mapping a rendered clip back to ``ntu`` can be checked joint by joint.

``project`` looks at camera-space points (Kinect convention: x to the camera's left, y up,
z away from the camera, metres) through a pinhole camera and returns pixels (u to the right,
v down) with estimator-like defects: Gaussian pixel noise, keypoints dropped to (0, 0, 0) and
keypoints found with a low score and a large error. ``camera_view`` is the same camera without
the defects, applied to a real 3D capture (``vcl data prepare --project-2d``): the clip a
perfect 2D estimator would give for the capture's own viewpoint.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from skeleton.clip import Clip
from skeleton.errors import SkeletonError
from skeleton.layouts import NTU, get_layout
from skeleton.mapping import KINECT_V1_NAMES, MSR_NAMES

_N = {name: i for i, name in enumerate(NTU.joints)}
_CAPTURE = {"kinect_v1": KINECT_V1_NAMES, "msr": MSR_NAMES}  # ntu name -> the layout's name


def _unit(v: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(norm > 1e-9, norm, 1.0)


def _frames(x: np.ndarray) -> dict[str, np.ndarray]:
    """Unit vectors (..., 3) of a body: right, up and forward of the head and of the torso."""
    right = _unit(x[..., _N["right_shoulder"], :] - x[..., _N["left_shoulder"], :])
    out = {}
    for part, (low, high) in {"head": ("neck", "head"), "torso": ("spine_base", "spine_shoulder")}.items():
        up = x[..., _N[high], :] - x[..., _N[low], :]
        up = _unit(up - (up * right).sum(-1, keepdims=True) * right)
        out[f"{part}_up"], out[f"{part}_fwd"] = up, np.cross(up, right)
    out["right"] = right
    return out


def _extras(x: np.ndarray) -> dict[str, np.ndarray]:
    """Estimator joints that NTU lacks, each (..., 3), from an NTU skeleton x (..., 25, 3)."""
    f = _frames(x)
    head, right, up, fwd = x[..., _N["head"], :], f["right"], f["head_up"], f["head_fwd"]

    def at(base: np.ndarray, r: float = 0.0, u: float = 0.0, w: float = 0.0) -> np.ndarray:
        return base + r * right + u * up + w * fwd

    out = {
        "nose": at(head, w=0.10, u=-0.02),
        "neck": 0.5 * (x[..., _N["left_shoulder"], :] + x[..., _N["right_shoulder"], :]),
        "mid_hip": 0.5 * (x[..., _N["left_hip"], :] + x[..., _N["right_hip"], :]),
        "mouth_left": at(head, r=-0.025, u=-0.06, w=0.085),
        "mouth_right": at(head, r=0.025, u=-0.06, w=0.085),
    }
    t_up, t_fwd = f["torso_up"], f["torso_fwd"]
    for side, sign in (("left", -1.0), ("right", 1.0)):
        eye = at(head, r=sign * 0.032, u=0.03, w=0.07)
        out[f"{side}_eye"] = eye
        out[f"{side}_eye_inner"] = eye - sign * 0.015 * right
        out[f"{side}_eye_outer"] = eye + sign * 0.015 * right
        out[f"{side}_ear"] = at(head, r=sign * 0.075, w=-0.01)
        hand, tip, thumb = (x[..., _N[f"{side}_{j}"], :] for j in ("hand", "hand_tip", "thumb"))
        out[f"{side}_index"] = tip
        out[f"{side}_thumb"] = thumb
        out[f"{side}_pinky"] = hand + 0.6 * (tip - hand) + 0.4 * (hand - thumb)
        ankle, foot = x[..., _N[f"{side}_ankle"], :], x[..., _N[f"{side}_foot"], :]
        out[f"{side}_heel"] = ankle - 0.07 * t_up - 0.03 * t_fwd
        out[f"{side}_foot_index"] = foot
        out[f"{side}_big_toe"] = foot - sign * 0.02 * right
        out[f"{side}_small_toe"] = foot + sign * 0.03 * right - 0.02 * t_fwd
    return out


def as_layout(x: np.ndarray, layout: str) -> np.ndarray:
    """An NTU skeleton x (..., 25, 3) as ``layout``: (..., V, 3); absent persons stay zero.

    ``kinect_v1`` and ``msr`` take the NTU joints of the same name (``mapping.KINECT_V1_NAMES``,
    ``mapping.MSR_NAMES``, MSR mirrored), the estimator layouts add the joints of ``_extras``.
    """
    target = get_layout(layout)
    if target.name == NTU.name:
        return x.copy()
    if target.name in _CAPTURE:
        by_name = {src: ntu for ntu, src in _CAPTURE[target.name].items()}
        return np.stack([x[..., _N[by_name[name]], :] for name in target.joints], axis=-2)
    extras = _extras(x)
    out = np.stack([x[..., _N[name], :] if name in _N else extras[name] for name in target.joints], axis=-2)
    absent = ~(x != 0).any(axis=(-1, -2))
    out[absent] = 0.0
    return out


def project(
    points: np.ndarray,
    rng: np.random.Generator,
    *,
    focal: float = 600.0,
    size: tuple[int, int] = (1280, 720),
    noise_px: float = 2.0,
    drop: float = 0.04,
    low: float = 0.06,
) -> np.ndarray:
    """Camera-space points (M, T, V, 3) -> estimator output (M, T, V, 3): u, v in pixels, score.

    Detected joints score U(0.6, 1) with ``noise_px`` Gaussian noise; a fraction ``low`` scores
    U(0.02, 0.25) with 10x the noise; a fraction ``drop`` (and everything behind the camera)
    is (0, 0, 0). Absent persons (all zeros) stay zero.
    """
    width, height = size
    z = points[..., 2]
    in_front = z > 0.1
    safe = np.where(in_front, z, 1.0)
    u = width / 2 - focal * points[..., 0] / safe
    v = height / 2 - focal * points[..., 1] / safe
    score = rng.uniform(0.6, 1.0, size=u.shape)
    weak = rng.random(u.shape) < low
    score[weak] = rng.uniform(0.02, 0.25, size=int(weak.sum()))
    sigma = np.where(weak, 10 * noise_px, noise_px)
    u = u + rng.normal(size=u.shape) * sigma
    v = v + rng.normal(size=v.shape) * sigma
    out = np.stack([u, v, score], axis=-1)
    keep = in_front & (rng.random(u.shape) >= drop) & (points != 0).any(axis=-1)
    return np.where(keep[..., None], out, 0.0)


CAMERA_FOCAL, CAMERA_SIZE = 525.0, (640, 480)  # Kinect v1 colour camera


def camera_description() -> dict[str, object]:
    """What ``camera_view`` does with its defaults, as a prepared manifest records it."""
    return {"model": "pinhole", "focal_px": CAMERA_FOCAL, "size_px": list(CAMERA_SIZE), "noise": None}


def camera_view(clip: Clip, focal: float = CAMERA_FOCAL, size: tuple[int, int] = CAMERA_SIZE) -> Clip:
    """A 3D capture clip (camera space, metres, ``xyz``) -> ``xys`` pixels through a pinhole camera.

    The defaults are a Kinect v1 colour camera (640 x 480, focal length ~525 px), the viewpoint
    of the Kinect captures. No noise and no dropped keypoints: every present joint scores 1;
    absent joints (all zeros, and anything less than 0.1 m in front of the camera) are
    (0, 0, 0). Joints (M, T, V, 3) -> (M, T, V, 3).
    """
    if clip.channels != "xyz":
        raise SkeletonError(f"{clip.meta.source}: channels {clip.channels!r}; a camera view needs 'xyz'")
    joints = clip.joints
    present = (joints != 0).any(axis=-1)
    if present.any() and not (joints[..., 2][present] > 0.1).any():
        raise SkeletonError(
            f"{clip.meta.source}: no joint lies in front of the camera (z > 0.1 m); "
            "a camera view needs camera-space coordinates with z as depth"
        )
    out = project(joints, np.random.default_rng(0), focal=focal, size=size, noise_px=0.0, drop=0.0, low=0.0)
    out[..., 2] = np.where((out != 0).any(axis=-1), 1.0, 0.0)
    return replace(clip, joints=out, channels="xys")
