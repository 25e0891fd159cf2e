"""Pose-estimator clips over HTTP: a COCO-17 2D model, layout mapping to an NTU model, channel
checks and per-person results (issue 13)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from server.app import create_app
from server.settings import Settings
from skeleton.synthetic import synthetic_clip
from tests.conftest import TINY_MODEL, _probe_classifiers
from tests.server.conftest import ServiceFiles

READER = {"X-API-Key": "read-2b8d4c-91f7a3e6"}


@pytest.fixture(scope="module")
def coco_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny VCL model with classifiers on 2D COCO-17 keypoints (x, y, score; pose2d pipeline)."""
    from export.onnx_export import export_checkpoint
    from skeleton.prepare import prepare_dataset
    from train.config import load_config
    from train.trainer import train

    root = tmp_path_factory.mktemp("coco17")
    data = root / "syn"
    prepare_dataset(
        "synthetic",
        None,
        data,
        pipeline="pose2d",
        num_samples=44,
        seed=3,
        synthetic_layout="coco17",
        synthetic_channels="xys",
        progress=False,
    )
    overrides = [
        *TINY_MODEL,
        "optim.batch_size=11",
        "loss.queue_size=22",
        "optim.epochs=1",
        f"data.path={data}",
        f"run.out_dir={root / 'run'}",
    ]
    train(load_config(None, overrides), progress=False)
    checkpoint = _probe_classifiers(root / "run" / "checkpoints" / "last", data, root / "classifier")
    export_checkpoint(checkpoint, root / "model", max_batch=8)
    return root / "model"


def _client(model: Path, **extra: Any) -> TestClient:
    return TestClient(create_app(Settings(model_dir=str(model), api_key=READER["X-API-Key"], **extra)))


def _landmarks(joints: np.ndarray, world: bool = False) -> list[dict[str, Any]]:
    """Landmark JSON frames (docs/data.md) of joints (M, T, V, 3): people per frame."""
    frames = []
    for t in range(joints.shape[1]):
        people = []
        for person in joints[:, t]:
            if not person.any():
                continue
            if world:
                people.append(
                    {"world_landmarks": [dict(zip("xyz", map(float, p), strict=True)) for p in person]}
                )
            else:
                people.append(
                    {"keypoints": [{"x": float(x), "y": float(y), "score": float(s)} for x, y, s in person]}
                )
        frames.append({"people": people})
    return frames


def test_coco17_2d_clip_classified_by_a_coco17_2d_model(coco_model: Path) -> None:
    clip = synthetic_clip(5, seed=8, layout="coco17", channels="xys")
    body = {"clips": [{"joints": clip.joints.tolist(), "layout": "coco17", "name": "c"}], "top_k": 3}
    with _client(coco_model) as client:
        info = client.get("/v1/model", headers=READER).json()
        assert info["layout"] == "coco17"
        answer = client.post("/v1/classify", json=body, headers=READER)
        assert answer.status_code == 200, answer.text
        (result,) = answer.json()["results"]
        assert result["name"] == "c" and len(result["top_k"]) == 3
        assert "mapped_from" not in result and "track" not in result
        upload = json.dumps({"layout": "coco17", "frames": _landmarks(clip.joints)}).encode()
        files = [("files", ("clip.json", upload, "application/json"))]
        by_file = client.post("/v1/classify/files", files=files, headers=READER)
        assert by_file.status_code == 200, by_file.text
        assert by_file.json()["results"][0]["label"] == result["label"]


def test_channels_that_do_not_match_the_model_are_refused_naming_both(
    coco_model: Path, service_files: ServiceFiles
) -> None:
    clip = synthetic_clip(5, seed=8, layout="coco17", channels="xy")
    body = {"clips": [{"joints": clip.joints.tolist(), "layout": "coco17"}]}
    with _client(coco_model) as client:
        answer = client.post("/v1/classify", json=body, headers=READER)
        assert answer.status_code == 422
        assert (
            "channels 'xy' (2) do not match the model's 'xys' (3, pipeline pose2d)" in answer.json()["detail"]
        )
        ntu = {"clips": [{"joints": synthetic_clip(0).joints.tolist(), "layout": "ntu"}]}
        unmappable = client.post("/v1/classify", json=ntu, headers=READER)
        assert unmappable.status_code == 422
        assert "layout 'ntu' is not the model's 'coco17' and cannot be mapped" in unmappable.json()["detail"]
    two_d = synthetic_clip(5, seed=8, layout="coco17", channels="xys")
    body = {"clips": [{"joints": two_d.joints.tolist(), "layout": "coco17"}]}
    with _client(service_files.model) as client:  # an NTU (3D) model: mapped, then refused by channels
        answer = client.post("/v1/classify", json=body, headers=READER)
        assert answer.status_code == 422
        assert (
            "channels 'xys' (3) do not match the model's 'xyz' (3, pipeline vcl-official)"
            in answer.json()["detail"]
        )


def test_mediapipe_world_landmarks_classified_by_an_ntu_model_through_the_mapping(
    service_files: ServiceFiles,
) -> None:
    world = synthetic_clip(3, seed=9, layout="mediapipe33").joints  # 3D, metres
    upload = json.dumps({"layout": "mediapipe33", "frames": _landmarks(world, world=True)}).encode()
    with _client(service_files.model) as client:
        answer = client.post(
            "/v1/classify/files", files=[("files", ("pose.json", upload, "application/json"))], headers=READER
        )
        assert answer.status_code == 200, answer.text
        (result,) = answer.json()["results"]
        assert result["mapped_from"] == "mediapipe33"
        assert "spine_base" in result["synthesised"] and "left_elbow" not in result["synthesised"]
        direct = client.post(
            "/v1/classify",
            json={"clips": [{"joints": synthetic_clip(3, seed=9).joints.tolist()}]},
            headers=READER,
        )
        assert "mapped_from" not in direct.json()["results"][0]


def test_official_ntu60_model_through_the_mapping(official_model: Path) -> None:
    world = synthetic_clip(7, seed=1, layout="mediapipe33").joints
    body = {"clips": [{"joints": world.tolist(), "layout": "mediapipe33", "channels": "xyz"}]}
    with _client(official_model) as client:
        answer = client.post("/v1/classify", json=body, headers=READER)
        assert answer.status_code == 200, answer.text
        (result,) = answer.json()["results"]
        assert result["mapped_from"] == "mediapipe33" and len(result["synthesised"]) == 11


def test_two_people_per_person_gives_two_results_with_spans(coco_model: Path) -> None:
    a = synthetic_clip(2, seed=4, layout="coco17", channels="xys").joints[0]
    b = synthetic_clip(8, seed=4, layout="coco17", channels="xys").joints[0].copy()
    t = min(len(a), len(b))
    b[:, :, 0] += 700.0  # the second person stands to the right ...
    pair = np.zeros((2, t, 17, 3))
    pair[0], pair[1, 10:] = a[:t], b[10:t]  # ... and walks in at frame 10
    upload = json.dumps({"layout": "coco17", "frames": _landmarks(pair)}).encode()
    files = [("files", ("two.json", upload, "application/json"))]
    with _client(coco_model) as client:
        answer = client.post("/v1/classify/files", files=files, data={"per_person": "true"}, headers=READER)
        assert answer.status_code == 200, answer.text
        results = answer.json()["results"]
        assert len(results) == 2
        assert sorted((r["track"], tuple(r["span"])) for r in results) == [(1, (0, t)), (2, (10, t))]
        assert {r["name"] for r in results} == {"two#1", "two#2"}
        together = client.post("/v1/classify/files", files=files, headers=READER).json()["results"]
        assert len(together) == 1 and "span" not in together[0]
        body = {"clips": [{"joints": pair.tolist(), "layout": "coco17", "name": "p"}], "per_person": True}
        by_json = client.post("/v1/classify", json=body, headers=READER).json()["results"]
        assert [(r["track"], r["span"]) for r in by_json] == [(1, [0, t]), (2, [10, t])]


def test_pickles_are_never_read_from_uploads(coco_model: Path) -> None:
    with _client(coco_model) as client:
        files = [("files", ("ann.pkl", b"\x80\x04N.", "application/octet-stream"))]
        answer = client.post("/v1/classify/files", files=files, headers=READER)
        assert answer.status_code == 422 and "unsupported file type .pkl" in answer.json()["detail"]


def test_index_items_in_another_layout_are_mapped(service_files: ServiceFiles) -> None:
    from index.build import from_clips
    from runtime.model import OnnxModel

    runtime = OnnxModel(service_files.model)
    clips = [synthetic_clip(0, seed=2, layout="kinect_v1"), synthetic_clip(1, seed=2)]
    embeddings, items = from_clips(runtime, clips, previews=False)
    assert embeddings.embedding.shape[0] == 2
    assert items[0].user == {"name": clips[0].meta.name, "mapped_from": "kinect_v1"}
    assert items[1].user == {"name": clips[1].meta.name}
