"""``classify_results`` with and without the manifest's uncertainty block: readable fields, which
score ``unknown`` thresholds, and VCL_UNKNOWN_THRESHOLD overriding the manifest's default."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from export.reference import ReferenceSpec, reference_block
from runtime.manifest import parse_manifest
from runtime.model import OnnxModel
from server.answers import classify_results
from server.app import create_app
from server.settings import Settings
from skeleton.synthetic import synthetic_clip
from tests.runtime.test_manifest import UNCERTAINTY, valid_manifest
from tests.server.conftest import ServiceFiles

CLIPS = [synthetic_clip(0), synthetic_clip(1)]
JOINTS = np.zeros((2, 3, 50, 25, 2), dtype=np.float32)
OUT = {  # softmax confidence 1 - max p: 0.1192 and 0.4502; log sigma^2 = -2.5 everywhere
    "fused_logits": np.array([[2.0, 0.0], [0.2, 0.0]], dtype=np.float32),
    "joint_sigma": np.full((2, 4), np.exp(-1.25), dtype=np.float32),
}


def _classify(block: dict | None, threshold: float | None) -> list[dict]:
    raw = valid_manifest() | ({"uncertainty": block} if block else {})
    m = parse_manifest(raw, Path("manifest.json"))
    return [
        r.model_dump(exclude_unset=True) for r in classify_results(m, CLIPS, JOINTS, OUT, 2, False, threshold)
    ]


def test_readable_uncertainty_and_the_manifests_threshold() -> None:
    first, second = _classify(UNCERTAINTY, None)
    u = second["uncertainty"]
    assert u["score"] == pytest.approx(-2.5, abs=1e-5)  # the raw score stays
    assert u["percentile"] == {"sigma": 50.0, "softmax": pytest.approx(56.3, abs=0.05)}  # 0.4502 / 0.04 * 5
    assert u["wrong_probability"] == pytest.approx(
        1 / (1 + np.exp(-(2 * (0.4502 - 0.4) / 0.2 - 1))), abs=1e-3
    )
    assert first["unknown"] is False and second["unknown"] is False  # softmax 0.45 <= the default 0.7
    # VCL_UNKNOWN_THRESHOLD overrides the threshold of the manifest's score (softmax here)
    assert [r["unknown"] for r in _classify(UNCERTAINTY, 0.2)] == [False, True]


def test_an_old_manifest_thresholds_the_sigma_score_and_shows_no_readable_fields() -> None:
    results = _classify(None, -3.0)
    assert [r["unknown"] for r in results] == [True, True]  # -2.5 > -3.0
    assert (
        "percentile" not in results[0]["uncertainty"] and "wrong_probability" not in results[0]["uncertainty"]
    )
    assert [r["unknown"] for r in _classify(None, None)] == [False, False]


def test_served_model_with_a_reference_block(service_files: ServiceFiles, tmp_path: Path) -> None:
    """The block ``vcl export --reference`` writes, added to the service model: classify answers the
    readable fields, /v1/model the rule, and VCL_UNKNOWN_THRESHOLD replaces the default threshold."""
    model = tmp_path / "model"
    shutil.copytree(service_files.model, model)
    block = reference_block(OnnxModel(model), ReferenceSpec(service_files.data))
    raw = json.loads((model / "manifest.json").read_text())
    (model / "manifest.json").write_text(json.dumps({**raw, "uncertainty": block}))
    clip = {"clips": [{"path": "few/clip0.npz"}]}
    with TestClient(create_app(Settings(model_dir=str(model), data_root=str(service_files.root)))) as client:
        [result] = client.post("/v1/classify", json=clip).json()["results"]
        rule = client.get("/v1/model").json()["uncertainty"]
    assert rule["unknown_score"] == "softmax" and rule["unknown_threshold"] == block["unknown"]["threshold"]
    u = result["uncertainty"]
    assert set(u["percentile"]) == {"sigma", "softmax"} and 0 <= u["wrong_probability"] <= 1
    softmax_u = 1 - result["probability"]
    assert result["unknown"] is (softmax_u > rule["unknown_threshold"])
    settings = Settings(model_dir=str(model), data_root=str(service_files.root), unknown_threshold=-1.0)
    with TestClient(create_app(settings)) as client:  # every softmax confidence is above -1
        [result] = client.post("/v1/classify", json=clip).json()["results"]
        assert client.get("/v1/model").json()["uncertainty"]["unknown_threshold"] == -1.0
    assert result["unknown"] is True
