"""``vcl data prepare`` / ``vcl data info`` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import skeleton.prepare as prepare_module
from skeleton.datasets import read_pkummd_split
from skeleton.errors import DatasetError
from skeleton.layouts import NTU
from skeleton.pipelines import get_pipeline
from skeleton.prepare import prepare_dataset
from skeleton.prepared import PreparedDataset
from skeleton.readers.ntu import read_ntu_skeleton
from tests.conftest import shared_path
from vcl.cli import main


def test_msr_action3d_reports_the_empty_sequence(tmp_path: Path) -> None:
    root = shared_path("msr_action3d")
    manifest = prepare_dataset("msr-action3d", root, tmp_path / "msr", workers=2, progress=False)
    assert manifest["num_samples"] == 566 and manifest["counts"]["skipped"] == 1
    assert manifest["num_classes"] == 20 and manifest["layout"] == "msr"
    skipped = json.loads((tmp_path / "msr" / "skipped.json").read_text())
    assert [Path(s["source"]).name for s in skipped] == ["a13_s09_e02_skeleton3D.txt"]
    assert skipped[0]["reason"].startswith("every coordinate is zero")
    data = PreparedDataset(tmp_path / "msr")
    subjects = np.array([s["subject"] for s in data.samples])
    train, test = data.split("xsub", "train"), data.split("xsub", "test")
    assert len(train) + len(test) == 566
    assert set(subjects[train]) == {1, 3, 5, 7, 9} and set(subjects[test]) == {2, 4, 6, 8, 10}
    assert data.joints.shape == (566, 3, 50, 20, 2)


def test_ntu_samples_with_skip_list_and_protocols(tmp_path: Path, ntu_samples: list[Path]) -> None:
    skip = tmp_path / "skip.txt"
    skip.write_text("S004C002P003R001A017\n")
    manifest = prepare_dataset(
        "ntu60", ntu_samples[0].parent, tmp_path / "ntu", skip_list=skip, progress=False, workers=1
    )
    assert manifest["num_samples"] == 4 and manifest["counts"]["skipped"] == 1
    # xsub: P001, P008, P015 train, P003 test; xview: cameras 2 and 3 train
    assert manifest["splits"]["xsub"] == {"train": 3, "test": 1, "unassigned": 0}
    assert manifest["splits"]["xview"] == {"train": 1, "test": 3, "unassigned": 0}
    assert manifest["class_names"][57] == "handshaking" and manifest["pipeline"]["name"] == "vcl-official"
    data = PreparedDataset(tmp_path / "ntu")
    assert data.labels.tolist() == [10, 57, 2, 33]
    expected = get_pipeline("vcl-official")(read_ntu_skeleton(ntu_samples[1]).joints, NTU).joints
    np.testing.assert_array_equal(data.joints[1], expected)


def test_official_class_names(reference: dict) -> None:
    from skeleton.classes import NTU60_CLASSES

    names = json.loads(shared_path("vcl_official", "reference.json").read_text())["ntu60_class_names"]
    assert list(NTU60_CLASSES) == [names[str(i + 1)] for i in range(60)]


def test_synthetic_is_deterministic_across_workers(tmp_path: Path) -> None:
    one = prepare_dataset(
        "synthetic", None, tmp_path / "a", num_samples=60, seed=3, workers=1, progress=False
    )
    two = prepare_dataset(
        "synthetic", None, tmp_path / "b", num_samples=60, seed=3, workers=2, progress=False
    )
    assert one["content_sha256"] == two["content_sha256"]
    other = prepare_dataset(
        "synthetic", None, tmp_path / "c", num_samples=60, seed=4, workers=1, progress=False
    )
    assert other["content_sha256"] != one["content_sha256"]
    PreparedDataset(tmp_path / "b").verify()


def test_skeletonclr_pipeline_is_recorded(tmp_path: Path) -> None:
    manifest = prepare_dataset(
        "synthetic",
        None,
        tmp_path / "s",
        num_samples=12,
        pipeline="skeletonclr",
        protocols=["xsub"],
        progress=False,
    )
    assert manifest["pipeline"] == {
        "name": "skeletonclr",
        "version": "1.0",
        "num_frames": 50,
        "num_persons": 2,
        "max_bodies": 4,
    }


def test_bad_npz_clips_are_skipped_and_listed(tmp_path: Path) -> None:
    root = tmp_path / "raw"
    root.mkdir()
    good = np.random.default_rng(0).normal(size=(3, 1, 20, 25, 3))
    np.savez(
        root / "good.npz",
        joints=good,
        labels=np.array([0, 1, 1]),
        class_names=np.array(["a", "b"]),
        split_mine=np.array(["train", "test", "train"]),
    )
    bad = good[:1].copy()
    bad[0, 0, 4, 2, 1] = np.inf
    np.savez(root / "bad.npz", joints=bad)
    np.savez(root / "unnamed.npz", joints=good[:1], labels=np.array([7]))  # no class names of its own
    manifest = prepare_dataset("npz", root, tmp_path / "out", progress=False)
    assert manifest["num_samples"] == 3 and manifest["counts"]["skipped"] == 2
    assert manifest["splits"] == {"mine": {"train": 2, "test": 1, "unassigned": 0}}
    assert manifest["class_names"] == ["a", "b"]
    entry, unnamed = json.loads((tmp_path / "out" / "skipped.json").read_text())
    assert entry["source"].endswith("bad.npz")
    assert "non-finite coordinate at person 0, frame 4, joint 2" in entry["reason"]
    assert unnamed["source"].endswith("unnamed.npz") and unnamed["reason"] == "label 7 outside the 2 classes"


def test_pkummd_segments_and_official_split_files(tmp_path: Path) -> None:
    root = tmp_path / "pku"
    (root / "Data").mkdir(parents=True)
    (root / "Label").mkdir()
    (root / "Split").mkdir()
    rng = np.random.default_rng(0)
    for name in ("0002-L", "0002-M", "0003-R"):
        np.savetxt(root / "Data" / f"{name}.txt", rng.normal(size=(40, 150)), fmt="%.5f")
        (root / "Label" / f"{name}.txt").write_text("1,0,12,1\n5,15,39,1\n")
    (root / "Split" / "cross-subject.txt").write_text(
        "Training videos: \n0002-L, 0002-M\nValidataion videos: \n0003-R\n"
    )
    assert read_pkummd_split(root / "Split" / "cross-subject.txt") == {
        "0002-L": "train",
        "0002-M": "train",
        "0003-R": "test",
    }
    manifest = prepare_dataset("pku-mmd", root, tmp_path / "out", progress=False)
    assert manifest["num_samples"] == 6 and manifest["counts"]["per_class"][4] == 3
    assert manifest["splits"]["xsub"] == {"train": 4, "test": 2, "unassigned": 0}
    assert manifest["splits"]["xview"] == {"train": 4, "test": 2, "unassigned": 0}  # L tests, M and R train
    (root / "Split" / "cross-subject.txt").unlink()
    manifest = prepare_dataset("pku-mmd", root, tmp_path / "out2", progress=False)
    assert (
        "xsub" not in manifest["splits"] and "cross-subject.txt" in manifest["unavailable_protocols"]["xsub"]
    )
    with pytest.raises(DatasetError, match=r"protocol 'xsub' is not available; available: xview"):
        prepare_dataset("pku-mmd", root, tmp_path / "out3", protocols=["xsub"], progress=False)


def test_existing_output_and_interrupted_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "syn"
    prepare_dataset("synthetic", None, out, num_samples=5, progress=False)
    with pytest.raises(DatasetError, match="already exists; choose another --out or pass --overwrite"):
        prepare_dataset("synthetic", None, out, num_samples=5, progress=False)

    def explode(item: object) -> list:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(prepare_module, "read_item", explode)
    with pytest.raises(RuntimeError):
        prepare_dataset("synthetic", None, out, num_samples=5, progress=False, overwrite=True, workers=1)
    assert PreparedDataset(out).manifest["num_samples"] == 5  # the old dataset is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["syn"]  # no temporary leftovers


def test_nothing_usable(tmp_path: Path) -> None:
    root = tmp_path / "raw"
    root.mkdir()
    np.savez(root / "zero.npz", joints=np.zeros((1, 1, 5, 25, 3)))
    with pytest.raises(DatasetError, match="no usable clip among 1 inputs.*every coordinate is zero"):
        prepare_dataset("npz", root, tmp_path / "out", progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no npz files found"):
        prepare_dataset("npz", tmp_path / "empty", tmp_path / "o", progress=False)


def test_cli_prepare_and_info(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "d"
    assert (
        main(
            ["data", "prepare", "--dataset", "synthetic", "--num-samples", "22", "--out", str(out), "--quiet"]
        )
        == 0
    )
    assert "prepared 22 clips from 22 inputs" in capsys.readouterr().out
    assert main(["data", "info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["num_samples"] == 22 and info["layout"] == "ntu" and info["pipeline"] == "vcl-official v1.0"
    assert info["num_classes"] == len(PreparedDataset(out).class_names)
    assert info["splits"]["xsub"]["train"] + info["splits"]["xsub"]["test"] == 22
    assert main(["data", "info", str(out), "--verify"]) == 0
    assert "content hash verified" in capsys.readouterr().out


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "info", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "not a prepared dataset (no manifest.json)" in err
    assert (
        main(
            [
                "data",
                "prepare",
                "--dataset",
                "ntu60",
                "--root",
                str(tmp_path / "nope"),
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    assert "nope: no such file or directory" in capsys.readouterr().err
    (tmp_path / "manifest.json").write_text("{}")
    assert main(["data", "info", str(tmp_path)]) == 2
    assert "field 'format': expected 'vcl-prepared-dataset', got None" in capsys.readouterr().err


def test_tampered_joints_fail_verification(tmp_path: Path) -> None:
    out = tmp_path / "d"
    prepare_dataset("synthetic", None, out, num_samples=4, progress=False)
    arr = np.load(out / "joints.npy", mmap_mode="r+")
    arr[0, 0, 0, 0, 0] += 1
    arr.flush()
    del arr
    with pytest.raises(DatasetError, match="content hash mismatch"):
        PreparedDataset(out).verify()
