"""``vcl eval uncertainty``: open-set AUROCs on a tiny split worked out by hand, rank statistics, and
the study on a tiny model whose validation threshold is the one ``vcl export --reference`` writes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from runtime.manifest import read_manifest
from runtime.model import OnnxModel
from skeleton.prepare import prepare_dataset
from tests.conftest import TINY_MODEL
from train.config import load_config
from train.trainer import train
from train.uncertainty import spearman, variance_explained
from train.uncertainty_study import UncertaintyConfig, UncertaintyStudy, open_set_metrics
from vcl.cli import main


def test_open_set_aurocs_on_a_tiny_split() -> None:
    # seen classes 0 and 2 (logit columns in that order); clips 2 and 3 are of unseen class 1
    logits = np.array([[2.0, 0.0], [0.0, 0.0], [1.0, 0.0], [0.0, 3.0]])
    labels = np.array([0, 2, 1, 1])
    sigma = np.array([-3.0, -2.0, -1.0, -2.5])
    softmax = 1 - np.exp(logits).max(1) / np.exp(logits).sum(1)  # 0.119, 0.5, 0.269, 0.047
    m = open_set_metrics(logits, {"sigma": sigma, "softmax": softmax}, labels, np.array([0, 2]))
    assert (m["unseen_clips"], m["seen_clips"], m["seen_error_rate"]) == (2, 2, 0.5)  # clip 1 -> class 0
    # unseen above seen: sigma -1 > -3, -2; -2.5 > -3 but not > -2: 3 of 4 pairs
    assert m["auroc_unseen"] == {"sigma": 0.75, "softmax": 0.25}  # softmax: only 0.269 > 0.119
    assert m["auroc_wrong_seen"] == {"sigma": 1.0, "softmax": 1.0}


def test_rank_correlation_and_variance_share() -> None:
    assert spearman(np.array([1.0, 2.0, 3.0, 4.0]), np.array([10.0, 20.0, 15.0, 40.0])) == pytest.approx(0.8)
    assert spearman(np.array([1.0, 2.0, 3.0]), np.array([3.0, 2.0, 1.0])) == pytest.approx(-1.0)
    assert math.isnan(spearman(np.array([1.0, 2.0]), np.array([5.0, 5.0])))
    # groups a: 0, 2 (mean 1), b: 4, 6 (mean 5); total SS 20, between 2 * 4 + 2 * 4 = 16
    assert variance_explained(np.array([0.0, 2.0, 4.0, 6.0]), np.array(["a", "a", "b", "b"])) == 0.8


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("uncertainty")
    data = root / "syn"
    prepare_dataset("synthetic", None, data, num_samples=132, seed=2, progress=False)
    overrides = [*TINY_MODEL, "optim.batch_size=22", "loss.queue_size=44", "optim.epochs=1"]
    train(load_config(None, [*overrides, f"data.path={data}", f"run.out_dir={root / 'run'}"]), progress=False)
    return data, root / "run" / "checkpoints" / "last"


def test_study_result_and_the_exported_threshold_agree(
    trained: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, model = trained
    config = UncertaintyConfig(data=str(data), model=str(model), seeds=(0, 1), probe_epochs=50)
    study = UncertaintyStudy(config)
    result = study.run()
    d = result["dataset"]
    assert d["fit"] + d["validation"] == 66 and d["test"] == 66 and d["validation"] > 0
    closed = result["closed_set"]
    assert set(closed["auroc_wrong"]) == {"sigma", "softmax", "entropy", "wrong_probability", "sigma+softmax"}
    assert set(closed["auroc_wrong_sigma_per_stream"]) == {"joint", "bone", "motion"}
    assert all(0 <= v <= 1 for v in closed["auroc_wrong"].values())
    assert 0 <= closed["calibration"]["softmax"]["brier"] <= 1 and set(closed["calibration"]) == {
        "softmax",
        "sigma+softmax",
    }
    # Platt scaling is a monotone map of the softmax score: the same AUROC when its fitted weight is
    # positive, the mirrored one when the validation split taught it the other way round
    (weight,) = closed["calibration"]["softmax"]["weights"].values()
    softmax_auroc = closed["auroc_wrong"]["softmax"]
    expected = softmax_auroc if weight > 0 else 1 - softmax_auroc
    assert closed["auroc_wrong"]["wrong_probability"] == pytest.approx(expected)
    seeds = result["open_set"]["seeds"]
    assert [len(s["unseen_classes"]) for s in seeds] == [3, 3]  # round(11 / 4)
    assert seeds[0]["unseen_classes"] != seeds[1]["unseen_classes"]
    assert seeds[0]["unseen_clips"] + seeds[0]["seen_clips"] == 66
    table = result["correlates"]["sigma"]
    assert not math.isnan(table["rho_persons"])  # 1 or 2 persons in synthetic clips
    assert -1 <= table["rho_length"] <= 1 and 0 <= table["eta2_view"] <= 1
    json.dumps(result)  # plain JSON

    # the probes become a classifier checkpoint; exporting it with the same validation clips
    # writes the study's softmax threshold into the manifest
    checkpoint = study.save_classifier(tmp_path / "classifier")
    args = ["export", "--checkpoint", str(checkpoint), "--out", str(tmp_path / "model"), "--max-batch", "8"]
    assert main([*args, "--reference", str(data)]) == 0
    assert "unknown when softmax >" in capsys.readouterr().out
    m = read_manifest(tmp_path / "model")
    assert m.uncertainty is not None and m.uncertainty.unknown_score == "softmax"
    assert m.uncertainty.unknown_threshold == pytest.approx(
        closed["thresholds"]["softmax"]["threshold"], abs=1e-4
    )
    assert "validation clips" in m.uncertainty.reference and len(m.uncertainty.quantiles["sigma"]) == 21
    # the int8 variant vcl export writes by default carries its own block, scored on the same clips,
    # and the graph served by default (auto) reads that one
    variant = m.variants["int8"].uncertainty
    assert variant is not None and variant.reference == m.uncertainty.reference and variant != m.uncertainty
    served = OnnxModel(tmp_path / "model", precision="auto")
    assert served.precision == "int8" and served.manifest.uncertainty == variant
    assert OnnxModel(tmp_path / "model").manifest.uncertainty == m.uncertainty


def test_cli_writes_the_result(
    trained: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, model = trained
    out = tmp_path / "u.json"
    args = ["eval", "uncertainty", "--model", str(model), "--data", str(data), "--open-set-classes", "2"]
    assert main([*args, "--epochs", "20", "--validation", "hash", "--out", str(out), "--threads", "1"]) == 0
    printed = capsys.readouterr().out
    assert "AUROC for a wrong prediction / an unseen action" in printed and "sigma" in printed
    saved = json.loads(out.read_text())
    assert saved["config"]["open_set_classes"] == 2 and saved["config"]["validation"] == "hash"
    assert len(saved["open_set"]["seeds"][0]["unseen_classes"]) == 2
