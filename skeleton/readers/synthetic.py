"""Procedural synthetic actions on the NTU (Kinect v2, 25 joints) layout, for tests and the demo.

Every clip is a pure function of ``(index, seed)``: the class is ``index % len(SYNTHETIC_CLASSES)``,
the subject and repetition follow from ``index``, and everything else is drawn from
``np.random.default_rng([seed, index])`` (subject traits from ``[seed, 10_000 + subject]``), so
workers in different processes produce identical clips.

A clip is built in four steps:

1. a per-subject skeleton (bone lengths = height scale x per-bone jitter);
2. joint-angle channels over time (degrees): a randomised rest pose, the class motion on top of it
   (amplitude, speed, phase, side, repetitions vary per clip) and slow idle wobble;
3. forward kinematics from spine_base: spine, neck and head; shoulders -> elbows -> wrists -> hands;
   hips -> knees -> ankles -> feet. The support ankle(s) are planted on the ground, so bending the
   knees lowers the hips and ``lift`` raises the whole body (jumps);
4. a camera: view rotation about the vertical axis (NTU-like cameras at +45, 0, -45 degrees plus
   jitter), slight tilt and roll, 2.5-3.5 m distance, sideways offset, ~1 cm Gaussian joint noise.

Coordinates follow Kinect camera space in metres: x towards the subject's right when facing the
camera, y up, z = depth away from the camera.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from skeleton.clip import Clip, ClipMeta
from skeleton.layouts import NTU

SYNTHETIC_CLASSES: tuple[str, ...] = (
    "wave", "clap", "squat", "jump", "punch", "kick", "bow", "arms up", "turn around", "sit down",
    "handshake",
)  # fmt: skip
TWO_PERSON_CLASSES: frozenset[str] = frozenset({"handshake"})
NUM_SUBJECTS: int = 10
CAMERA_YAW_DEG: dict[int, float] = {1: 45.0, 2: 0.0, 3: -45.0}

# Active-motion length in frames (30 fps) at speed 1; idle frames are added before and after.
_BASE_FRAMES: dict[str, int] = {
    "wave": 55, "clap": 50, "squat": 60, "jump": 55, "punch": 50, "kick": 55, "bow": 60,
    "arms up": 55, "turn around": 60, "sit down": 60, "handshake": 65,
}  # fmt: skip
_MIN_FRAMES, _MAX_FRAMES = 40, 120
_J = {name: i for i, name in enumerate(NTU.joints)}

Pose = dict[str, np.ndarray]  # channel name -> (T,) values, angles in degrees


@dataclass(frozen=True)
class _Body:
    """Bone lengths of one subject (metres) and their tempo (speed multiplier)."""

    spine_low: float
    spine_up: float
    neck: float
    head: float
    shoulder_w: float
    shoulder_drop: float
    upper_arm: float
    forearm: float
    hand: float
    hand_tip: float
    hip_w: float
    hip_drop: float
    thigh: float
    shin: float
    foot: float
    ankle_h: float
    tempo: float


_BONES = {
    "spine_low": 0.27, "spine_up": 0.22, "neck": 0.07, "head": 0.13, "shoulder_w": 0.17,
    "shoulder_drop": 0.04, "upper_arm": 0.27, "forearm": 0.24, "hand": 0.07, "hand_tip": 0.07,
    "hip_w": 0.08, "hip_drop": 0.06, "thigh": 0.41, "shin": 0.39, "foot": 0.11, "ankle_h": 0.08,
}  # fmt: skip


def _subject_body(seed: int, subject: int) -> _Body:
    """Per-subject skeleton: overall scale in [0.88, 1.12] times ~4% jitter per bone."""
    rng = np.random.default_rng([seed, 10_000 + subject])
    scale = rng.uniform(0.88, 1.12)
    jitter = np.clip(rng.normal(1.0, 0.04, len(_BONES)), 0.9, 1.1)
    lengths = {k: float(v * scale * j) for (k, v), j in zip(_BONES.items(), jitter, strict=True)}
    return _Body(**lengths, tempo=float(rng.uniform(0.85, 1.15)))


# ----------------------------------------------------------------------------- rotations


def _rx(a: np.ndarray) -> np.ndarray:
    """(T,) radians -> (T, 3, 3) rotations about x."""
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([o, z, z, z, c, -s, z, s, c], axis=-1).reshape(*a.shape, 3, 3)


def _ry(a: np.ndarray) -> np.ndarray:
    """(T,) radians -> (T, 3, 3) rotations about y (the vertical axis)."""
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([c, z, s, z, o, z, -s, z, c], axis=-1).reshape(*a.shape, 3, 3)


def _rz(a: np.ndarray) -> np.ndarray:
    """(T,) radians -> (T, 3, 3) rotations about z."""
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([c, -s, z, s, c, z, z, z, o], axis=-1).reshape(*a.shape, 3, 3)


def _rot(r: np.ndarray, v: np.ndarray | tuple[float, ...]) -> np.ndarray:
    """Apply (T, 3, 3) rotations to a (3,) or (T, 3) vector -> (T, 3)."""
    return (r @ np.asarray(v, dtype=np.float64)[..., None])[..., 0]


# ----------------------------------------------------------------------------- kinematics


def _arm(body: _Body, pose: Pose, s: str) -> dict[str, np.ndarray]:
    """Arm joints relative to the shoulder, in right-side convention, in camera axes.

    Upper arm = Ry(-azim) Rx(elev) Ry(azim + twist) applied to the hanging (0, -1, 0) direction:
    elev 0 hangs down, 90 is horizontal, 180 straight up; azim 0 is forward, 90 sideways out.
    The elbow flexes about the upper arm's own x axis. The left arm mirrors x (see ``_forward``).
    Returns joint name suffix -> (T, 3).
    """
    rad = {k: np.radians(pose[f"{s}_{k}"]) for k in ("elev", "azim", "twist", "elbow")}
    upper = _ry(-rad["azim"]) @ _rx(rad["elev"]) @ _ry(rad["azim"] + rad["twist"])
    fore = upper @ _rx(rad["elbow"])
    elbow = _rot(upper, (0.0, -body.upper_arm, 0.0))
    wrist = elbow + _rot(fore, (0.0, -body.forearm, 0.0))
    hand = wrist + _rot(fore, (0.0, -body.hand, 0.0))
    tip = wrist + _rot(fore, (0.0, -body.hand - body.hand_tip, -0.01))
    thumb = wrist + _rot(fore, (-0.01, -0.6 * body.hand, -0.045))
    return {"elbow": elbow, "wrist": wrist, "hand": hand, "hand_tip": tip, "thumb": thumb}


def _leg(body: _Body, pose: Pose, s: str) -> dict[str, np.ndarray]:
    """Leg joints relative to the hip, right-side convention, pelvis axes -> name suffix -> (T, 3).

    Hip flexion (``hip``) swings the thigh forward, ``abd`` outward, ``knee`` bends the shin back;
    ``foot`` is the foot pitch relative to the pelvis (0 = flat on the floor).
    """
    thigh = _rx(np.radians(pose[f"{s}_hip"])) @ _rz(np.radians(pose[f"{s}_abd"]))
    shin = thigh @ _rx(-np.radians(pose[f"{s}_knee"]))
    knee = _rot(thigh, (0.0, -body.thigh, 0.0))
    ankle = knee + _rot(shin, (0.0, -body.shin, 0.0))
    foot = ankle + _rot(_rx(np.radians(pose[f"{s}_foot"])), (0.0, -0.03, -body.foot))
    return {"knee": knee, "ankle": ankle, "foot": foot}


def _forward(body: _Body, pose: Pose) -> np.ndarray:
    """Forward kinematics -> (T, 25, 3) joints; support ankle(s) at the origin, floor at y = 0."""
    num_frames = len(pose["pitch"])
    out = np.zeros((num_frames, NTU.num_joints, 3))
    pitch, roll, twist = (np.radians(pose[k]) for k in ("pitch", "roll", "twist"))
    lower = _ry(0.4 * twist) @ _rx(-0.5 * pitch) @ _rz(0.5 * roll)
    torso = _ry(twist) @ _rx(-pitch) @ _rz(roll)
    out[:, _J["spine_mid"]] = _rot(lower, (0.0, body.spine_low, 0.0))
    top = out[:, _J["spine_mid"]] + _rot(torso, (0.0, body.spine_up, 0.0))
    out[:, _J["spine_shoulder"]] = top
    head_rot = torso @ _rx(-np.radians(pose["head"]))
    out[:, _J["neck"]] = top + _rot(torso, (0.0, body.neck, 0.0))
    out[:, _J["head"]] = out[:, _J["neck"]] + _rot(head_rot, (0.0, body.head, 0.0))
    for s, side, sign in (("r", "right", 1.0), ("l", "left", -1.0)):
        mirror = np.array([sign, 1.0, 1.0])
        shoulder = top + _rot(torso, mirror * (body.shoulder_w, -body.shoulder_drop, 0.0))
        out[:, _J[f"{side}_shoulder"]] = shoulder
        for joint, offset in _arm(body, pose, s).items():
            out[:, _J[f"{side}_{joint}"]] = shoulder + _rot(torso, offset * mirror)
        hip = mirror * np.array([body.hip_w, -body.hip_drop, 0.0])
        out[:, _J[f"{side}_hip"]] = hip
        for joint, offset in _leg(body, pose, s).items():
            out[:, _J[f"{side}_{joint}"]] = hip + offset * mirror
    w = pose["w_r"][:, None]
    anchor = w * out[:, _J["right_ankle"]] + (1.0 - w) * out[:, _J["left_ankle"]]
    out -= anchor[:, None, :]
    out[..., 1] += body.ankle_h + pose["lift"][:, None]
    return _rot(_ry(np.radians(pose["yaw"]))[:, None], out)


# ----------------------------------------------------------------------------- pose authoring


def _smooth(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _ramp(u: np.ndarray, a: float, b: float) -> np.ndarray:
    """Smooth 0 -> 1 step between phases a and b."""
    return _smooth((u - a) / (b - a))


def _hold(u: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Envelope: rise over the first ~20% of the action, hold, fall over the last ~20%."""
    a, b = rng.uniform(0.12, 0.28, size=2)
    return _ramp(u, 0.0, a) * (1.0 - _ramp(u, 1.0 - b, 1.0))


def _pulses(u: np.ndarray, centres: np.ndarray, width: float) -> np.ndarray:
    """Sum of sin^2 bumps of half-width ``width`` at ``centres`` -> (T,) in [0, 1]."""
    x = np.clip((u[:, None] - centres[None, :] + width) / (2 * width), 0.0, 1.0)
    return np.clip((np.sin(np.pi * x) ** 2).sum(axis=1), 0.0, 1.0)


def _to(pose: Pose, key: str, target: np.ndarray | float, w: np.ndarray) -> None:
    """Blend channel ``key`` towards ``target`` with weight ``w`` (T,)."""
    pose[key] = pose[key] + w * (target - pose[key])


def _side(rng: np.random.Generator) -> tuple[str, str]:
    """(active, other) side, right-handed 70% of the time."""
    return ("r", "l") if rng.random() < 0.7 else ("l", "r")


# Idle arm styles as (elev, azim, twist, elbow) ranges in degrees: hanging, hands on the hips,
# hands together in front, hands behind the back.
_ARM_STYLES = (
    ((4, 16), (50, 100), (-15, 15), (5, 30)),
    ((35, 50), (80, 100), (75, 95), (95, 115)),
    ((15, 35), (0, 20), (50, 70), (65, 95)),
    ((-25, -15), (-10, 10), (65, 85), (60, 80)),
)


def _rest_pose(num_frames: int, rng: np.random.Generator) -> Pose:
    """A relaxed standing pose with per-clip variation and slow idle wobble -> channel -> (T,)."""
    t = np.arange(num_frames) / 30.0

    def wobble(amp: float) -> np.ndarray:
        f, ph = rng.uniform(0.1, 0.7, 2), rng.uniform(0, 2 * np.pi, 2)
        return amp * (np.sin(2 * np.pi * f[0] * t + ph[0]) + np.sin(2 * np.pi * f[1] * t + ph[1])) / 2

    pose: Pose = {
        "yaw": wobble(4.0), "lift": np.zeros(num_frames), "w_r": np.full(num_frames, 0.5),
        "pitch": rng.uniform(-3, 6) + wobble(2.0), "roll": wobble(2.0), "twist": wobble(4.0),
        "head": rng.uniform(-5, 12) + wobble(5.0),
    }  # fmt: skip
    style = int(rng.choice(len(_ARM_STYLES), p=(0.5, 0.15, 0.2, 0.15)))
    for s in ("r", "l"):
        if rng.random() < 0.15:  # now and then the arms differ (one hand on the hip, ...)
            style = int(rng.integers(len(_ARM_STYLES)))
        for k, (lo, hi) in zip(("elev", "azim", "twist", "elbow"), _ARM_STYLES[style], strict=True):
            pose[f"{s}_{k}"] = rng.uniform(lo, hi) + wobble(5.0)
        pose[f"{s}_hip"] = rng.uniform(-4, 4) + wobble(2.0)
        pose[f"{s}_abd"] = rng.uniform(2, 8) + wobble(1.5)
        pose[f"{s}_knee"] = rng.uniform(0, 8) + wobble(2.0)
        pose[f"{s}_foot"] = np.zeros(num_frames)
    return pose


def _wave(pose: Pose, u: np.ndarray, rng: np.random.Generator, amp: float) -> None:
    s, _ = _side(rng)
    env = _hold(u, rng)
    azim = rng.uniform(45, 95)
    osc = np.sin(2 * np.pi * rng.uniform(2.0, 4.5) * u + rng.uniform(0, 2 * np.pi))
    _to(pose, f"{s}_elev", rng.uniform(75, 145), env)
    _to(pose, f"{s}_azim", azim, env)
    _to(pose, f"{s}_twist", -azim + rng.uniform(-15, 15), env)
    _to(pose, f"{s}_elbow", rng.uniform(65, 100) + amp * rng.uniform(20, 35) * osc, env)


def _clap(pose: Pose, u: np.ndarray, rng: np.random.Generator, amp: float) -> None:
    env = _hold(u, rng)
    apart = 0.5 - 0.5 * np.cos(2 * np.pi * rng.uniform(2.5, 6.0) * u)
    elev, elbow = rng.uniform(30, 85), rng.uniform(50, 90)
    for s in ("r", "l"):
        _to(pose, f"{s}_elev", elev + rng.uniform(-4, 4), env)
        _to(pose, f"{s}_azim", 12 + amp * rng.uniform(25, 40) * apart, env)
        _to(pose, f"{s}_twist", rng.uniform(45, 65), env)
        _to(pose, f"{s}_elbow", elbow + rng.uniform(-4, 4), env)


def _squat(pose: Pose, u: np.ndarray, rng: np.random.Generator, amp: float) -> None:
    reps = int(rng.integers(1, 3))
    depth = np.sin(np.pi * reps * u) ** 2 * amp
    _to(pose, "pitch", rng.uniform(20, 40), depth)
    for s in ("r", "l"):
        _to(pose, f"{s}_hip", rng.uniform(80, 110), depth)
        _to(pose, f"{s}_knee", rng.uniform(95, 125), depth)
        _to(pose, f"{s}_foot", 0.0, depth)
    if rng.random() < 0.5:  # arms forward for balance
        for s in ("r", "l"):
            _to(pose, f"{s}_elev", rng.uniform(65, 95), depth)
            _to(pose, f"{s}_azim", rng.uniform(0, 20), depth)
            _to(pose, f"{s}_elbow", rng.uniform(0, 25), depth)


def _jump(pose: Pose, u: np.ndarray, rng: np.random.Generator, amp: float) -> None:
    n = int(rng.integers(1, 4))
    v = np.where((u > 0) & (u < 1), (u * n) % 1.0, 0.0)
    crouch = _pulses(v, np.array([0.2, 0.8]), 0.17)
    air = np.where((v > 0.35) & (v < 0.65), np.sin(np.pi * np.clip((v - 0.35) / 0.3, 0, 1)), 0.0)
    pose["lift"] = pose["lift"] + amp * rng.uniform(0.12, 0.3) * air
    _to(pose, "pitch", rng.uniform(15, 35), crouch)
    up, back = rng.uniform(90, 160), rng.uniform(-35, -10)
    for s in ("r", "l"):
        _to(pose, f"{s}_hip", rng.uniform(40, 70), crouch)
        _to(pose, f"{s}_knee", rng.uniform(60, 95), crouch)
        _to(pose, f"{s}_hip", 15.0, air)
        _to(pose, f"{s}_knee", 25.0, air)
        _to(pose, f"{s}_foot", -30.0, air)
        _to(pose, f"{s}_elev", back, crouch)
        _to(pose, f"{s}_elev", up, air)
        _to(pose, f"{s}_azim", rng.uniform(0, 30), air)


def _punch(pose: Pose, u: np.ndarray, rng: np.random.Generator, amp: float) -> None:
    s, o = _side(rng)
    env = _hold(u, rng)
    n = int(rng.integers(1, 5))
    centres = np.linspace(0.3, 0.7, n) + rng.uniform(-0.03, 0.03, n)
    alternate = rng.random() < 0.4
    guard = env * (rng.random() < 0.6)
    for side in ("r", "l"):  # guard: fists up in front of the chin
        _to(pose, f"{side}_elev", rng.uniform(30, 55), guard)
        _to(pose, f"{side}_azim", rng.uniform(10, 30), guard)
        _to(pose, f"{side}_twist", rng.uniform(10, 30), guard)
        _to(pose, f"{side}_elbow", rng.uniform(110, 135), guard)
    for k, c in enumerate(centres):
        side = (s, o)[k % 2] if alternate else s
        hit = _pulses(u, np.array([c]), rng.uniform(0.05, 0.09)) * amp
        _to(pose, f"{side}_elev", rng.uniform(75, 95), hit)
        _to(pose, f"{side}_azim", rng.uniform(-10, 10), hit)
        _to(pose, f"{side}_elbow", rng.uniform(0, 15), hit)
        pose["twist"] = pose["twist"] + (1 if side == "r" else -1) * rng.uniform(8, 20) * hit


def _kick(pose: Pose, u: np.ndarray, rng: np.random.Generator, amp: float) -> None:
    s, o = _side(rng)
    env = _hold(u, rng)
    n = int(rng.integers(1, 3))
    k = _pulses(u, np.linspace(0.35, 0.65, n) + rng.uniform(-0.04, 0.04, n), 0.15 / n)
    _to(pose, "w_r", 0.0 if s == "r" else 1.0, env)
    pose[f"{s}_hip"] = pose[f"{s}_hip"] + amp * rng.uniform(45, 85) * k
    _to(pose, f"{s}_knee", rng.uniform(50, 80) * 4 * k * (1 - k) + rng.uniform(0, 15) * k, k)
    pose[f"{s}_foot"] = pose[f"{s}_foot"] + 0.5 * (pose[f"{s}_hip"] - pose[f"{s}_knee"]) * k
    pose["pitch"] = pose["pitch"] - rng.uniform(3, 12) * k
    balance = env * (rng.random() < 0.5)
    for side in (s, o):
        _to(pose, f"{side}_elev", rng.uniform(15, 40), balance)
        _to(pose, f"{side}_azim", rng.uniform(60, 100), balance)


def _bow(pose: Pose, u: np.ndarray, rng: np.random.Generator, amp: float) -> None:
    env = _hold(u, rng)
    pitch = amp * rng.uniform(35, 70)
    _to(pose, "pitch", pitch, env)
    pose["head"] = pose["head"] + rng.uniform(0, 15) * env
    hands_front = rng.random() < 0.3
    for s in ("r", "l"):  # arms hang with gravity, or hands together in front
        _to(pose, f"{s}_elev", pitch * rng.uniform(0.7, 1.0) + (10 if hands_front else 0), env)
        _to(pose, f"{s}_azim", -15.0 if hands_front else rng.uniform(40, 90), env)
        _to(pose, f"{s}_knee", rng.uniform(3, 12), env)


def _arms_up(pose: Pose, u: np.ndarray, rng: np.random.Generator, amp: float) -> None:
    azim, lag = rng.uniform(0, 70), rng.uniform(-0.05, 0.05)
    osc = np.sin(2 * np.pi * rng.uniform(1.5, 3.0) * u) * (rng.random() < 0.3)
    for s, shift in (("r", lag), ("l", -lag)):
        env = _hold(np.clip(u + shift, 0, 1), rng)
        _to(pose, f"{s}_elev", min(178.0, amp * rng.uniform(130, 175)), env)
        _to(pose, f"{s}_azim", azim + rng.uniform(-8, 8) + 12 * osc, env)
        _to(pose, f"{s}_twist", -azim, env)
        _to(pose, f"{s}_elbow", rng.uniform(0, 25), env)


def _turn(pose: Pose, u: np.ndarray, rng: np.random.Generator, amp: float) -> None:
    a, b = rng.uniform(0.0, 0.2), rng.uniform(0.7, 1.0)
    turn = _ramp(u, a, b)
    pose["yaw"] = pose["yaw"] + rng.choice([-1.0, 1.0]) * rng.uniform(150, 200) * turn
    n = int(rng.integers(2, 5))
    first = rng.integers(0, 2)
    for k, c in enumerate(np.linspace(a, b, n + 2)[1:-1]):
        s = ("r", "l")[(k + first) % 2]
        step = _pulses(u, np.array([c]), (b - a) / (n + 1))
        pose[f"{s}_hip"] = pose[f"{s}_hip"] + rng.uniform(15, 30) * step
        pose[f"{s}_knee"] = pose[f"{s}_knee"] + rng.uniform(30, 50) * step
        _to(pose, "w_r", 0.0 if s == "r" else 1.0, 0.6 * step)


def _sit_down(pose: Pose, u: np.ndarray, rng: np.random.Generator, amp: float) -> None:
    down = _ramp(u, rng.uniform(0.0, 0.2), rng.uniform(0.55, 0.85))
    lean = np.sin(np.pi * down)
    pose["pitch"] = pose["pitch"] + rng.uniform(20, 45) * lean + rng.uniform(0, 12) * down
    hands_on_knees = rng.random() < 0.5
    for s in ("r", "l"):
        _to(pose, f"{s}_hip", rng.uniform(80, 100), down)
        _to(pose, f"{s}_knee", rng.uniform(80, 100), down)
        if hands_on_knees:
            _to(pose, f"{s}_elev", rng.uniform(35, 55), down)
            _to(pose, f"{s}_azim", rng.uniform(0, 20), down)
            _to(pose, f"{s}_elbow", rng.uniform(15, 40), down)
        else:
            _to(pose, f"{s}_elev", rng.uniform(20, 50), lean)


def _handshake(pose: Pose, u: np.ndarray, rng: np.random.Generator, amp: float) -> None:
    env = _hold(u, rng)
    inner = _ramp(u, 0.3, 0.4) * (1 - _ramp(u, 0.7, 0.8))
    azim = rng.uniform(-10, 5)
    _to(pose, "pitch", rng.uniform(3, 12), env)
    _to(pose, "r_elev", rng.uniform(45, 60), env)
    pose["r_elev"] = pose["r_elev"] + amp * 7 * np.sin(2 * np.pi * rng.uniform(2, 4) * u) * inner
    _to(pose, "r_azim", azim, env)
    _to(pose, "r_twist", rng.uniform(-10, 10), env)
    _to(pose, "r_elbow", rng.uniform(20, 45), env)


_ANIMATORS: dict[str, Callable[[Pose, np.ndarray, np.random.Generator, float], None]] = {
    "wave": _wave, "clap": _clap, "squat": _squat, "jump": _jump, "punch": _punch, "kick": _kick,
    "bow": _bow, "arms up": _arms_up, "turn around": _turn, "sit down": _sit_down,
    "handshake": _handshake,
}  # fmt: skip


# ----------------------------------------------------------------------------- clips


def _person(body: _Body, name: str, u: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One animated person in body axes (facing -z, support ankle at the origin) -> (T, 25, 3)."""
    pose = _rest_pose(len(u), rng)
    _ANIMATORS[name](pose, u, rng, float(rng.uniform(0.75, 1.15)))
    return _forward(body, pose)


def _yaw(points: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate (..., 3) points about the vertical axis through the origin."""
    return _rot(_ry(np.array([np.radians(degrees)])), points.reshape(-1, 3)).reshape(points.shape)


def synthetic_clip(index: int, seed: int = 0) -> Clip:
    """The synthetic clip number ``index`` of stream ``seed``; a pure function of both.

    Returns a Clip with ``joints`` (M=2, T, V=25, 3) float64 in metres (T in 40..120; person 1 is all
    zeros except in two-person classes), ``label = index % len(SYNTHETIC_CLASSES)``, layout ``ntu``.
    """
    if index < 0 or seed < 0:
        raise ValueError(f"index and seed must be >= 0, got index={index}, seed={seed}")
    num_classes = len(SYNTHETIC_CLASSES)
    label = index % num_classes
    name = SYNTHETIC_CLASSES[label]
    subject = (index // num_classes) % NUM_SUBJECTS + 1
    repetition = index // (num_classes * NUM_SUBJECTS) + 1
    rng = np.random.default_rng([seed, index])
    body = _subject_body(seed, subject)

    active = int(round(_BASE_FRAMES[name] / (body.tempo * rng.uniform(0.75, 1.4))))
    idle0, idle1 = (int(x) for x in rng.integers(2, 16, size=2))
    active = min(active, _MAX_FRAMES - idle0 - idle1)
    num_frames = max(_MIN_FRAMES, active + idle0 + idle1)
    u = np.clip((np.arange(num_frames) - idle0) / (active - 1), 0.0, 1.0)

    joints = np.zeros((2, num_frames, NTU.num_joints, 3))
    joints[0] = _person(body, name, u, rng)
    if name in TWO_PERSON_CLASSES:
        partner = (subject + int(rng.integers(0, NUM_SUBJECTS - 1))) % NUM_SUBJECTS + 1
        other = _person(_subject_body(seed, partner), name, u, rng)
        # Face each other along x, then slide the partner so the right hands meet mid-shake.
        joints[0], other = _yaw(joints[0], -90.0), _yaw(other, 90.0)
        mid = int(np.argmax(u >= 0.55))
        hand = _J["right_hand"]
        shift = joints[0, mid, hand] - other[mid, hand]
        shift[1] = 0.0
        joints[1] = other + shift
        if rng.random() < 0.5:
            joints = joints[::-1].copy()
    centre = joints[:, 0, _J["spine_base"]].mean(axis=0) * np.array([1.0, 0.0, 1.0])
    present = np.abs(joints).reshape(2, -1).sum(axis=1) > 0

    camera = int(rng.integers(1, 4))
    view = CAMERA_YAW_DEG[camera] + rng.uniform(-10, 10)
    tilt, roll = np.radians(rng.uniform(-7, 3)), np.radians(rng.uniform(-3, 3))
    offset = np.array([rng.uniform(-0.4, 0.4), -rng.uniform(0.7, 1.3), rng.uniform(2.5, 3.5)])
    cam = (_rz(np.array([roll])) @ _rx(np.array([tilt])))[0]
    scene = _yaw(joints - centre, view) + offset
    scene = scene @ cam.T + rng.normal(0.0, rng.uniform(0.005, 0.012), scene.shape)
    scene[~present] = 0.0

    meta = ClipMeta(
        source=f"synthetic:{seed}:{index}",
        name=f"synthetic_s{seed}_{index:06d}",
        dataset="synthetic",
        subject=subject,
        view=str(camera),
        repetition=repetition,
        frame_range=(0, num_frames),
        extra={"class_name": name},
    )
    return Clip(joints=scene, label=label, meta=meta, layout="ntu")


def generate_synthetic(num_samples: int, seed: int = 0) -> list[Clip]:
    """Clips ``synthetic_clip(i, seed)`` for i in 0..num_samples-1 (balanced over the classes)."""
    return [synthetic_clip(i, seed) for i in range(num_samples)]
