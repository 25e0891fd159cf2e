"""``vcl data prepare`` on pose-estimator output: layouts from the files, 2D pipeline, mapping."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from skeleton.errors import DatasetError, LayoutError
from skeleton.prepare import prepare_dataset
from skeleton.prepared import PreparedDataset
from tests.conftest import shared_path
from vcl.cli import main


def test_synthetic_coco17_2d_with_pose2d(tmp_path: Path) -> None:
    out = tmp_path / "d"
    manifest = prepare_dataset(
        "synthetic",
        None,
        out,
        pipeline="pose2d",
        pipeline_options={"keep_score": False},
        num_samples=22,
        synthetic_layout="coco17",
        synthetic_channels="xys",
        workers=1,
        progress=False,
    )
    assert (manifest["layout"], manifest["channels"], manifest["input_channels"]) == ("coco17", "xys", 2)
    assert manifest["pipeline"]["keep_score"] is False and manifest["mapping"] is None
    assert PreparedDataset(out).joints.shape == (22, 2, 50, 17, 2)


def test_map_to_ntu_records_the_synthesised_joints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "d"
    args = ["data", "prepare", "--dataset", "synthetic", "--num-samples", "11", "--synthetic-layout"]
    args += ["mediapipe33", "--map-to", "ntu", "--out", str(out), "--quiet", "--workers", "1"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert (
        "layout ntu, channels xyz" in printed
        and "mapped from mediapipe33; synthesised joints: spine_base" in printed
    )
    manifest = PreparedDataset(out).manifest
    assert manifest["mapping"]["from"] == "mediapipe33" and "neck" in manifest["mapping"]["synthesised"]
    assert PreparedDataset(out).joints.shape == (11, 3, 50, 25, 2)
    with pytest.raises(LayoutError, match="no mapping from layout 'ntu' to 'coco17'"):
        prepare_dataset("synthetic", None, tmp_path / "e", num_samples=11, map_to="coco17", progress=False)


def test_channel_mismatch_is_skipped_naming_both(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="channels 'xys', the pipeline 'vcl-official' takes 'xyz'"):
        prepare_dataset(
            "synthetic",
            None,
            tmp_path / "d",
            num_samples=11,
            synthetic_channels="xys",
            workers=1,
            progress=False,
        )


def test_cli_pipeline_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["data", "prepare", "--dataset", "synthetic", "--num-samples", "11", "--synthetic-channels", "xy"]
    args += ["--pipeline", "pose2d", "--pipeline-option", "channels=xy", "--pipeline-option"]
    args += ["keep_score=false", "--out", str(tmp_path / "d"), "--quiet", "--workers", "1"]
    assert main(args) == 0
    assert PreparedDataset(tmp_path / "d").manifest["input_channels"] == 2
    bad = [
        "data",
        "prepare",
        "--dataset",
        "synthetic",
        "--pipeline-option",
        "bad",
        "--out",
        str(tmp_path / "e"),
    ]
    assert main(bad) == 2
    assert "expected KEY=VALUE" in capsys.readouterr().err


def test_pyskl_pickle_with_its_splits(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    annotations = [
        {
            "frame_dir": f"c{i}",
            "label": i % 2,
            "img_shape": (480, 640),
            "keypoint": rng.uniform(0, 400, size=(1, 12, 17, 2)).astype(np.float32),
            "keypoint_score": rng.uniform(0.5, 1, size=(1, 12, 17)).astype(np.float32),
        }
        for i in range(6)
    ]
    split = {"xsub_train": ["c0", "c1", "c2", "c3"], "xsub_val": ["c4", "c5"]}
    (tmp_path / "ann.pkl").write_bytes(pickle.dumps({"split": split, "annotations": annotations}))
    manifest = prepare_dataset(
        "pyskl", tmp_path / "ann.pkl", tmp_path / "d", pipeline="pose2d", progress=False
    )
    assert manifest["splits"] == {"xsub": {"train": 4, "test": 2, "unassigned": 0}}
    assert manifest["layout"] == "coco17" and manifest["counts"]["per_class"] == [3, 3]


def test_real_exercise_clips_by_class_folder(tmp_path: Path) -> None:
    root = shared_path("pose_samples", "openpose18_pose_trainer", "poses_compressed")
    manifest = prepare_dataset("arrays", root, tmp_path / "d", pipeline="pose2d", workers=1, progress=False)
    assert manifest["class_names"] == ["bicep", "frontraise", "shoulderpress", "shouldershrug"]
    assert manifest["counts"]["per_class"] == [16, 28, 36, 32]
    assert manifest["shape"] == [112, 3, 50, 18, 2] and manifest["layout"] == "openpose18"


def test_real_openpose_folders_and_kinetics(tmp_path: Path) -> None:
    frames = shared_path("pose_samples", "openpose18_pose_trainer", "json_frames")
    manifest = prepare_dataset(
        "openpose", frames, tmp_path / "o", pipeline="pose2d", workers=1, progress=False
    )
    assert manifest["counts"]["clips"] == 16 and manifest["counts"]["unlabelled"] == 16
    kinetics = shared_path("pose_samples", "kinetics_skeleton")
    with pytest.raises(
        DatasetError, match="label index 0 is 'abseiling', but .*kinetics_val_label.json calls it"
    ):
        prepare_dataset("kinetics-skeleton", kinetics, tmp_path / "x", pipeline="pose2d", progress=False)
    manifest = prepare_dataset(
        "kinetics-skeleton",
        kinetics / "kinetics_val",
        tmp_path / "k",
        pipeline="pose2d",
        workers=1,
        progress=False,
    )
    assert manifest["counts"]["clips"] == 5 and manifest["counts"]["skipped"] == 0
    names = manifest["class_names"]
    assert names == ["jumping into pool", "playing harp", "folding napkins", "braiding hair", "pushing cart"]
    samples = [json.loads(line) for line in (tmp_path / "k" / "samples.jsonl").read_text().splitlines()]
    assert all(names[s["label"]] == s["extra"]["label_name"] for s in samples)


def test_real_pushfit_landmarks_by_form(tmp_path: Path) -> None:
    root = shared_path("pose_samples", "pushfit_mediapipe33")
    manifest = prepare_dataset(
        "landmarks", root, tmp_path / "m", pipeline="pose2d", workers=1, progress=False
    )
    assert manifest["class_names"] == ["correct", "wrong"] and manifest["counts"]["per_class"] == [6, 6]
    mapped = prepare_dataset(
        "landmarks",
        shared_path("pose_samples", "pushfit_movenet_coco17"),
        tmp_path / "n",
        pipeline="pose2d",
        map_to="ntu",
        workers=1,
        progress=False,
    )
    assert mapped["shape"] == [12, 3, 50, 25, 2] and mapped["mapping"]["from"] == "coco17"
