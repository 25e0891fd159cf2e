"""Procedural synthetic actions on the NTU (Kinect v2, 25 joints) layout, for tests and the demo.

A clip is a pure function of ``(index, seed)``: class ``index % len(SYNTHETIC_CLASSES)``, subject and
repetition from ``index``, the rest from ``np.random.default_rng([seed, index])`` (subject traits
from ``[seed, 10_000 + subject]``), so workers in different processes produce identical clips.
Per subject: bone lengths (height scale x per-bone jitter). Per clip: joint-angle channels over time
(a varied rest pose with idle wobble, the class motion blended on top with random amplitude, speed,
phase, side and repetitions), forward kinematics from spine_base with the lower ankle planted on the
floor, then a camera (NTU-like views at +45, 0, -45 degrees plus jitter, slight tilt and roll,
2.5-3.5 m away) and ~1 cm Gaussian joint noise. Coordinates are Kinect camera space in metres:
x to the right of a subject facing the camera, y up, z = depth away from the camera.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np

from skeleton.clip import Clip, ClipMeta
from skeleton.layouts import NTU, get_layout
from skeleton.render import as_layout, project

SYNTHETIC_CLASSES: tuple[str, ...] = (
    "wave", "clap", "squat", "jump", "punch", "kick", "bow", "arms up", "turn around", "sit down",
    "handshake",
)  # fmt: skip
TWO_PERSON_CLASSES: frozenset[str] = frozenset({"handshake"})
NUM_SUBJECTS: int = 10
CAMERA_YAW_DEG: dict[int, float] = {1: 45.0, 2: 0.0, 3: -45.0}

# Length of the action in frames (30 fps) at speed 1; idle frames are added before and after.
_BASE_FRAMES: dict[str, int] = {
    "wave": 55, "clap": 50, "squat": 60, "jump": 55, "punch": 50, "kick": 55, "bow": 60,
    "arms up": 55, "turn around": 60, "sit down": 60, "handshake": 65,
}  # fmt: skip
_MIN_FRAMES, _MAX_FRAMES = 40, 120
_J = {name: i for i, name in enumerate(NTU.joints)}
# Bone lengths in metres of a 1.75 m adult; a subject scales them (see _subject_body).
_BONES = {
    "spine_low": 0.27, "spine_up": 0.22, "neck": 0.07, "head": 0.13, "shoulder_w": 0.17,
    "shoulder_drop": 0.04, "upper_arm": 0.27, "forearm": 0.24, "hand": 0.07, "hand_tip": 0.07,
    "hip_w": 0.08, "hip_drop": 0.06, "thigh": 0.41, "shin": 0.39, "foot": 0.11, "ankle_h": 0.08,
}  # fmt: skip
# Idle arm styles, (elev, azim, twist, elbow) ranges in degrees: hanging, hands on the hips,
# hands together in front, hands behind the back.
_ARM_STYLES = (
    ((4, 16), (50, 100), (-15, 15), (5, 30)),
    ((35, 50), (80, 100), (75, 95), (95, 115)),
    ((15, 35), (0, 20), (50, 70), (65, 95)),
    ((-25, -15), (-10, 10), (65, 85), (60, 80)),
)

Body = dict[str, float]  # bone name -> length in metres, plus "tempo" (speed multiplier)
Pose = dict[str, np.ndarray]  # channel -> (T,) values, angles in degrees; "r_*" / "l_*" per side


def _subject_body(seed: int, subject: int) -> Body:
    """Per-subject skeleton: overall scale in [0.88, 1.12] times ~4% jitter per bone."""
    rng = np.random.default_rng([seed, 10_000 + subject])
    scale = rng.uniform(0.88, 1.12)
    jitter = np.clip(rng.normal(1.0, 0.04, len(_BONES)), 0.9, 1.1)
    body = {k: float(v * scale * j) for (k, v), j in zip(_BONES.items(), jitter, strict=True)}
    return body | {"tempo": float(rng.uniform(0.85, 1.15))}


def _rotation(axis: int, degrees: np.ndarray) -> np.ndarray:
    """(...) degrees -> (..., 3, 3) right-handed rotations about the x (0), y (1) or z (2) axis."""
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    i, j = (axis + 1) % 3, (axis + 2) % 3  # cyclic order: right-handed for every axis
    r = np.zeros((*np.shape(degrees), 3, 3))
    r[..., axis, axis] = 1.0
    r[..., i, i], r[..., i, j], r[..., j, i], r[..., j, j] = c, -s, s, c
    return r


_rx, _ry, _rz = (partial(_rotation, axis) for axis in range(3))


def _rot(r: np.ndarray, v: np.ndarray | tuple[float, ...]) -> np.ndarray:
    """Apply (..., 3, 3) rotations to (3,) or (..., 3) vectors -> (..., 3)."""
    return (r @ np.asarray(v, dtype=np.float64)[..., None])[..., 0]


def _arm(body: Body, pose: Pose, s: str) -> dict[str, np.ndarray]:
    """Arm joints relative to the shoulder in torso axes, right-side convention -> suffix -> (T, 3).

    Upper arm = Ry(-azim) Rx(elev) Ry(azim + twist) applied to the hanging direction (0, -1, 0):
    elev 0 hangs, 90 is horizontal, 180 points up; azim 0 is forward, 90 sideways out; twist turns
    the arm about itself. The elbow flexes about the upper arm's own x axis. The hand is rigid.
    """
    upper = _ry(-pose[f"{s}_azim"]) @ _rx(pose[f"{s}_elev"]) @ _ry(pose[f"{s}_azim"] + pose[f"{s}_twist"])
    fore = upper @ _rx(pose[f"{s}_elbow"])
    elbow = _rot(upper, (0.0, -body["upper_arm"], 0.0))
    wrist = elbow + _rot(fore, (0.0, -body["forearm"], 0.0))
    return {
        "elbow": elbow,
        "wrist": wrist,
        "hand": wrist + _rot(fore, (0.0, -body["hand"], 0.0)),
        "hand_tip": wrist + _rot(fore, (0.0, -body["hand"] - body["hand_tip"], -0.01)),
        "thumb": wrist + _rot(fore, (-0.01, -0.6 * body["hand"], -0.045)),
    }


def _leg(body: Body, pose: Pose, s: str) -> dict[str, np.ndarray]:
    """Leg joints relative to the hip in pelvis axes, right-side convention -> suffix -> (T, 3).

    ``hip`` swings the thigh forward, ``abd`` outward, ``knee`` bends the shin back; ``foot`` is
    the foot's pitch relative to the pelvis (0 = flat on the floor).
    """
    thigh = _rx(pose[f"{s}_hip"]) @ _rz(pose[f"{s}_abd"])
    knee = _rot(thigh, (0.0, -body["thigh"], 0.0))
    ankle = knee + _rot(thigh @ _rx(-pose[f"{s}_knee"]), (0.0, -body["shin"], 0.0))
    foot = ankle + _rot(_rx(pose[f"{s}_foot"]), (0.0, -0.03, -body["foot"]))
    return {"knee": knee, "ankle": ankle, "foot": foot}


def _forward(body: Body, pose: Pose) -> np.ndarray:
    """Forward kinematics of one person -> (T, 25, 3), floor at y = 0, support ankle over x = z = 0.

    The person faces -z (towards the camera) before the ``yaw`` channel turns them.
    """
    out = np.zeros((len(pose["pitch"]), NTU.num_joints, 3))
    lower = _ry(0.4 * pose["twist"]) @ _rx(-0.5 * pose["pitch"]) @ _rz(0.5 * pose["roll"])
    torso = _ry(pose["twist"]) @ _rx(-pose["pitch"]) @ _rz(pose["roll"])
    out[:, _J["spine_mid"]] = _rot(lower, (0.0, body["spine_low"], 0.0))
    top = out[:, _J["spine_shoulder"]] = out[:, _J["spine_mid"]] + _rot(torso, (0.0, body["spine_up"], 0.0))
    out[:, _J["neck"]] = top + _rot(torso, (0.0, body["neck"], 0.0))
    out[:, _J["head"]] = out[:, _J["neck"]] + _rot(torso @ _rx(-pose["head"]), (0.0, body["head"], 0.0))
    for s, side, sign in (("r", "right", 1.0), ("l", "left", -1.0)):
        mirror = np.array([sign, 1.0, 1.0])
        shoulder = top + _rot(torso, mirror * (body["shoulder_w"], -body["shoulder_drop"], 0.0))
        out[:, _J[f"{side}_shoulder"]] = shoulder
        for joint, offset in _arm(body, pose, s).items():
            out[:, _J[f"{side}_{joint}"]] = shoulder + _rot(torso, offset * mirror)
        hip = out[:, _J[f"{side}_hip"]] = mirror * np.array([body["hip_w"], -body["hip_drop"], 0.0])
        for joint, offset in _leg(body, pose, s).items():
            out[:, _J[f"{side}_{joint}"]] = hip + offset * mirror
    ankles = out[:, [_J["right_ankle"], _J["left_ankle"]]]  # (T, 2, 3)
    anchor = pose["w_r"][:, None] * ankles[:, 0] + (1.0 - pose["w_r"][:, None]) * ankles[:, 1]
    anchor[:, 1] = ankles[..., 1].min(axis=1) - body["ankle_h"] - pose["lift"]
    return _rot(_ry(pose["yaw"])[:, None], out - anchor[:, None, :])


def _ramp(u: np.ndarray, a: float, b: float) -> np.ndarray:
    """Smooth 0 -> 1 step between phases a and b."""
    x = np.clip((u - a) / (b - a), 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _hold(u: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Envelope (T,): rise over the first 12-28% of the action, hold, fall over the last 12-28%."""
    a, b = rng.uniform(0.12, 0.28, size=2)
    return _ramp(u, 0.0, a) * (1.0 - _ramp(u, 1.0 - b, 1.0))


def _pulses(u: np.ndarray, centres: np.ndarray, width: float) -> np.ndarray:
    """Sum of sin^2 bumps of half-width ``width`` at ``centres`` -> (T,) in [0, 1]."""
    x = np.clip((u[:, None] - centres[None, :] + width) / (2 * width), 0.0, 1.0)
    return np.clip((np.sin(np.pi * x) ** 2).sum(axis=1), 0.0, 1.0)


def _to(pose: Pose, w: np.ndarray, side: str = "", **targets: np.ndarray | float) -> None:
    """Blend channels (``{side}_{name}`` when a side is given) towards targets with weight w (T,)."""
    for name, target in targets.items():
        key = f"{side}_{name}" if side else name
        pose[key] = pose[key] + w * (target - pose[key])


def _sides(rng: np.random.Generator) -> tuple[str, str]:
    """(acting, other) side; right-handed 70% of the time."""
    return ("r", "l") if rng.random() < 0.7 else ("l", "r")


def _rest_pose(num_frames: int, rng: np.random.Generator) -> Pose:
    """A relaxed standing pose, varied per clip, with slow idle wobble -> channel -> (T,)."""
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
    """One forearm swings side to side above the shoulder (elbow flexion oscillates)."""
    s, env, elev, azim = _sides(rng)[0], _hold(u, rng), rng.uniform(75, 145), rng.uniform(45, 95)
    osc = np.sin(2 * np.pi * rng.uniform(2.0, 4.5) * u + rng.uniform(0, 2 * np.pi))
    elbow = rng.uniform(65, 100) + amp * rng.uniform(20, 35) * osc
    _to(pose, env, s, elev=elev, azim=azim, twist=rng.uniform(-15, 15) - azim, elbow=elbow)


def _clap(pose: Pose, u: np.ndarray, rng: np.random.Generator, amp: float) -> None:
    """Both hands meet in front of the body, repeatedly."""
    env, elev, elbow = _hold(u, rng), rng.uniform(30, 85), rng.uniform(65, 95)
    apart = 0.5 - 0.5 * np.cos(2 * np.pi * rng.uniform(2.5, 6.0) * u)
    for s in ("r", "l"):  # at azim 12 this twist brings the hand onto the midline (solved numerically)
        azim = 12 + amp * rng.uniform(25, 40) * apart
        twist = 44 - 0.45 * (elbow - 70) + rng.uniform(-3, 3)
        _to(pose, env, s, elev=elev + rng.uniform(-4, 4), azim=azim, twist=twist, elbow=elbow)


def _squat(pose: Pose, u: np.ndarray, rng: np.random.Generator, amp: float) -> None:
    """Hips down and back with the knees bent, once or twice, arms forward half the time."""
    depth = np.sin(np.pi * int(rng.integers(1, 3)) * u) ** 2 * amp
    _to(pose, depth, pitch=rng.uniform(20, 40))
    hip, knee, arms = rng.uniform(80, 110), rng.uniform(95, 125), rng.random() < 0.5
    for s in ("r", "l"):
        _to(pose, depth, s, hip=hip + rng.uniform(-4, 4), knee=knee + rng.uniform(-4, 4), foot=0.0)
        forward = rng.uniform((65, 0, 0), (95, 20, 25))
        _to(pose, depth * arms, s, elev=forward[0], azim=forward[1], elbow=forward[2])


def _jump(pose: Pose, u: np.ndarray, rng: np.random.Generator, amp: float) -> None:
    """1-3 jumps: crouch with the arms back, take off with the arms up, land in a crouch."""
    n = int(rng.integers(1, 4))
    v = np.where((u > 0) & (u < 1), (u * n) % 1.0, 0.0)
    crouch = _pulses(v, np.array([0.2, 0.8]), 0.17)
    air = np.where((v > 0.35) & (v < 0.65), np.sin(np.pi * np.clip((v - 0.35) / 0.3, 0, 1)), 0.0)
    pose["lift"] = pose["lift"] + amp * rng.uniform(0.15, 0.35) * air
    _to(pose, crouch, pitch=rng.uniform(15, 35))
    hip, knee, up, back = rng.uniform((40, 60, 90, -35), (70, 95, 160, -10))
    for s in ("r", "l"):
        _to(pose, crouch, s, hip=hip + rng.uniform(-4, 4), knee=knee + rng.uniform(-4, 4), elev=back)
        _to(pose, air, s, hip=15.0, knee=25.0, foot=-30.0, elev=up, azim=rng.uniform(0, 30))


def _punch(pose: Pose, u: np.ndarray, rng: np.random.Generator, amp: float) -> None:
    """1-4 fast arm extensions forward, one arm or alternating, from a guard 60% of the time."""
    s, o = _sides(rng)
    n, alternate, guard = int(rng.integers(1, 5)), rng.random() < 0.4, _hold(u, rng) * (rng.random() < 0.6)
    for side in ("r", "l"):  # guard: fists up in front of the chin
        angles = rng.uniform((30, 10, 10, 110), (55, 30, 30, 135))
        _to(pose, guard, side, **dict(zip(("elev", "azim", "twist", "elbow"), angles, strict=True)))
    for k, c in enumerate(np.linspace(0.3, 0.7, n) + rng.uniform(-0.03, 0.03, n)):
        side = (s, o)[k % 2] if alternate else s
        hit = _pulses(u, np.array([c]), rng.uniform(0.05, 0.09)) * amp
        _to(pose, hit, side, elev=rng.uniform(75, 95), azim=rng.uniform(-10, 10), elbow=rng.uniform(0, 15))
        pose["twist"] = pose["twist"] + (1 if side == "r" else -1) * rng.uniform(8, 20) * hit


def _kick(pose: Pose, u: np.ndarray, rng: np.random.Generator, amp: float) -> None:
    """One leg swings forward (knee bent, then straight), 1-2 times, standing on the other leg."""
    s, o = _sides(rng)
    env, n = _hold(u, rng), int(rng.integers(1, 3))
    k = _pulses(u, np.linspace(0.35, 0.65, n) + rng.uniform(-0.04, 0.04, n), 0.15 / n)
    _to(pose, env, w_r=0.0 if s == "r" else 1.0)
    pose[f"{s}_hip"] = pose[f"{s}_hip"] + amp * rng.uniform(45, 85) * k
    _to(pose, k, s, knee=rng.uniform(50, 80) * 4 * k * (1 - k) + rng.uniform(0, 15) * k)
    pose[f"{s}_foot"] = pose[f"{s}_foot"] + 0.5 * (pose[f"{s}_hip"] - pose[f"{s}_knee"]) * k
    pose["pitch"] = pose["pitch"] - rng.uniform(3, 12) * k
    balance = env * (rng.random() < 0.5)
    for side in (s, o):
        _to(pose, balance, side, elev=rng.uniform(15, 40), azim=rng.uniform(60, 100))


def _bow(pose: Pose, u: np.ndarray, rng: np.random.Generator, amp: float) -> None:
    """Torso pitches forward and back; arms hang with gravity or hands together in front."""
    env, pitch, front = _hold(u, rng), min(70.0, amp * rng.uniform(35, 70)), rng.random() < 0.3
    _to(pose, env, pitch=pitch, head=pose["head"] + rng.uniform(0, 15))
    for s in ("r", "l"):
        elev = pitch * rng.uniform(0.7, 1.0) + 10 * front
        _to(pose, env, s, elev=elev, azim=-15.0 if front else rng.uniform(40, 90), knee=rng.uniform(3, 12))


def _arms_up(pose: Pose, u: np.ndarray, rng: np.random.Generator, amp: float) -> None:
    """Both arms raised overhead (forwards or sideways), sometimes swaying."""
    azim, lag = rng.uniform(0, 70), rng.uniform(-0.05, 0.05)
    osc = np.sin(2 * np.pi * rng.uniform(1.5, 3.0) * u) * (rng.random() < 0.3)
    for s, shift in (("r", lag), ("l", -lag)):
        env = _hold(np.clip(u + shift, 0, 1), rng)
        azim_s = azim + rng.uniform(-8, 8) + 12 * amp * osc
        _to(pose, env, s, elev=rng.uniform(135, 178), azim=azim_s, twist=-azim, elbow=rng.uniform(0, 25))


def _turn(pose: Pose, u: np.ndarray, rng: np.random.Generator, amp: float) -> None:
    """Half a turn (150-200 degrees) about the vertical axis, stepping 2-4 times."""
    a, b = rng.uniform(0.0, 0.2), rng.uniform(0.7, 1.0)
    pose["yaw"] = pose["yaw"] + rng.choice([-1.0, 1.0]) * rng.uniform(150, 200) * _ramp(u, a, b)
    n, first = int(rng.integers(2, 5)), int(rng.integers(0, 2))
    for k, c in enumerate(np.linspace(a, b, n + 2)[1:-1]):
        s = ("r", "l")[(k + first) % 2]
        step = _pulses(u, np.array([c]), (b - a) / (n + 1))
        pose[f"{s}_hip"] = pose[f"{s}_hip"] + rng.uniform(15, 30) * step
        pose[f"{s}_knee"] = pose[f"{s}_knee"] + rng.uniform(30, 50) * step
        _to(pose, 0.6 * step, w_r=0.0 if s == "r" else 1.0)


def _sit_down(pose: Pose, u: np.ndarray, rng: np.random.Generator, amp: float) -> None:
    """Hips go down and back to knee height, knees to ~90 degrees, leaning forward on the way."""
    down = _ramp(u, rng.uniform(0.0, 0.2), rng.uniform(0.55, 0.85))
    lean = np.sin(np.pi * down)
    pose["pitch"] = pose["pitch"] + rng.uniform(20, 45) * lean + rng.uniform(0, 12) * down
    hip, knee, on_knees = rng.uniform(80, 100), rng.uniform(80, 100), rng.random() < 0.5
    for s in ("r", "l"):
        _to(pose, down, s, hip=hip + rng.uniform(-4, 4), knee=knee + rng.uniform(-4, 4))
        if on_knees:
            elev, azim, elbow = rng.uniform((35, 0, 15), (55, 20, 40))
            _to(pose, down, s, elev=elev, azim=azim, elbow=elbow)
        else:
            _to(pose, lean, s, elev=rng.uniform(20, 50))


def _handshake(pose: Pose, u: np.ndarray, rng: np.random.Generator, amp: float) -> None:
    """Right arm reaches forward and shakes up and down (three cycles: a function of u, in sync)."""
    env = pose["reach"] = _hold(u, rng)  # "reach" is read by _shake_hands
    _to(pose, env, pitch=rng.uniform(3, 12))
    shake = amp * 7 * np.sin(6 * np.pi * u) * _ramp(u, 0.3, 0.4) * _ramp(-u, -0.8, -0.7)
    azim, twist, elbow = rng.uniform((-10, -10, 20), (5, 10, 45))
    _to(pose, env, "r", elev=rng.uniform(45, 60) + shake, azim=azim, twist=twist, elbow=elbow)


_ANIMATORS: dict[str, Callable[[Pose, np.ndarray, np.random.Generator, float], None]] = {
    "wave": _wave, "clap": _clap, "squat": _squat, "jump": _jump, "punch": _punch, "kick": _kick,
    "bow": _bow, "arms up": _arms_up, "turn around": _turn, "sit down": _sit_down,
    "handshake": _handshake,
}  # fmt: skip


def _animate(name: str, u: np.ndarray, rng: np.random.Generator) -> Pose:
    """Joint-angle channels of one person doing ``name`` at action phase ``u`` (T,) in [0, 1]."""
    pose = _rest_pose(len(u), rng)
    _ANIMATORS[name](pose, u, rng, float(rng.uniform(0.75, 1.15)))
    return pose


def _yaw(points: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate (..., 3) points about the vertical axis through the origin."""
    return _rot(_ry(np.array(degrees)), points)


def _shake_hands(bodies: list[Body], poses: list[Pose], u: np.ndarray, side: float) -> np.ndarray:
    """Two people facing each other along x whose right hands meet mid-shake -> (2, T, 25, 3).

    Both right arms tilt by half the height gap between the hands (two Newton steps on the
    shoulder elevation), then the partner slides horizontally onto the first person's hand.
    """
    mid, hand, shoulder = int(np.argmax(u >= 0.55)), _J["right_hand"], _J["right_shoulder"]
    for _ in range(2):
        xs = [_forward(body, pose) for body, pose in zip(bodies, poses, strict=True)]
        gap = xs[0][mid, hand, 1] - xs[1][mid, hand, 1]
        for pose, x, sign in zip(poses, xs, (-0.5, 0.5), strict=True):
            lever = max(0.1, float(np.linalg.norm((x[mid, hand] - x[mid, shoulder])[[0, 2]])))
            pose["r_elev"] = pose["r_elev"] + np.degrees(sign * gap / lever) * pose["reach"]
    a = _yaw(_forward(bodies[0], poses[0]), -90.0 * side)
    b = _yaw(_forward(bodies[1], poses[1]), 90.0 * side)
    return np.stack([a, b + (a[mid, hand] - b[mid, hand]) * np.array([1.0, 0.0, 1.0])])


def synthetic_clip(index: int, seed: int = 0, layout: str = "ntu", channels: str = "xyz") -> Clip:
    """Synthetic clip number ``index`` of stream ``seed``: a pure function of the arguments.

    Returns a Clip whose ``joints`` are (M=2, T, V, C) float64, T in 40..120 (person 1 is all
    zeros except in TWO_PERSON_CLASSES), ``label = index % len(SYNTHETIC_CLASSES)``, subject
    ``(index // len(SYNTHETIC_CLASSES)) % NUM_SUBJECTS + 1``.

    The motion does not depend on ``layout`` or ``channels``: ``layout`` other than ``ntu``
    renders the same noisy NTU body as that layout (``render.as_layout``); ``channels`` ``xyz``
    gives camera-space metres, ``xys`` / ``xy`` pixels through a pinhole camera with estimator
    defects (``render.project``, drawn from a stream of their own), with or without the score.
    """
    if index < 0 or seed < 0:
        raise ValueError(f"index and seed must be >= 0, got index={index}, seed={seed}")
    if channels not in ("xyz", "xys", "xy"):
        raise ValueError(f"channels must be xyz, xys or xy, got {channels!r}")
    get_layout(layout)
    num_classes = len(SYNTHETIC_CLASSES)
    label, name = index % num_classes, SYNTHETIC_CLASSES[index % num_classes]
    subject = (index // num_classes) % NUM_SUBJECTS + 1
    rng = np.random.default_rng([seed, index])
    body = _subject_body(seed, subject)

    active = int(round(_BASE_FRAMES[name] / (body["tempo"] * rng.uniform(0.75, 1.4))))
    idle0, idle1 = (int(x) for x in rng.integers(2, 16, size=2))
    active = min(active, _MAX_FRAMES - idle0 - idle1)
    num_frames = max(_MIN_FRAMES, active + idle0 + idle1)
    u = np.clip((np.arange(num_frames) - idle0) / (active - 1), 0.0, 1.0)  # action phase per frame

    joints = np.zeros((2, num_frames, NTU.num_joints, 3))
    pose = _animate(name, u, rng)
    persons = 2 if name in TWO_PERSON_CLASSES else 1
    if persons == 2:  # person 0 is the clip's subject, person 1 another one
        partner = (subject + int(rng.integers(0, NUM_SUBJECTS - 1))) % NUM_SUBJECTS + 1
        bodies = [body, _subject_body(seed, partner)]
        joints = _shake_hands(bodies, [pose, _animate(name, u, rng)], u, rng.choice([-1.0, 1.0]))
    else:
        joints[0] = _forward(body, pose)
    centre = joints[:persons, 0, _J["spine_base"]].mean(axis=0) * np.array([1.0, 0.0, 1.0])

    camera = int(rng.integers(1, 4))
    view = CAMERA_YAW_DEG[camera] + rng.uniform(-10, 10)
    tilt, roll = rng.uniform(-7, 3), rng.uniform(-3, 3)  # degrees; negative tilt looks down
    offset = np.array([rng.uniform(-0.4, 0.4), -rng.uniform(0.7, 1.3), rng.uniform(2.5, 3.5)])
    cam = _rz(np.array(roll)) @ _rx(np.array(tilt))
    scene = _rot(cam, _yaw(joints - centre, view) + offset)
    scene += rng.normal(0.0, rng.uniform(0.005, 0.012), scene.shape)
    scene[persons:] = 0.0
    if layout != NTU.name:
        scene = as_layout(scene, layout)
    if channels != "xyz":
        camera_rng = np.random.default_rng([seed, index, 2])
        scene = project(scene, camera_rng, focal=float(camera_rng.uniform(500, 700)))[..., : len(channels)]

    meta = ClipMeta(
        source=f"synthetic:{seed}:{index}",
        name=f"synthetic_s{seed}_{index:06d}",
        dataset="synthetic",
        subject=subject,
        view=str(camera),
        repetition=index // (num_classes * NUM_SUBJECTS) + 1,
        frame_range=(0, num_frames),
        extra={"class_name": name} | ({"units": "pixels"} if channels != "xyz" else {}),
    )
    return Clip(joints=scene, label=label, meta=meta, layout=layout, channels=channels)


def generate_synthetic(
    num_samples: int, seed: int = 0, layout: str = "ntu", channels: str = "xyz"
) -> list[Clip]:
    """``[synthetic_clip(i, seed, layout, channels) for i in range(num_samples)]``, balanced over classes."""
    return [synthetic_clip(i, seed, layout, channels) for i in range(num_samples)]
