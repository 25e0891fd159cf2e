"""``ModelManifest``: a real export reads back field for field; a wrong field names file and field."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from runtime.manifest import MANIFEST_FORMAT, ModelManifest, RuntimeModelError, parse_manifest, read_manifest
from tests.conftest import tiny_exported_model


def valid_manifest() -> dict[str, Any]:
    """The fields the reader checks, as ``vcl export`` writes them (one stream, two classes)."""
    return {
        "format": MANIFEST_FORMAT,
        "model_file": "model.onnx",
        "model_sha256": "ab" * 32,
        "opset": 18,
        "input": {"name": "joints", "shape": ["N", 3, 50, 25, 2], "dtype": "float32"},
        "outputs": ["joint_logits", "joint_mu", "joint_sigma", "joint_feature", "fused_logits", "embedding"],
        "layout": "ntu",
        "joint_names": ["spine_base"],
        "pipeline": {"name": "vcl-official", "num_frames": 50, "num_persons": 2},
        "streams": ["joint"],
        "fusion_weights": {"joint": 0.6},
        "class_names": ["wave", "kick"],
        "has_gaussian_head": True,
        "embedding_dim": 16,
        "embedding_centers": {"joint": [0.5, -0.5]},
        "method": "vcl",
        "variants": {"fp16": {"file": "model.fp16.onnx", "sha256": "cd" * 32}},
    }


def write(directory: Path, manifest: dict[str, Any]) -> Path:
    path = directory / "manifest.json"
    path.write_text(json.dumps(manifest))
    return path


def test_valid_fields_become_attributes(tmp_path: Path) -> None:
    write(tmp_path, valid_manifest())
    m = read_manifest(tmp_path)
    assert m.input_shape == (3, 50, 25, 2) and m.input_channels == 3 and m.input_name == "joints"
    assert m.class_names == ("wave", "kick") and m.num_classes == 2 and m.classified
    assert m.streams == ("joint",) and m.fusion_weights == {"joint": 0.6}
    assert m.embedding_centers == {"joint": (0.5, -0.5)}
    assert m.file_for("fp16").file == "model.fp16.onnx" and m.file_for("fp32").sha256 == "ab" * 32
    with pytest.raises(RuntimeModelError, match="no 'int8' model; available: fp32, fp16"):
        m.file_for("int8")


def test_no_classifier_is_none(tmp_path: Path) -> None:
    write(tmp_path, {**valid_manifest(), "class_names": None})
    m = read_manifest(tmp_path)
    assert m.class_names is None and m.num_classes is None and not m.classified
    assert m.summary()["class_names"] is None and m.summary()["num_classes"] is None


def _without(name: str) -> dict[str, Any]:
    manifest = valid_manifest()
    del manifest[name]
    return manifest


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        (_without("model_file"), "missing field 'model_file'"),
        (_without("streams"), "missing field 'streams'"),
        (_without("input"), "missing field 'input'"),
        ({**valid_manifest(), "format": "vcl-checkpoint"}, "field 'format': expected 'vcl-onnx-model'"),
        ({**valid_manifest(), "streams": "joint"}, "field 'streams': expected list, got str"),
        ({**valid_manifest(), "embedding_dim": "16"}, "field 'embedding_dim': expected int, got str"),
        ({**valid_manifest(), "has_gaussian_head": 1}, "field 'has_gaussian_head': expected bool, got int"),
        ({**valid_manifest(), "pipeline": ["vcl-official"]}, "field 'pipeline': expected dict, got list"),
        ({**valid_manifest(), "input": {"shape": [3, 50, 25, 2]}}, "field 'input.shape': expected"),
        ({**valid_manifest(), "class_names": [1, 2]}, "field 'class_names': expected a list of strings"),
        ({**valid_manifest(), "variants": {"fp16": {"file": "x"}}}, "field 'variants.fp16'"),
    ],
)
def test_wrong_or_missing_field_names_file_and_field(
    tmp_path: Path, manifest: dict[str, Any], message: str
) -> None:
    path = write(tmp_path, manifest)
    with pytest.raises(RuntimeModelError, match=f"^{re.escape(str(path))}: {re.escape(message)}"):
        read_manifest(tmp_path)


def test_unreadable_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(RuntimeModelError, match=f"{re.escape(str(tmp_path))}: not an exported model"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(RuntimeModelError, match="manifest.json: invalid JSON"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text("[]")
    with pytest.raises(RuntimeModelError, match="manifest.json: expected a JSON object, got list"):
        read_manifest(tmp_path)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _, model_dir = tiny_exported_model(
        tmp_path_factory.mktemp("manifest"), seed=21, streams="[joint, motion]", classifier=True
    )
    return model_dir


def test_real_export_round_trips(exported: Path) -> None:
    path = exported / "manifest.json"
    raw = json.loads(path.read_text())
    m = read_manifest(exported)
    assert isinstance(m, ModelManifest) and m.raw == raw
    assert m.model_file == raw["model_file"] and m.model_sha256 == raw["model_sha256"]
    assert m.opset == raw["opset"] and m.input_name == raw["input"]["name"]
    assert ["N", *m.input_shape] == raw["input"]["shape"] and m.outputs == tuple(raw["outputs"])
    assert m.layout == raw["layout"] == "ntu" and m.joint_names == tuple(raw["joint_names"])
    assert m.pipeline == raw["pipeline"] and m.streams == ("joint", "motion")
    assert m.fusion_weights == raw["fusion_weights"] and m.method == raw["method"]
    assert m.class_names is not None and list(m.class_names) == raw["class_names"]
    assert m.num_classes == raw["num_classes"] and m.classified
    assert m.has_gaussian_head is raw["has_gaussian_head"] and m.embedding_dim == raw["embedding_dim"]
    assert {s: list(c) for s, c in m.embedding_centers.items()} == raw["embedding_centers"]
    assert m.variants == {}
    # the dataclass is the whole contract: re-parsing its raw form gives the same manifest
    assert parse_manifest(json.loads(json.dumps(m.raw)), path) == m
    summary = m.summary()
    assert json.loads(json.dumps(summary)) == summary
    assert {k: summary[k] for k in ("layout", "streams", "class_names", "num_classes", "outputs")} == {
        k: raw[k] for k in ("layout", "streams", "class_names", "num_classes", "outputs")
    }


UNCERTAINTY: dict[str, Any] = {
    "reference": "40 validation clips",
    "clips": 40,
    "error_rate": 0.25,
    "quantiles": {"sigma": [-3.0 + 0.05 * i for i in range(21)], "softmax": [0.04 * i for i in range(21)]},
    "wrong_probability": {
        "features": ["sigma", "softmax"],
        "center": [-2.5, 0.4],
        "scale": [0.25, 0.2],
        "weights": [0.0, 2.0],
        "bias": -1.0,
    },
    "unknown": {"score": "softmax", "threshold": 0.7, "flag_rate": 0.05},
}


def test_uncertainty_block_is_optional_and_read(tmp_path: Path) -> None:
    write(tmp_path, valid_manifest())
    assert read_manifest(tmp_path).uncertainty is None  # an old manifest: nothing readable
    write(tmp_path, {**valid_manifest(), "uncertainty": UNCERTAINTY})
    u = read_manifest(tmp_path).uncertainty
    assert u is not None and (u.unknown_score, u.unknown_threshold) == ("softmax", 0.7)
    read = u.read({"sigma": np.array([-2.5, -4.0]), "softmax": np.array([0.6, 0.3])})
    np.testing.assert_allclose(read["percentile_sigma"], [50.0, 0.0])
    np.testing.assert_allclose(read["percentile_softmax"], [75.0, 37.5])
    # z = (0.6 - 0.4) / 0.2 = 1 -> sigmoid(2 - 1); z = -0.5 -> sigmoid(-2)
    np.testing.assert_allclose(read["wrong_probability"], [1 / (1 + np.exp(-1.0)), 1 / (1 + np.exp(2.0))])
    np.testing.assert_allclose(read["unknown_value"], [0.6, 0.3])
    assert read_manifest(tmp_path).summary()["uncertainty"]["unknown_threshold"] == 0.7


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"quantiles": {"sigma": [0.0, 1.0]}}, r"'uncertainty.quantiles.sigma': expected 21 finite numbers"),
        ({"unknown": {"score": "entropy", "threshold": 1.0}}, r"scores must be among sigma, softmax"),
        (
            {"wrong_probability": {"features": ["sigma"]}},
            r"field 'uncertainty': missing or malformed 'center'",
        ),
    ],
)
def test_bad_uncertainty_block_names_the_field(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    write(tmp_path, {**valid_manifest(), "uncertainty": {**UNCERTAINTY, **change}})
    with pytest.raises(RuntimeModelError, match=message):
        read_manifest(tmp_path)


def test_uncertainty_block_on_sigma_needs_a_gaussian_head(tmp_path: Path) -> None:
    write(tmp_path, {**valid_manifest(), "has_gaussian_head": False, "uncertainty": UNCERTAINTY})
    with pytest.raises(RuntimeModelError, match="uses the sigma score, but the model has no Gaussian head"):
        read_manifest(tmp_path)
