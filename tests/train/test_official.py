"""The authors' NTU-60 checkpoints: import, refusal of misfits, and predict parity with reference.npz."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import shared_path
from train.checkpoint import CheckpointError, load_checkpoint
from train.official import import_official
from vcl.cli import main

STREAMS = ("joint", "bone", "motion")


@pytest.fixture(scope="module")
def official(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = shared_path("vcl_official")
    out = tmp_path_factory.mktemp("official") / "model"
    import_official({s: folder / f"ntu60_xsub_{s}_linear.pt" for s in STREAMS}, out)
    return out


def test_predict_json_reproduces_the_reference(
    official: Path, reference: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    files = sorted(str(p) for p in shared_path("ntu_samples").glob("*.skeleton"))
    assert main(["predict", "--model", str(official), *files, "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in results] == list(reference["names"])
    for stream in STREAMS:
        logits = np.array([r["stream_logits"][stream] for r in results])
        tolerance = 2e-4 if stream == "motion" else 1e-4
        np.testing.assert_allclose(logits, reference[f"logits_{stream}"], atol=tolerance, rtol=0)
        assert logits.argmax(1).tolist() == reference[f"pred_{stream}"].tolist()
        features = np.array([r["stream_features"][stream] for r in results])
        np.testing.assert_allclose(features, reference[f"feat_{stream}"], atol=1e-4, rtol=0)
    fused = np.array([r["fused_logits"] for r in results])
    np.testing.assert_allclose(fused, reference["logits_fused"], atol=2e-4, rtol=0)
    assert [r["class_index"] for r in results] == reference["pred_fused"].tolist()
    assert [r["label"] for r in results][1] == "handshaking"
    assert [t["class_index"] for t in results[0]["top"]] == [10, 11, 28, 27, 1]  # reference fused top-5


def test_imported_checkpoint_meta(official: Path) -> None:
    model, meta = load_checkpoint(official)
    assert meta["fusion_weights"] == {"joint": 0.6, "bone": 0.6, "motion": 0.4}
    assert meta["pipeline"]["name"] == "vcl-official" and len(meta["class_names"]) == 60
    assert model.streams == list(STREAMS) and meta["head"] == "none"


def test_predict_text_output(official: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sample = shared_path("ntu_samples", "S001C003P008R002A058.skeleton")
    assert main(["predict", "--model", str(official), str(sample), "--top", "2"]) == 0
    assert capsys.readouterr().out.startswith(
        "S001C003P008R002A058: handshaking (class 57); top-2: handshaking"
    )


def test_misfit_checkpoints_are_refused(tmp_path: Path) -> None:
    folder = shared_path("vcl_official")
    good = torch.load(folder / "ntu60_xsub_joint_linear.pt", map_location="cpu", weights_only=True)
    paths = {s: folder / f"ntu60_xsub_{s}_linear.pt" for s in STREAMS}

    bad = dict(good, model={k: v for k, v in good["model"].items() if "edge_importance.3" not in k})
    torch.save(bad, tmp_path / "missing.pt")
    with pytest.raises(
        CheckpointError, match=r"missing.pt: keys do not fit the ST-GCN: missing \['edge_importance.3'\]"
    ):
        import_official({**paths, "joint": tmp_path / "missing.pt"}, tmp_path / "out")

    model = dict(good["model"])
    model["module.backbone.fc.weight"] = torch.zeros(120, 256)
    torch.save(dict(good, model=model), tmp_path / "ntu120.pt")
    with pytest.raises(CheckpointError, match=r"fc.weight: expected shape \(60, 256\), got \(120, 256\)"):
        import_official({**paths, "bone": tmp_path / "ntu120.pt"}, tmp_path / "out")

    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="expected a dict with a 'model' entry"):
        import_official({**paths, "motion": tmp_path / "other.pt"}, tmp_path / "out")
    (tmp_path / "text.pt").write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        import_official({**paths, "motion": tmp_path / "text.pt"}, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_tampered_weights_are_refused(official: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(official, copy)
    with open(copy / "model.pt", "r+b") as fh:
        fh.seek(1000)
        byte = fh.read(1)
        fh.seek(1000)
        fh.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(CheckpointError, match="does not match meta.json"):
        load_checkpoint(copy)
