"""``explain: true`` on classify: the attribution from the graph's ``cam`` output over HTTP, and the
409 for a model exported without it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from runtime.model import OnnxModel
from server.app import create_app
from server.settings import Settings
from skeleton.pipelines import preprocess_clips
from skeleton.readers.npz import read_npz
from tests.server.conftest import ServiceFiles

READER = {"X-API-Key": "read-2b8d4c-91f7a3e6"}


def _client(model: Path, files: ServiceFiles) -> TestClient:
    settings = Settings(model_dir=str(model), data_root=str(files.root), api_key=READER["X-API-Key"])
    return TestClient(create_app(settings), headers=READER)


def test_classify_explains_the_predicted_class(service_files: ServiceFiles) -> None:
    files = service_files
    with _client(files.model, files) as client:
        assert client.get("/v1/model").json()["explainable"] is True
        plain = client.post("/v1/classify", json={"clips": [{"path": "few/clip1.npz"}]})
        answer = client.post(
            "/v1/classify", json={"clips": [{"path": "few/clip1.npz"}], "explain": True, "preview": True}
        )
        other = client.post(
            "/v1/classify", json={"clips": [{"path": "few/clip1.npz"}], "explain_label": "squat"}
        )
        upload = client.post(
            "/v1/classify/files",
            files=[("files", ("clip1.npz", (files.root / "few" / "clip1.npz").read_bytes()))],
            data={"explain": "true"},
        )
        unknown = client.post(
            "/v1/classify", json={"clips": [{"path": "few/clip1.npz"}], "explain_label": "fly"}
        )
    assert answer.status_code == 200, answer.text
    assert "explanation" not in plain.json()["results"][0]  # only when asked
    result = answer.json()["results"][0]
    e = result["explanation"]
    assert e["label"] == result["label"] and e["class_index"] == result["class_index"]
    frames = np.array(e["frames"])
    assert frames.shape == (50, 25) and len(e["joint_names"]) == 25 and e["joint_names"][0] == "spine_base"
    assert np.abs(frames).sum() == pytest.approx(1.0, abs=1e-3)  # shares of the evidence
    np.testing.assert_allclose(frames.sum(axis=0), e["joints"], atol=1e-3)
    # total + bias is the fused logit the runtime computes for this class on this clip
    model = OnnxModel(files.model)
    clip = read_npz(files.root / "few" / "clip1.npz")[0]
    logits = model.run(preprocess_clips([clip], model.manifest.layout, model.manifest.pipeline))[
        "fused_logits"
    ][0]
    assert e["total"] + e["bias"] == pytest.approx(float(logits[e["class_index"]]), abs=1e-4)
    skeleton = result["skeleton"]["frames"]
    assert len(e["preview_frames"]) == len(skeleton) and e["preview_frames"][0] == 0
    assert all(0 <= f < 50 for f in e["preview_frames"]) and e["preview_frames"] == sorted(
        e["preview_frames"]
    )
    assert other.status_code == 200
    squat = other.json()["results"][0]["explanation"]
    assert squat["label"] == "squat" and squat["total"] + squat["bias"] == pytest.approx(
        float(logits[squat["class_index"]]), abs=1e-4
    )
    assert upload.status_code == 200 and upload.json()["results"][0]["explanation"]["frames"] == e["frames"]
    assert (
        unknown.status_code == 422 and "'fly' is not one of the model's classes" in unknown.json()["detail"]
    )


def test_explain_on_a_model_exported_without_cam_is_409(service_files: ServiceFiles, tmp_path: Path) -> None:
    old = tmp_path / "model"
    shutil.copytree(service_files.model, old)
    manifest = json.loads((old / "manifest.json").read_text())
    del manifest["explain"]  # as `vcl export` wrote it before explanations existed
    (old / "manifest.json").write_text(json.dumps(manifest))
    with _client(old, service_files) as client:
        assert client.get("/v1/model").json()["explainable"] is False  # the web page does not ask
        assert client.post("/v1/classify", json={"clips": [{"path": "few/clip1.npz"}]}).status_code == 200
        refused = client.post("/v1/classify", json={"clips": [{"path": "few/clip1.npz"}], "explain": True})
    assert refused.status_code == 409
    detail = refused.json()["detail"]
    assert "has no 'cam' output" in detail and "vcl export --checkpoint" in detail and str(old) not in detail
