"""``vcl data merge`` and the ``msr -> kinect_v1`` mapping it is used with."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from skeleton.errors import DatasetError
from skeleton.layouts import KINECT_V1, MSR
from skeleton.mapping import MAPPINGS, map_clip
from skeleton.merge import merge_datasets, parse_source
from skeleton.prepare import prepare_dataset
from skeleton.prepared import PreparedDataset
from skeleton.synthetic import synthetic_clip
from tests.conftest import shared_path
from vcl.cli import main


def _msr_index_of_kinect_v1() -> list[int]:
    """For each kinect_v1 joint, the MSR joint the mapping copies."""
    rules = MAPPINGS[("msr", "kinect_v1")].rules
    return [MSR.joints.index(next(iter(rules[name].alternatives[0]))) for name in KINECT_V1.joints]


def test_msr_to_kinect_v1_relabels_the_same_body_points() -> None:
    msr, kinect = synthetic_clip(3, seed=4, layout="msr"), synthetic_clip(3, seed=4, layout="kinect_v1")
    mapped = map_clip(msr, "kinect_v1")
    assert mapped.synthesised == () and mapped.clip.layout == "kinect_v1"
    np.testing.assert_array_equal(mapped.clip.joints, kinect.joints)
    index = _msr_index_of_kinect_v1()
    assert sorted(index) == list(range(20))  # a permutation: every MSR joint used once
    # MSR's "right" is the body's left (layouts.MSR), so the mapping swaps the sides
    assert MSR.joints[index[KINECT_V1.joints.index("left_wrist")]] == "right_wrist"


def test_msr_prepared_in_kinect_v1_is_the_same_data_relabelled(tmp_path: Path) -> None:
    root = tmp_path / "msr"
    root.mkdir()
    for src in sorted(shared_path("msr_action3d").rglob("a0[12]_s0[12]_e01_skeleton3D.txt")):
        (root / src.name).symlink_to(src)
    a = prepare_dataset("msr-action3d", root, tmp_path / "native", workers=1, progress=False)
    b = prepare_dataset("msr-action3d", root, tmp_path / "kv1", map_to="kinect_v1", workers=1, progress=False)
    assert a["num_samples"] == b["num_samples"] == 4 and b["layout"] == "kinect_v1"
    assert b["mapping"] == {"from": "msr", "via": [], "synthesised": []}
    native, mapped = PreparedDataset(tmp_path / "native").joints, PreparedDataset(tmp_path / "kv1").joints
    # the pipeline normalises by the same body points in both layouts, so only the joint order differs
    np.testing.assert_allclose(mapped, native[:, :, :, _msr_index_of_kinect_v1()], atol=1e-6)


@pytest.fixture
def two_datasets(tmp_path: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "a", tmp_path / "b"
    prepare_dataset("synthetic", None, a, num_samples=30, seed=1, progress=False, workers=1)
    prepare_dataset("synthetic", None, b, num_samples=24, seed=2, progress=False, workers=1)
    return a, b


def test_merge_keeps_one_split_and_adds_the_other_as_training_clips(
    tmp_path: Path, two_datasets: tuple[Path, Path]
) -> None:
    a, b = (PreparedDataset(p) for p in two_datasets)
    manifest = merge_datasets([(a.directory, "split"), (b.directory, "all")], tmp_path / "m", progress=False)
    merged = PreparedDataset(tmp_path / "m")
    merged.verify()
    assert (
        len(merged) == 54 and manifest["num_classes"] == a.manifest["num_classes"] + b.manifest["num_classes"]
    )
    train, test = merged.split("xsub", "train"), merged.split("xsub", "test")
    # a's clips first, in order; its test clips stay test, all of b trains
    np.testing.assert_array_equal(test, a.split("xsub", "test"))
    assert len(train) == len(a.split("xsub", "train")) + 24
    np.testing.assert_array_equal(merged.joints[:30], a.joints)
    np.testing.assert_array_equal(merged.joints[30:], b.joints)
    np.testing.assert_array_equal(merged.labels[:30], a.labels)
    np.testing.assert_array_equal(merged.labels[30:], b.labels + a.manifest["num_classes"])
    # one dataset name twice: the class names are not prefixed
    assert merged.class_names == a.class_names + b.class_names
    assert [s["name"] for s in merged.samples] == [s["name"] for s in a.samples + b.samples]
    assert [s["index"] for s in merged.samples] == list(range(54))
    sources = manifest["source"]["merged"]
    assert [(s["part"], s["clips"], s["train"]) for s in sources] == [
        ("split", 30, len(a.split("xsub", "train"))),
        ("all", 24, 24),
    ]
    assert sources[1]["content_sha256"] == b.manifest["content_sha256"]


def test_merge_train_part_and_dataset_prefixes(tmp_path: Path, two_datasets: tuple[Path, Path]) -> None:
    a, b = two_datasets
    manifest = json.loads((b / "manifest.json").read_text())
    manifest["dataset"] = "other"  # as if b came from another dataset
    (b / "manifest.json").write_text(json.dumps(manifest))
    merge_datasets([(a, "split"), (b, "train")], tmp_path / "m", progress=False)
    merged, other = PreparedDataset(tmp_path / "m"), PreparedDataset(b)
    assert len(merged) == 30 + len(other.split("xsub", "train"))
    assert merged.class_names[0] == "synthetic: wave" and merged.class_names[-1].startswith("other: ")
    assert merged.manifest["dataset"] == "synthetic+other"


def test_merge_refuses_what_does_not_fit(tmp_path: Path, two_datasets: tuple[Path, Path]) -> None:
    a, b = two_datasets
    kinect = tmp_path / "kinect"
    prepare_dataset(
        "synthetic", None, kinect, num_samples=12, synthetic_layout="kinect_v1", progress=False, workers=1
    )
    with pytest.raises(DatasetError, match=r"kinect: layout 'kinect_v1' differs from .*'ntu'"):
        merge_datasets([(a, "split"), (kinect, "all")], tmp_path / "m", progress=False)
    with pytest.raises(DatasetError, match="given twice"):
        merge_datasets([(a, "split"), (a, "all")], tmp_path / "m", progress=False)
    with pytest.raises(DatasetError, match="at least two sources"):
        merge_datasets([(a, "split")], tmp_path / "m", progress=False)
    with pytest.raises(DatasetError, match="no protocol 'xview'"):
        merge_datasets([(a, "split"), (b, "all")], tmp_path / "m", protocol="xview", progress=False)
    with pytest.raises(DatasetError, match="already exists"):
        merge_datasets([(a, "split"), (b, "all")], b, progress=False)
    assert not (tmp_path / "m").exists()
    assert parse_source("data/x:all") == (Path("data/x"), "all")
    assert parse_source("data/x") == (Path("data/x"), "split")
    with pytest.raises(DatasetError, match="part must be one of split, train, all, got 'everything'"):
        parse_source("data/x:everything")


def test_merge_command(
    tmp_path: Path, two_datasets: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = two_datasets
    assert main(["data", "merge", str(a), f"{b}:all", "--out", str(tmp_path / "m"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "merged 54 clips from 2 datasets" in out and f"{b} (all): 24 clips, 24 to train" in out
    assert main(["data", "merge", str(a), f"{b}:any", "--out", str(tmp_path / "n")]) != 0
    assert "part must be one of" in capsys.readouterr().err
