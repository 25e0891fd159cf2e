"""The HTTP service: readiness, classify with uncertainty, embed, search, keys, bad input, the
OpenAPI document's response models and the one mapping from errors to status codes."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from export.predict import predict_files
from index.action_index import ActionIndex
from index.build import from_prepared
from index.store import IndexStoreError
from runtime.manifest import RuntimeModelError
from runtime.model import OnnxModel
from server.app import answer_error, create_app
from server.batching import DeadlineExceeded, QueueFull
from server.errors import BadInput, Conflict, NotFound, NotReady
from server.settings import Settings
from skeleton.errors import SkeletonError
from skeleton.readers.ntu import read_ntu_skeleton
from skeleton.synthetic import synthetic_clip
from tests.conftest import REPO, shared_path, tiny_exported_model


@pytest.fixture(scope="module")
def vcl_setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("server")
    data, model = tiny_exported_model(root, seed=9)
    runtime = OnnxModel(model)
    emb, items = from_prepared(runtime, data)
    ActionIndex.create(root / "index", emb.embedding, items, emb.sigma, runtime.manifest.model_sha256)
    return model, root / "index"


def _clip() -> list:
    return synthetic_clip(2, seed=9).joints.tolist()


def test_embed_and_search(vcl_setup: tuple[Path, Path]) -> None:
    model, index = vcl_setup
    with TestClient(create_app(Settings(model_dir=str(model), index_dir=str(index)))) as client:
        assert client.get("/livez").json() == {"status": "ok"}
        assert client.get("/readyz").status_code == 200
        info = client.get("/v1/model").json()
        assert info["providers"][-1] == "CPUExecutionProvider" and info["has_gaussian_head"]
        assert client.get("/v1/index").json()["count"] == 44
        embedded = client.post("/v1/embed", json={"clips": [{"joints": _clip(), "name": "c"}]}).json()
        streams = embedded["results"][0]["streams"]
        assert set(streams) == {"joint", "bone", "motion"} and min(streams["joint"]["sigma"]) > 0
        found = client.post("/v1/search", json={"clip": {"joints": _clip()}, "k": 44}).json()
        scores = {n["id"]: n["score"] for n in found["neighbours"]}
        assert scores[2] == pytest.approx(1.0, abs=1e-4) and found["version"] == "v000001"
        by_vector = client.post("/v1/search", json={"embedding": embedded["results"][0]["embedding"], "k": 3})
        assert by_vector.status_code == 200 and len(by_vector.json()["neighbours"]) == 3
        aware = client.post(
            "/v1/search", json={"clip": {"joints": _clip()}, "k": 3, "uncertainty_aware": True}
        )
        assert all(n["mls"] is not None for n in aware.json()["neighbours"])
        assert client.post("/v1/classify", json={"clips": [{"joints": _clip()}]}).status_code == 409


def test_bad_clips_get_clear_errors(vcl_setup: tuple[Path, Path]) -> None:
    model, _ = vcl_setup
    with TestClient(create_app(Settings(model_dir=str(model)))) as client:
        wrong = client.post("/v1/embed", json={"clips": [{"joints": np.zeros((1, 10, 20, 3)).tolist()}]})
        assert wrong.status_code == 422 and "wrong joint count" in wrong.json()["detail"]
        bad = np.ones((10, 25, 3))
        bad[3, 4, 1] = float("nan")
        nan = client.post(
            "/v1/embed",
            json={
                "clips": [
                    {"joints": [[[None if np.isnan(v) else v for v in j] for j in f] for f in bad.tolist()]}
                ]
            },
        )
        assert nan.status_code == 422
        layout = client.post("/v1/embed", json={"clips": [{"joints": _clip(), "layout": "coco"}]})
        assert layout.status_code == 422 and "unknown layout 'coco'" in layout.json()["detail"]
        assert client.post("/v1/embed", json={"clips": []}).status_code == 422
        assert client.get("/v1/index").status_code == 404
        assert client.post("/v1/search", json={"embedding": [0.0], "k": 1}).status_code == 404


def test_keys(vcl_setup: tuple[Path, Path]) -> None:
    model, _ = vcl_setup
    settings = Settings(model_dir=str(model), read_open=False, api_key="reader-key-123-5e0b7c")
    with TestClient(create_app(settings)) as client:
        assert client.get("/v1/model").status_code == 401
        assert client.get("/v1/model", headers={"X-API-Key": "wrong"}).status_code == 401
        assert client.get("/v1/model", headers={"X-API-Key": "reader-key-123-5e0b7c"}).status_code == 200
        assert client.get("/livez").status_code == 200
    with pytest.raises(ValidationError, match="VCL_ADMIN_KEY is missing or a well-known default"):
        Settings(model_dir=str(model), allow_mutation=True, admin_key="changeme")
    with pytest.raises(ValidationError, match="nobody could read"):
        Settings(model_dir=str(model), read_open=False)


def test_classify_the_official_model(official_model: Path, reference: dict) -> None:
    files = sorted(shared_path("ntu_samples").glob("*.skeleton"))
    clips = [{"joints": read_ntu_skeleton(f).joints.tolist(), "name": f.stem} for f in files]
    with TestClient(create_app(Settings(model_dir=str(official_model)))) as client:
        result = client.post("/v1/classify", json={"clips": clips, "top_k": 3}).json()["results"]
        uploaded = client.post(
            "/v1/classify/files", files=[("files", (f.name, f.read_bytes())) for f in files]
        ).json()["results"]
    assert [r["class_index"] for r in result] == reference["pred_fused"].tolist()
    # the raw .skeleton files posted as uploads: the same labels as `vcl predict` on the same model
    predicted = predict_files(official_model, files)
    assert [r["label"] for r in uploaded] == [p["label"] for p in predicted] == [r["label"] for r in result]
    for up, pr in zip(uploaded, predicted, strict=True):
        assert up["name"] == pr["name"] and up["probability"] == pytest.approx(
            pr["top"][0]["probability"], abs=1e-6
        )
    assert result[1]["label"] == "handshaking" and len(result[0]["top_k"]) == 3
    assert result[0]["uncertainty"]["softmax_entropy"] > 0 and result[0]["unknown"] is False


def test_server_never_imports_torch() -> None:
    code = "import sys, server.app; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_every_route_declares_its_response_model() -> None:
    schema = create_app(Settings.model_construct(model_dir="unused")).openapi()
    components = schema["components"]["schemas"]
    operations = [(f"{m.upper()} {p}", op) for p, ops in schema["paths"].items() for m, op in ops.items()]
    assert len(operations) == 22  # 19 + the three .npy fast-path routes
    for name, op in operations:
        [(status, ok)] = [(s, r) for s, r in op["responses"].items() if s.startswith("2")]
        content = ok["content"]
        if name == "GET /metrics":
            assert content["text/plain"]["schema"] == {"type": "string"}
            continue
        ref = content["application/json"]["schema"]["$ref"]
        assert components[ref.rsplit("/", 1)[1]]["properties"], (name, status)
        error = op["responses"]["default"]["content"]["application/json"]["schema"]
        assert error == {"$ref": "#/components/schemas/ErrorOut"}, name


@pytest.mark.parametrize(
    ("error", "status", "headers"),
    [
        (SkeletonError("clips[0]: wrong joint count"), 422, {}),
        (RuntimeModelError("joints: expected 3 channels"), 422, {}),
        (IndexStoreError("item 3: not in the index"), 422, {}),
        (BadInput("embedding: expected 8 finite numbers"), 422, {}),
        (NotFound("no job 'x'"), 404, {}),
        (Conflict("a rebuild is already running"), 409, {}),
        (NotReady("model not loaded yet"), 503, {}),
        (QueueFull("the queue is full"), 503, {"retry-after": "1"}),
        (DeadlineExceeded("not answered within 1 s"), 504, {}),
    ],
)
def test_one_mapping_from_errors_to_status_codes(error: Exception, status: int, headers: dict) -> None:
    response = asyncio.run(answer_error(None, error))  # type: ignore[arg-type]
    assert response.status_code == status and json.loads(bytes(response.body)) == {"detail": str(error)}
    assert headers.items() <= dict(response.headers).items()
