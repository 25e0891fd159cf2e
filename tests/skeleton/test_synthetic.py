"""Tests of the synthetic action generator: determinism, format, kinematic plausibility, hardness."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from skeleton.clip import Clip, check_joints
from skeleton.layouts import NTU
from skeleton.synthetic import (
    NUM_SUBJECTS,
    SYNTHETIC_CLASSES,
    TWO_PERSON_CLASSES,
    generate_synthetic,
    synthetic_clip,
)

C = len(SYNTHETIC_CLASSES)
N = 40 * C  # 40 clips per class: every class meets every subject 4 times
J = {name: i for i, name in enumerate(NTU.joints)}
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def clips() -> list[Clip]:
    return generate_synthetic(N, seed=0)


def _of_class(clips: list[Clip], name: str) -> list[np.ndarray]:
    """Person-0 sequences (T, V, 3) of one class."""
    return [c.joints[0] for c in clips if c.meta.extra["class_name"] == name]


def _y(x: np.ndarray, joint: str) -> np.ndarray:
    return x[:, J[joint], 1]


# ----------------------------------------------------------------------------- determinism


def test_same_index_and_seed_give_the_same_clip() -> None:
    a, b = synthetic_clip(37, seed=3), synthetic_clip(37, seed=3)
    assert np.array_equal(a.joints, b.joints)
    assert a.meta == b.meta and a.label == b.label


def test_clip_does_not_depend_on_what_was_generated_before() -> None:
    alone = synthetic_clip(5, seed=1)
    batch = generate_synthetic(8, seed=1)
    assert np.array_equal(batch[5].joints, alone.joints)
    assert batch[5].meta == alone.meta


def test_clips_are_identical_in_another_process() -> None:
    code = (
        "import hashlib, sys; from skeleton.synthetic import synthetic_clip; "
        "sys.stdout.write(hashlib.sha256(synthetic_clip(123, seed=7).joints.tobytes()).hexdigest())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}  # string hashing must not matter
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout == hashlib.sha256(synthetic_clip(123, seed=7).joints.tobytes()).hexdigest()


def test_seed_and_index_change_the_clip() -> None:
    a = synthetic_clip(12, seed=0)
    b = synthetic_clip(12, seed=1)
    assert a.label == b.label  # the class follows the index only
    assert a.joints.shape != b.joints.shape or not np.allclose(a.joints, b.joints)
    c = synthetic_clip(12 + C * NUM_SUBJECTS, seed=0)  # same class and subject, next repetition
    assert (c.label, c.meta.subject) == (a.label, a.meta.subject)
    assert (a.meta.repetition, c.meta.repetition) == (1, 2)
    assert c.joints.shape != a.joints.shape or not np.allclose(c.joints, a.joints)


def test_negative_index_or_seed_is_refused() -> None:
    with pytest.raises(ValueError, match="index"):
        synthetic_clip(-1)
    with pytest.raises(ValueError, match="seed"):
        synthetic_clip(0, seed=-2)


# ----------------------------------------------------------------------------- shapes and metadata


def test_class_list() -> None:
    assert len(SYNTHETIC_CLASSES) >= 10
    assert len(set(SYNTHETIC_CLASSES)) == C
    assert TWO_PERSON_CLASSES <= set(SYNTHETIC_CLASSES)


def test_shapes_dtypes_and_metadata(clips: list[Clip]) -> None:
    lengths = set()
    for i, clip in enumerate(clips):
        m, t, v, c = clip.joints.shape
        assert (m, v, c) == (2, 25, 3)
        assert 40 <= t <= 120
        lengths.add(t)
        assert clip.joints.dtype == np.float64
        check_joints(clip.joints, clip.meta.source, NTU.num_joints)  # finite, not all zero
        assert clip.label == i % C
        assert clip.layout == "ntu"
        meta = clip.meta
        assert meta.source == f"synthetic:0:{i}"
        assert meta.name == f"synthetic_s0_{i:06d}"
        assert meta.dataset == "synthetic"
        assert meta.frame_range == (0, t)
        assert meta.view in {"1", "2", "3"}
        assert meta.extra == {"class_name": SYNTHETIC_CLASSES[i % C]}
        assert meta.repetition == i // (C * NUM_SUBJECTS) + 1
    assert len(lengths) > 30  # durations really vary


def test_classes_are_balanced_and_every_class_has_every_subject(clips: list[Clip]) -> None:
    labels = np.array([c.label for c in clips])
    assert np.bincount(labels, minlength=C).tolist() == [N // C] * C
    for k in range(C):
        subjects = {c.meta.subject for c in clips if c.label == k}
        assert subjects == set(range(1, NUM_SUBJECTS + 1))
    assert {c.meta.view for c in clips} == {"1", "2", "3"}


def test_second_person_only_in_two_person_classes(clips: list[Clip]) -> None:
    for clip in clips:
        two = clip.meta.extra["class_name"] in TWO_PERSON_CLASSES
        assert clip.num_bodies == (2 if two else 1)
        if not two:
            assert not clip.joints[1].any()
        for person in clip.joints[: clip.num_bodies]:  # no empty frame for a present person
            assert (np.abs(person).sum(axis=(1, 2)) > 0).all()


# ----------------------------------------------------------------------------- plausibility

BONES = {
    "upper_arm": ("right_shoulder", "right_elbow"),
    "forearm": ("right_elbow", "right_wrist"),
    "thigh": ("left_hip", "left_knee"),
    "shin": ("left_knee", "left_ankle"),
    "spine": ("spine_mid", "spine_shoulder"),
}


def _bone(x: np.ndarray, a: str, b: str) -> np.ndarray:
    """(T,) lengths of the bone a-b in a (T, V, 3) sequence."""
    return np.linalg.norm(x[:, J[a]] - x[:, J[b]], axis=-1)


def test_bone_lengths_are_constant_over_time_and_per_subject(clips: list[Clip]) -> None:
    per_subject: dict[int, list[np.ndarray]] = {}
    for clip in clips:
        for person_id, person in enumerate(clip.joints[: clip.num_bodies]):
            lengths = np.stack([_bone(person, a, b) for a, b in BONES.values()])  # (bones, T)
            # Joint noise is <= 1.2 cm per axis, while an animation that ignored the kinematic tree
            # would stretch bones by many centimetres. Measured (seeds 0, 5, 9): worst std 0.021 m,
            # worst std / length 0.10.
            assert lengths.std(axis=1).max() < 0.03
            assert (lengths.std(axis=1) < 0.15 * lengths.mean(axis=1)).all()
            if person_id == 0:  # person 0 is the clip's subject
                per_subject.setdefault(int(clip.meta.subject or 0), []).append(np.median(lengths, axis=1))
    medians = {subject: np.stack(v) for subject, v in per_subject.items()}  # subject -> (clips, bones)
    for subject, m in medians.items():  # a subject keeps its bone lengths (measured: within 0.009 m)
        assert np.abs(m - np.median(m, axis=0)).max() < 0.03, subject
    typical = np.stack([np.median(m, axis=0) for m in medians.values()])  # (subjects, bones)
    assert (np.ptp(typical, axis=0) > 0.02).all()  # ... and subjects differ (measured >= 0.03 m)


def test_left_and_right_limbs_match() -> None:
    x = synthetic_clip(0).joints[0]
    for a, b in (("shoulder", "elbow"), ("elbow", "wrist"), ("hip", "knee"), ("knee", "ankle")):
        left = np.median(_bone(x, f"left_{a}", f"left_{b}"))
        right = np.median(_bone(x, f"right_{a}", f"right_{b}"))
        assert abs(left - right) < 0.02


def test_people_stand_upright_in_front_of_the_camera(clips: list[Clip]) -> None:
    for clip in clips:
        for x in clip.joints[: clip.num_bodies]:
            feet = np.maximum(_y(x, "left_foot"), _y(x, "right_foot"))
            assert (_y(x, "head") - feet > 0.4).all()  # measured minimum 0.69 m (kick, squat)
            assert (_y(x, "neck") > _y(x, "spine_mid")).all()
            depth = x[:, J["spine_base"], 2]
            assert (depth > 1.8).all() and (depth < 4.5).all()


def test_feet_stay_on_the_floor_when_not_jumping_or_kicking(clips: list[Clip]) -> None:
    for name in ("wave", "clap", "squat", "bow", "arms up", "sit down", "punch"):
        for x in _of_class(clips, name):
            lowest = np.minimum(_y(x, "left_foot"), _y(x, "right_foot"))
            assert lowest.std() < 0.03, name  # measured at most 0.019 m


def test_actions_do_what_their_names_say(clips: list[Clip]) -> None:
    for x in _of_class(clips, "wave"):  # a hand well above its shoulder
        above = [_y(x, f"{s}_hand") - _y(x, f"{s}_shoulder") for s in ("left", "right")]
        assert max(a.max() for a in above) > 0.15
    for x in _of_class(clips, "arms up"):  # both hands above the head at once
        both = np.minimum(_y(x, "left_hand"), _y(x, "right_hand")) - _y(x, "head")
        assert both.max() > 0.05
    for x in _of_class(clips, "clap"):  # the hands meet
        assert np.linalg.norm(x[:, J["left_hand"]] - x[:, J["right_hand"]], axis=-1).min() < 0.12
    for x in _of_class(clips, "sit down"):  # the pelvis ends lower than it starts
        assert _y(x, "spine_base")[-3:].mean() < _y(x, "spine_base")[:3].mean() - 0.2
    for x in _of_class(clips, "squat"):  # down and up again
        pelvis = _y(x, "spine_base")
        assert pelvis.min() < pelvis[0] - 0.15 and abs(pelvis[-1] - pelvis[0]) < 0.08
    for x in _of_class(clips, "jump"):  # both feet leave the floor
        lowest = np.minimum(_y(x, "left_ankle"), _y(x, "right_ankle"))
        assert lowest.max() - lowest[0] > 0.08
    for x in _of_class(clips, "turn around"):  # the shoulder line reverses
        line = x[:, J["right_shoulder"]] - x[:, J["left_shoulder"]]
        line /= np.linalg.norm(line, axis=-1, keepdims=True)
        assert line[0] @ line[-1] < -0.3
    for clip in clips:
        if clip.meta.extra["class_name"] == "handshake":  # the right hands meet
            gap = np.linalg.norm(
                clip.joints[0, :, J["right_hand"]] - clip.joints[1, :, J["right_hand"]], axis=-1
            )
            assert gap.min() < 0.15


# ----------------------------------------------------------------------------- hardness


def _features(clips: list[Clip], frames: int = 32) -> np.ndarray:
    """Person 0 resampled to ``frames`` frames, centred on spine_mid per frame -> (N, frames * 75)."""
    out = []
    for clip in clips:
        x = clip.joints[0] - clip.joints[0][:, [J["spine_mid"]]]  # (T, V, 3)
        flat = x.reshape(x.shape[0], -1)
        src, dst = np.linspace(0, 1, len(flat)), np.linspace(0, 1, frames)
        out.append(np.stack([np.interp(dst, src, col) for col in flat.T], axis=1).ravel())
    return np.stack(out)


def _split(clips: list[Clip]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Even indices train, odd indices test (both balanced, since C is odd)."""
    x, y = _features(clips), np.array([c.label for c in clips])
    return x[::2], y[::2], x[1::2], y[1::2]


def _best_single_feature_accuracy(
    xtr: np.ndarray, ytr: np.ndarray, xte: np.ndarray, yte: np.ndarray
) -> float:
    """Best held-out accuracy of one feature cut into 10 quantile bins, majority class per bin."""
    best = 0.0
    for k in range(xtr.shape[1]):
        edges = np.quantile(xtr[:, k], np.linspace(0, 1, 11)[1:-1])
        counts = np.zeros((10, C))
        np.add.at(counts, (np.searchsorted(edges, xtr[:, k]), ytr), 1)
        pred = counts.argmax(axis=1)[np.searchsorted(edges, xte[:, k])]
        best = max(best, float((pred == yte).mean()))
    return best


def _ridge_accuracy(xtr: np.ndarray, ytr: np.ndarray, xte: np.ndarray, yte: np.ndarray, lam: float) -> float:
    """Least squares on one-hot targets with a ridge penalty (raw coordinates plus a bias)."""
    a = np.hstack([xtr, np.ones((len(xtr), 1))])
    w = np.linalg.solve(a.T @ a + lam * np.eye(a.shape[1]), a.T @ np.eye(C)[ytr])
    pred = (np.hstack([xte, np.ones((len(xte), 1))]) @ w).argmax(axis=1)
    return float((pred == yte).mean())


def test_the_hardness_probes_can_tell_separable_data() -> None:
    rng = np.random.default_rng(0)
    y = np.arange(400) % C
    x = rng.normal(size=(400, 20))
    x[:, 7] = y + rng.normal(0, 0.1, 400)  # one feature gives the class away (11 classes in 10 bins: < 1)
    assert _best_single_feature_accuracy(x[::2], y[::2], x[1::2], y[1::2]) > 0.6  # measured 0.76
    x = rng.normal(size=(400, 50))
    assert _ridge_accuracy(x[::2], y[::2], x[1::2], y[1::2], lam=1.0) < 0.25  # pure noise: chance
    x[:, :C] += 6 * np.eye(C)[y]  # linearly separable
    assert _ridge_accuracy(x[::2], y[::2], x[1::2], y[1::2], lam=1.0) > 0.95


def test_no_single_coordinate_separates_the_classes(clips: list[Clip]) -> None:
    # Measured on seed 0 (440 clips, 220 held out): 0.359; seeds 9-24 give 0.33-0.41. Chance is 0.09.
    assert _best_single_feature_accuracy(*_split(clips)) < 0.45


def test_a_linear_classifier_learns_the_classes(clips: list[Clip]) -> None:
    # Measured on seed 0: 0.768 (lambda 1); seeds 9-24 give 0.79-0.88. Chance is 0.09.
    assert _ridge_accuracy(*_split(clips), lam=1.0) > 0.65
