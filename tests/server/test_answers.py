"""``classify_results`` with and without the manifest's uncertainty block: readable fields, which
score ``unknown`` thresholds, and VCL_UNKNOWN_THRESHOLD overriding the manifest's default."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from runtime.manifest import parse_manifest
from server.answers import classify_results
from skeleton.synthetic import synthetic_clip
from tests.runtime.test_manifest import UNCERTAINTY, valid_manifest

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
