"""Class activation maps: exact against the logits, on the moving arm, through ONNX Runtime and the
CLI, and on a real NTU clip with the authors' weights."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
import torch

from export.fold import fold_model
from export.graph import ExportGraph
from export.onnx_export import explain_spec, export_checkpoint
from export.predict import predict_files
from runtime.attribution import attributions, frame_owner, to_input_frames
from runtime.manifest import ExplainSpec
from runtime.model import OnnxModel, RuntimeModelError
from skeleton.clip import Clip
from skeleton.graph import spatial_partition
from skeleton.layouts import get_layout
from skeleton.pipelines import get_pipeline, preprocess_clips
from skeleton.readers.npz import write_npz
from skeleton.synthetic import SYNTHETIC_CLASSES, synthetic_clip
from tests.conftest import REPO, shared_path
from train.checkpoint import load_checkpoint, save_checkpoint
from train.model import MultiStreamModel, StreamEncoder
from train.official import import_official

NTU = get_layout("ntu")
RIGHT_ARM = tuple(
    NTU.joints.index(f"right_{j}") for j in ("shoulder", "elbow", "wrist", "hand", "hand_tip", "thumb")
)
# actions whose motion is in the trunk and legs: the arm wave is the only difference between classes
BASES = [SYNTHETIC_CLASSES.index(c) for c in ("squat", "jump", "kick", "bow", "turn around", "sit down")]
CLASSES = ["still arm", "right arm wave"]
PIPELINE = get_pipeline("vcl-official", num_frames=50).describe()
ARCH: dict[str, Any] = {
    "widths": [8, 8, 16],
    "strides": [1, 2, 1],
    "dropout": 0.0,
    "hidden_dim": 32,
    "projection_dim": 16,
    "latent_dim": 8,
}


def arm_clips(count: int, seed: int) -> list[Clip]:
    """Synthetic trunk and leg actions; every other block of six also waves the right arm (elbow
    to thumb, the elbow at half amplitude) along a random direction, 25-40 cm, 3-5 cycles."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        clip = synthetic_clip(BASES[i % 6] + len(SYNTHETIC_CLASSES) * (i // 6), seed=seed)
        joints, label = clip.joints.copy(), (i // 6) % 2
        if label:
            t = np.arange(joints.shape[1]) / joints.shape[1]
            wave = rng.uniform(0.25, 0.4) * np.sin(
                2 * np.pi * rng.uniform(3, 5) * t + rng.uniform(0, 2 * np.pi)
            )
            direction = rng.normal(size=3)
            direction /= np.linalg.norm(direction)
            for joint, weight in zip(RIGHT_ARM[1:], (0.5, 1, 1, 1, 1), strict=True):
                joints[0, :, joint] += weight * wave[:, None] * direction
        out.append(replace(clip, joints=joints, label=label, meta=replace(clip.meta, name=f"arm{i}")))
    return out


@pytest.fixture(scope="module")
def arm_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[MultiStreamModel, Path]:
    """A one-stream tiny ST-GCN trained (400 Adam steps at lr 3e-3, ~20 s) to tell the arm wave from
    a still arm, saved as a checkpoint and exported; returns (model, exported model directory).
    (200 steps at lr 1e-2 fitted 83-96% of the held-out clips depending on float rounding alone.)"""
    torch.manual_seed(0)
    clips = arm_clips(192, seed=1)
    x = torch.from_numpy(preprocess_clips(clips, "ntu", PIPELINE))
    y = torch.tensor([c.label for c in clips])
    encoder = StreamEncoder(
        torch.as_tensor(spatial_partition(NTU)),
        head="none",
        widths=(8, 8, 16),
        strides=(1, 2, 1),
        dropout=0.0,
    )
    model = MultiStreamModel(
        {"joint": encoder}, NTU.parents, {"joint": torch.nn.Linear(16, 2)}, {"joint": 1.0}
    )
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(400):
        batch = torch.randint(0, len(x), (16,))
        logits = model(x[batch])["fused_logits"]
        loss = torch.nn.functional.cross_entropy(logits, y[batch])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    root = tmp_path_factory.mktemp("arm")
    meta = {
        "layout": "ntu",
        "head": "none",
        "architecture": ARCH,
        "num_classes": 2,
        "class_names": CLASSES,
        "pipeline": PIPELINE,
        "method": "supervised",
    }
    checkpoint = save_checkpoint(root / "checkpoint", model, meta)
    export_checkpoint(checkpoint, root / "model", max_batch=4)
    return model, root / "model"


def _outputs(graph: ExportGraph, x: torch.Tensor) -> dict[str, np.ndarray]:
    with torch.no_grad():
        return {n: v.numpy() for n, v in zip(graph.all_names, graph(x), strict=True)}


def test_cam_sums_to_the_logits_minus_the_fused_bias(arm_model: tuple[MultiStreamModel, Path]) -> None:
    model, _ = arm_model
    x = torch.from_numpy(preprocess_clips(arm_clips(12, seed=3), "ntu", PIPELINE))
    with torch.no_grad():
        want = cast(torch.Tensor, model(x)["fused_logits"]).numpy()
    bias = cast(torch.nn.Linear, model.classifiers["joint"]).bias.detach().numpy()  # fusion weight 1
    for graph in (ExportGraph(model).eval(), ExportGraph(fold_model(model)).eval()):
        out = _outputs(graph, x)
        np.testing.assert_allclose(out["fused_logits"], want, atol=1e-5)  # the graph's own forward
        assert out["cam"].shape == (12, 2, 25, 25)  # (N, classes, T' = 50 / stride 2, V)
        np.testing.assert_allclose(out["cam"].sum(axis=(2, 3)) + bias, want, atol=1e-5)
        np.testing.assert_allclose(out["joint_cam"], out["cam"], atol=1e-7)  # one stream, weight 1
        np.testing.assert_allclose(graph.fused_bias().numpy(), bias)


def test_attribution_lands_on_the_moving_arm(arm_model: tuple[MultiStreamModel, Path]) -> None:
    model, _ = arm_model
    clips = arm_clips(24, seed=2)  # held out: other subjects, waves, views
    x = torch.from_numpy(preprocess_clips(clips, "ntu", PIPELINE))
    graph = ExportGraph(model).eval()
    out = _outputs(graph, x)
    labels = np.array([c.label for c in clips])
    predicted = out["fused_logits"].argmax(1)
    assert (predicted == labels).mean() >= 0.9  # it discriminates the wave (23 of 24 clips)
    raw = explain_spec(graph, {"cam": {"shape": ["N", *out["cam"].shape[1:]]}})
    spec = ExplainSpec(tuple(raw["outputs"]), tuple(raw["fused_bias"]), raw["temporal_stride"], raw["frames"])
    assert spec.temporal_stride == 2 and spec.frames == 25
    waving = np.flatnonzero((labels == 1) & (predicted == 1))
    assert len(waving) >= 10
    found = attributions(out["cam"][waving], np.ones(len(waving), int), spec, 50)
    shares = []
    for a in found:
        positive = np.clip(a.joints, 0, None)
        shares.append(positive[list(RIGHT_ARM)].sum() / positive.sum())
        assert np.abs(a.attribution).sum() == pytest.approx(1.0)
    # 6 of 25 joints (24%) hold 93% of the evidence for the wave on average (measured), 88% at least
    assert np.mean(shares) > 0.8 and min(shares) > 0.6


def test_frames_map_back_to_the_nearest_centre() -> None:
    owner = frame_owner(50, 13, 4)  # the default ST-GCN: T = 50 -> T' = 13, stride 4
    assert owner[:2].tolist() == [0, 0] and owner[2:6].tolist() == [1, 1, 1, 1]
    assert owner[46:].tolist() == [12, 12, 12, 12] and np.bincount(owner).tolist() == [2] + [4] * 12
    cam = np.random.default_rng(0).normal(size=(3, 13, 25))
    spread = to_input_frames(cam, 50, 4)
    assert spread.shape == (3, 50, 25)
    np.testing.assert_allclose(spread.sum(axis=1), cam.sum(axis=1))  # the sum over frames is kept
    np.testing.assert_allclose(spread[:, 2], cam[:, 1] / 4)  # frame 2 is one of output frame 1's four


def test_onnx_cam_is_fetched_only_when_asked(arm_model: tuple[MultiStreamModel, Path]) -> None:
    model, model_dir = arm_model
    manifest = json.loads((model_dir / "manifest.json").read_text())
    assert "cam" not in manifest["outputs"] and manifest["explain"]["outputs"] == ["cam", "joint_cam"]
    assert manifest["explain"]["temporal_stride"] == 2 and manifest["explain"]["frames"] == 25
    within = [b["cam_within"] for b in manifest["parity"]["batches"].values()]
    assert all(w["cam"] and w["joint_cam"] and w["sum_identity_error"] < 1e-4 for w in within)
    runtime = OnnxModel(model_dir)
    x = preprocess_clips(arm_clips(6, seed=4), "ntu", PIPELINE)
    assert "cam" not in runtime.run(x)
    out = runtime.run(x, outputs=["fused_logits", "cam"])
    assert list(out) == ["fused_logits", "cam"]
    bias = np.array(manifest["explain"]["fused_bias"])
    np.testing.assert_allclose(out["cam"].sum(axis=(2, 3)) + bias, out["fused_logits"], atol=1e-5)
    np.testing.assert_allclose(
        out["cam"], _outputs(ExportGraph(model).eval(), torch.from_numpy(x))["cam"], atol=1e-5
    )
    with pytest.raises(RuntimeModelError, match="has no output 'saliency'"):
        runtime.run(x, outputs=["saliency"])


def test_predict_explain_cli(arm_model: tuple[MultiStreamModel, Path], tmp_path: Path) -> None:
    _, model_dir = arm_model
    clips = arm_clips(12, seed=5)[6:]  # six waving clips
    write_npz(tmp_path / "waves.npz", clips, CLASSES)
    command = [sys.executable, "-m", "vcl", "predict", "--model", str(model_dir), str(tmp_path / "waves.npz")]
    done = subprocess.run([*command, "--explain"], capture_output=True, text=True, cwd=REPO, check=True)
    lines = done.stdout.splitlines()
    assert len(lines) == 12
    for head, why in zip(lines[::2], lines[1::2], strict=True):  # 'arm6: right arm wave (class 1); ...'
        label = head.split(": ")[1].split(" (class")[0]
        assert why.startswith(f"  why {label}: ")
        if label == "right arm wave":  # the first joint named is on the waving arm
            assert why.split(": ")[1].split(" ")[0] in [NTU.joints[j] for j in RIGHT_ARM]
    assert sum("why right arm wave" in line for line in lines) >= 3  # of six waving clips (measured 4)
    done = subprocess.run(
        [*command, "--explain", "--json"], capture_output=True, text=True, cwd=REPO, check=True
    )
    results = json.loads(done.stdout)
    for r in results:
        e = r["explanation"]
        assert e["label"] == r["label"] and len(e["joint_names"]) == 25
        frames = np.array(e["frames"])
        assert frames.shape == (50, 25) and np.abs(frames).sum() == pytest.approx(1.0, abs=1e-4)
        np.testing.assert_allclose(frames.sum(axis=0), e["joints"], atol=1e-4)
        assert e["total"] + e["bias"] == pytest.approx(r["fused_logits"][r["class_index"]], abs=1e-4)
        if r["label"] == "right arm wave":
            assert e["top_joints"][0]["joint"] in [NTU.joints[j] for j in RIGHT_ARM]
    other = predict_files(model_dir, [tmp_path / "waves.npz"], explain_class="still arm")
    assert {r["explanation"]["label"] for r in other} == {"still arm"}
    assert other[0]["explanation"]["total"] + other[0]["explanation"]["bias"] == pytest.approx(
        other[0]["fused_logits"][0], abs=1e-4
    )


def test_explain_refuses_a_model_exported_without_cam(
    arm_model: tuple[MultiStreamModel, Path], tmp_path: Path
) -> None:
    import shutil

    _, model_dir = arm_model
    old = tmp_path / "old"
    shutil.copytree(model_dir, old)
    manifest = json.loads((old / "manifest.json").read_text())
    del manifest["explain"]
    (old / "manifest.json").write_text(json.dumps(manifest))
    write_npz(tmp_path / "one.npz", arm_clips(1, seed=6), CLASSES)
    assert predict_files(old, [tmp_path / "one.npz"])[0]["label"] in CLASSES  # plain predict still works
    with pytest.raises(RuntimeModelError, match=r"has no 'cam' output .* re-export it .*vcl export"):
        predict_files(old, [tmp_path / "one.npz"], explain=True)


def test_official_cam_is_exact_on_a_real_clip(tmp_path: Path, reference: dict) -> None:
    folder = shared_path("vcl_official")
    checkpoint = import_official(
        {s: folder / f"ntu60_xsub_{s}_linear.pt" for s in ("joint", "bone", "motion")}, tmp_path / "official"
    )
    manifest = export_checkpoint(checkpoint, tmp_path / "onnx", max_batch=2)
    explain = manifest["explain"]
    assert explain["temporal_stride"] == 4 and explain["frames"] == 13  # T = 50 -> 13
    assert all(b["cam_within"]["cam"] for b in manifest["parity"]["batches"].values())
    runtime = OnnxModel(tmp_path / "onnx")
    out = runtime.run(reference["inputs_joint"].astype(np.float32), outputs=["cam", "joint_cam"])
    assert out["cam"].shape == (5, 60, 13, 25)
    bias = np.array(explain["fused_bias"])
    # the authors' fused logits of the five reference clips, from the map and the bias alone
    np.testing.assert_allclose(out["cam"].sum(axis=(2, 3)) + bias, reference["logits_fused"], atol=1e-4)
    model, _ = load_checkpoint(checkpoint)  # the joint stream's own identity, with its imported bias
    joint_bias = cast(torch.nn.Linear, model.classifiers["joint"]).bias.detach().numpy()
    np.testing.assert_allclose(
        out["joint_cam"].sum(axis=(2, 3)) + joint_bias, reference["logits_joint"], atol=1e-4
    )
    files = sorted(shared_path("ntu_samples").glob("*.skeleton"))[:1]
    result = predict_files(tmp_path / "onnx", files, explain=True)[0]
    e = result["explanation"]
    assert result["class_index"] == int(reference["pred_fused"][0]) == e["class_index"]
    frames = np.array(e["frames"])
    assert frames.shape == (50, 25) and np.isfinite(frames).all()
    assert np.abs(frames).sum() == pytest.approx(1.0, abs=1e-4)
    assert e["total"] + e["bias"] == pytest.approx(
        float(reference["logits_fused"][0, e["class_index"]]), abs=1e-3
    )
