"""Layout mapping: declared correspondences from one skeleton layout to another.

Each target joint is an affine combination of source joints (weights summing to 1, so a mapping
commutes with translation, rotation and scale), with fallbacks tried in order per frame: the
first whose source joints are all present gives the joint; if none is, the joint is missing
(zeros). A target joint that is not the same body point as one source joint (a midpoint, an
extrapolation, a stand-in) is *synthesised*; ``map_clip`` reports which.

Channels are kept: coordinates (2D or 3D) are combined, a score channel (``...s``) takes the
lowest score of the joints combined. Declared mappings (``MAPPINGS``):

- ``coco17 -> ntu``: spine base = mid-hips, spine shoulder = mid-shoulders, spine middle 55% of
  the way up, head = mid-ears (else the nose), neck 35% of the way from the spine shoulder to the
  head, hands, hand tips and thumbs extrapolated along the forearm, feet = ankles;
- ``openpose18 -> coco17``, ``openpose25 -> coco17``, ``mediapipe33 -> coco17``: the same body
  points (the neck, mid-hip, feet, hands and face details are dropped);
- ``mediapipe33 -> ntu`` (world landmarks, or image ones): as coco17, with hands from the wrist,
  index and pinky, hand tips = index, thumbs = thumbs, feet = foot index;
- ``kinect_v1 -> ntu`` and ``msr -> ntu``: same joints by name (MSR's left and right swapped,
  its labels being mirrored, see ``layouts.MSR``), neck 35% of the way from the shoulder centre
  to the head, hand tips extrapolated from wrist to hand, thumbs = hands;
- ``msr -> kinect_v1``: the same 20 body points by name (MSR's left and right swapped), nothing
  synthesised: MSR Action3D and UTD-MHAD in one layout, e.g. to pretrain on both (``merge``).

Other pairs go through an intermediate layout (``openpose18 -> coco17 -> ntu``).
The ratios come from the bone lengths of a 1.75 m adult (``synthetic._BONES``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace

import numpy as np

from skeleton.clip import Clip
from skeleton.errors import LayoutError
from skeleton.layouts import get_layout

Combo = dict[str, float]  # source joint -> weight


@dataclass(frozen=True)
class Rule:
    """How one target joint is made: alternatives tried in order; ``synthesised`` flags a joint
    that is not the same body point as a single source joint."""

    alternatives: tuple[Combo, ...]
    synthesised: bool


@dataclass(frozen=True)
class Mapping:
    """Rules for every joint of ``target`` from joints of ``source``."""

    source: str
    target: str
    rules: dict[str, Rule]

    def __post_init__(self) -> None:
        src, dst = get_layout(self.source), get_layout(self.target)
        if set(self.rules) != set(dst.joints):
            missing = sorted(set(dst.joints) - set(self.rules))
            raise LayoutError(f"mapping {self.source} -> {self.target}: no rule for {missing}")
        for name, rule in self.rules.items():
            for combo in rule.alternatives:
                unknown = [j for j in combo if j not in src.joints]
                if unknown or abs(sum(combo.values()) - 1.0) > 1e-9:
                    raise LayoutError(
                        f"mapping {self.source} -> {self.target}, joint {name!r}: weights must sum to 1 "
                        f"over joints of {self.source} (unknown: {unknown}, sum {sum(combo.values())})"
                    )

    @property
    def synthesised(self) -> tuple[str, ...]:
        return tuple(n for n in get_layout(self.target).joints if self.rules[n].synthesised)


def same(name: str) -> Rule:
    return Rule(({name: 1.0},), synthesised=False)


def alias(name: str) -> Rule:
    """A different source joint standing for the target (not the same body point)."""
    return Rule(({name: 1.0},), synthesised=True)


def mix(*alternatives: Combo) -> Rule:
    return Rule(tuple(alternatives), synthesised=True)


def mid(*names: str) -> Combo:
    return {n: 1.0 / len(names) for n in names}


def lerp(a: Combo, b: Combo, t: float) -> Combo:
    """(1 - t) a + t b."""
    out = {k: (1 - t) * w for k, w in a.items()}
    for k, w in b.items():
        out[k] = out.get(k, 0.0) + t * w
    return out


def extend(joint: str, back: str, t: float) -> Combo:
    """joint + t (joint - back): past ``joint`` along the line from ``back``."""
    return {joint: 1.0 + t, back: -t}


SPINE_MID = 0.55  # spine middle, fraction of the way from spine base to spine shoulder
NECK = 0.35  # neck, fraction of the way from spine shoulder to head
HAND, HAND_TIP = 0.29, 0.58  # past the wrist, in forearm lengths
_SIDES = ("left", "right")


def _limbs(parts: tuple[str, ...]) -> dict[str, Rule]:
    return {f"{s}_{p}": same(f"{s}_{p}") for s in _SIDES for p in parts}


def _from_coco_like(head: tuple[Combo, ...], extra: dict[str, Rule]) -> dict[str, Rule]:
    base, top = mid("left_hip", "right_hip"), mid("left_shoulder", "right_shoulder")
    rules = {
        "spine_base": mix(base),
        "spine_mid": mix(lerp(base, top, SPINE_MID)),
        "spine_shoulder": mix(top),
        "head": mix(*head),
        "neck": mix(*(lerp(top, h, NECK) for h in head)),
        **_limbs(("shoulder", "elbow", "wrist", "hip", "knee", "ankle")),
    }
    for s in _SIDES:
        rules[f"{s}_hand"] = mix(extend(f"{s}_wrist", f"{s}_elbow", HAND))
        rules[f"{s}_hand_tip"] = mix(extend(f"{s}_wrist", f"{s}_elbow", HAND_TIP))
        rules[f"{s}_thumb"] = mix(extend(f"{s}_wrist", f"{s}_elbow", HAND))
        rules[f"{s}_foot"] = alias(f"{s}_ankle")
    return rules | extra


_COCO_TO_NTU = _from_coco_like((mid("left_ear", "right_ear"), {"nose": 1.0}), {})
_MEDIAPIPE_TO_NTU = _from_coco_like(
    (mid("left_ear", "right_ear"), {"nose": 1.0}),
    {
        **{f"{s}_hand": mix(mid(f"{s}_wrist", f"{s}_index", f"{s}_pinky")) for s in _SIDES},
        **{f"{s}_hand_tip": alias(f"{s}_index") for s in _SIDES},
        **{f"{s}_thumb": same(f"{s}_thumb") for s in _SIDES},
        **{f"{s}_foot": alias(f"{s}_foot_index") for s in _SIDES},
    },
)
_COCO_NAMES = get_layout("coco17").joints
_TO_COCO = {n: same(n) for n in _COCO_NAMES}


def _kinect_like(names: dict[str, str]) -> dict[str, Rule]:
    """Rules to ntu from a 20-joint Kinect layout; ``names`` maps ntu names to source names."""
    rules = {ntu: same(src) for ntu, src in names.items()}
    rules["neck"] = mix(lerp({names["spine_shoulder"]: 1.0}, {names["head"]: 1.0}, NECK))
    for s in _SIDES:
        hand, wrist = names[f"{s}_hand"], names[f"{s}_wrist"]
        rules[f"{s}_hand_tip"] = mix(extend(hand, wrist, 1.0))
        rules[f"{s}_thumb"] = alias(hand)
    return rules


# ntu joint -> the same body point's name in the 20-joint Kinect layouts
_KINECT_PARTS = ("shoulder", "elbow", "wrist", "hand", "hip", "knee", "ankle", "foot")
KINECT_V1_NAMES = {
    "spine_base": "hip_center", "spine_mid": "spine", "spine_shoulder": "shoulder_center", "head": "head",
    **{f"{s}_{p}": f"{s}_{p}" for s in _SIDES for p in _KINECT_PARTS},
}  # fmt: skip
_MIRROR = {"left": "right", "right": "left"}
MSR_NAMES = {
    "spine_base": "hip_center", "spine_mid": "spine", "spine_shoulder": "neck", "head": "head",
    **{f"{s}_{p}": f"{_MIRROR[s]}_{p}" for s in _SIDES for p in _KINECT_PARTS},
}  # fmt: skip

MAPPINGS: dict[tuple[str, str], Mapping] = {
    (m.source, m.target): m
    for m in (
        Mapping("coco17", "ntu", _COCO_TO_NTU),
        Mapping("mediapipe33", "ntu", _MEDIAPIPE_TO_NTU),
        Mapping("openpose18", "coco17", _TO_COCO),
        Mapping("openpose25", "coco17", _TO_COCO),
        Mapping("mediapipe33", "coco17", _TO_COCO),
        Mapping("kinect_v1", "ntu", _kinect_like(KINECT_V1_NAMES)),
        Mapping("msr", "ntu", _kinect_like(MSR_NAMES)),
        Mapping("msr", "kinect_v1", {KINECT_V1_NAMES[ntu]: same(msr) for ntu, msr in MSR_NAMES.items()}),
    )
}


def mapping_path(source: str, target: str) -> list[Mapping]:
    """The shortest chain of declared mappings from ``source`` to ``target`` ([] when equal)."""
    get_layout(source), get_layout(target)
    if source == target:
        return []
    previous: dict[str, tuple[str, Mapping]] = {}
    queue = deque([source])
    while queue:
        node = queue.popleft()
        for (a, b), mapping in MAPPINGS.items():
            if a == node and b not in previous and b != source:
                previous[b] = (a, mapping)
                queue.append(b)
    if target not in previous:
        reachable = sorted(previous) or ["none"]
        raise LayoutError(
            f"no mapping from layout {source!r} to {target!r}; {source} maps to: {', '.join(reachable)}"
        )
    chain = []
    node = target
    while node != source:
        node, mapping = previous[node][0], previous[node][1]
        chain.append(mapping)
    return chain[::-1]


def apply_mapping(joints: np.ndarray, mapping: Mapping, score: bool) -> tuple[np.ndarray, set[int]]:
    """(M, T, V_src, C) -> (M, T, V_dst, C) by the rules; also the target ids used by a fallback.

    A source joint is missing when all its channels are zero; with ``score`` the last channel
    is a score (the minimum of the combined joints) and the others coordinates.
    """
    src, dst = get_layout(mapping.source), get_layout(mapping.target)
    if joints.ndim != 4 or joints.shape[2] != src.num_joints:
        raise LayoutError(
            f"mapping {mapping.source} -> {mapping.target}: expected joints (M, T, {src.num_joints}, C), "
            f"got {joints.shape}"
        )
    present = (joints != 0).any(axis=-1)  # (M, T, V)
    coords = joints.shape[-1] - (1 if score else 0)
    out = np.zeros((*joints.shape[:2], dst.num_joints, joints.shape[-1]))
    fell_back: set[int] = set()
    for v, name in enumerate(dst.joints):
        done = np.zeros(joints.shape[:2], dtype=bool)
        for k, combo in enumerate(mapping.rules[name].alternatives):
            ids = [src.index(j) for j in combo]
            ok = present[..., ids].all(axis=-1) & ~done
            if not ok.any():
                continue
            weights = np.array(list(combo.values()))
            value = np.einsum("mtjc,j->mtc", joints[..., ids, :coords], weights)
            out[..., v, :coords] = np.where(ok[..., None], value, out[..., v, :coords])
            if score:
                out[..., v, -1] = np.where(ok, joints[..., ids, -1].min(axis=-1), out[..., v, -1])
            done |= ok
            if k > 0:
                fell_back.add(v)
    return out, fell_back


@dataclass(frozen=True)
class MappedClip:
    """A clip mapped to another layout.

    Attributes:
        clip: the mapped clip (layout = the target).
        mapped_from: the clip's original layout.
        synthesised: target joints not observed as such (midpoints, extrapolations, stand-ins).
    """

    clip: Clip
    mapped_from: str
    synthesised: tuple[str, ...]


def map_clip(clip: Clip, target: str) -> MappedClip:
    """``clip`` in layout ``target`` through the declared mappings (identity when it is there)."""
    chain = mapping_path(clip.layout, target)
    joints = clip.joints
    synth: set[str] = set()
    score = clip.channels.endswith("s")
    for mapping in chain:
        joints, _ = apply_mapping(joints, mapping, score)
        carried = {
            name
            for name, rule in mapping.rules.items()
            if rule.synthesised or any(j in synth for combo in rule.alternatives for j in combo)
        }
        synth = carried
    order = get_layout(target).joints
    extra = {**clip.meta.extra, "mapped_from": clip.layout} if chain else clip.meta.extra
    mapped = replace(clip, joints=joints, layout=target, meta=replace(clip.meta, extra=extra))
    return MappedClip(mapped, clip.layout, tuple(n for n in order if n in synth))
