"""Property-based tests (hypothesis): readers and pipelines on generated and corrupted inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from skeleton.errors import ClipFormatError
from skeleton.layouts import LAYOUTS
from skeleton.pipelines import PIPELINES, get_pipeline
from skeleton.readers.msr import read_msr_action3d
from skeleton.readers.ntu import read_ntu_skeleton, write_ntu_skeleton

SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
coords = st.floats(0.0625, 3, width=32) | st.floats(-3, -0.0625, width=32)


@st.composite
def ntu_frames(draw: st.DrawFn) -> list[list[tuple[int, np.ndarray]]]:
    """1-12 frames of 0-4 bodies each, at least one body somewhere."""
    counts = draw(
        st.lists(st.integers(0, 4), min_size=1, max_size=12).map(lambda c: c if any(c) else [1, *c])
    )
    return [
        [(draw(st.integers(1, 10**17)), draw(arrays(np.float64, (25, 3), elements=coords))) for _ in range(n)]
        for n in counts
    ]


@SETTINGS
@given(frames=ntu_frames())
def test_ntu_round_trip(tmp_path: Path, frames: list[list[tuple[int, np.ndarray]]]) -> None:
    path = tmp_path / "S001C001P001R001A001.skeleton"
    write_ntu_skeleton(path, frames)
    clip = read_ntu_skeleton(path)
    assert clip.joints.shape == (max(len(f) for f in frames), len(frames), 25, 3)
    assert clip.body_ids is not None
    for t, bodies in enumerate(frames):
        for m, (body_id, joints) in enumerate(bodies):
            np.testing.assert_array_equal(clip.joints[m, t], joints)
            assert clip.body_ids[m, t] == body_id
        assert not clip.joints[len(bodies) :, t].any()


@SETTINGS
@given(frames=ntu_frames(), data=st.data())
def test_ntu_corruption_is_always_a_clear_error(
    tmp_path: Path, frames: list[list[tuple[int, np.ndarray]]], data: st.DataObject
) -> None:
    path = tmp_path / "S001C001P001R001A001.skeleton"
    write_ntu_skeleton(path, frames)
    lines = path.read_text().splitlines()
    kind = data.draw(st.sampled_from(["truncate", "garbage", "nan", "drop"]))
    k = data.draw(st.integers(1, len(lines) - 1))
    if kind == "truncate":
        lines = lines[:k]
    elif kind == "drop":
        del lines[k]
    else:
        tokens = lines[k].split()
        tokens[0] = "nan" if kind == "nan" else "#?"
        lines[k] = " ".join(tokens)
    path.write_text("\n".join(lines) + "\n")
    try:
        read_ntu_skeleton(path)
    except ClipFormatError as err:
        assert str(path) in str(err) and err.line is not None
    else:
        # only a dropped line could conceivably leave a consistent file; truncation, garbage and
        # NaN never do
        assert kind == "drop"


@SETTINGS
@given(frames=st.integers(1, 30), cut=st.integers(1, 19))
def test_msr_truncation(tmp_path: Path, frames: int, cut: int) -> None:
    path = tmp_path / "a01_s01_e01_skeleton3D.txt"
    lines = [f"{j + 1} {t} 2 1" for t in range(frames) for j in range(20)]
    path.write_text("\n".join(lines) + "\n")
    assert read_msr_action3d(path).joints.shape == (1, frames, 20, 3)
    path.write_text("\n".join(lines[:-cut]) + "\n")
    with pytest.raises(ClipFormatError, match="truncated file"):
        read_msr_action3d(path)


@st.composite
def raw_clips(draw: st.DrawFn) -> tuple[str, np.ndarray]:
    """A layout and a raw clip (M, F, V, 3) with absent bodies, frames and joints."""
    layout = draw(st.sampled_from(sorted(LAYOUTS)))
    v = LAYOUTS[layout].num_joints
    m, f = draw(st.integers(1, 5)), draw(st.integers(1, 70))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    joints = rng.normal(size=(m, f, v, 3)) + rng.normal(size=3)
    joints[rng.random((m, f)) < draw(st.floats(0, 0.6))] = 0  # bodies missing in some frames
    joints[rng.random((m, f, v)) < draw(st.floats(0, 0.1))] = 0  # untracked joints
    if not joints.any():
        joints[0, 0, 0] = 1.0
    return layout, joints


@SETTINGS
@given(clip=raw_clips(), name=st.sampled_from(sorted(PIPELINES)), length=st.integers(1, 60))
def test_pipelines_on_arbitrary_clips(clip: tuple[str, np.ndarray], name: str, length: int) -> None:
    layout_name, joints = clip
    layout = LAYOUTS[layout_name]
    if name == "pose2d":  # the third channel is a score there: detected joints score 0.25-1
        present = (joints != 0).any(axis=-1)
        joints[..., 2] = np.where(present, 0.25 + 0.75 / (1 + np.exp(-joints[..., 2])), 0.0)
    result = get_pipeline(name, num_frames=length)(joints, layout)
    x = result.joints
    assert x.shape == (3, length, layout.num_joints, 2) and x.dtype == np.float32
    assert np.isfinite(x).all()
    assert len(set(result.body_slots.tolist())) == 2
    padded = np.zeros((max(4, len(joints)), *joints.shape[1:]))
    padded[: len(joints)] = joints
    for m, slot in enumerate(result.body_slots):
        if slot >= 4 or not padded[slot].any():
            assert not x[..., m].any()  # an absent person stays all zero
    if name == "vcl-official":
        assert not x[:, :, layout.origin].any()  # each person centred on its own origin
        for m, slot in enumerate(result.body_slots):
            person = padded[slot][result.frame_indices]
            present = np.flatnonzero(person.sum(axis=(1, 2)) != 0)
            if len(present) == 0:  # absent from every sampled frame
                assert not x[..., m].any()
            else:  # rotations keep the spread of the centred person
                compact = person[present[np.arange(length) % len(present)]]
                mask = compact.sum(axis=2, keepdims=True) != 0
                centred = (compact - compact[:, layout.origin : layout.origin + 1]) * mask
                np.testing.assert_allclose(
                    np.linalg.norm(x[..., m], axis=0), np.linalg.norm(centred, axis=2), rtol=1e-4, atol=1e-4
                )
