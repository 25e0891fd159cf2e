"""Every endpoint through the test client: uploads, paths, mutation, jobs, keys, limits, metrics."""

from __future__ import annotations

import io
import shutil
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from runtime.model import OnnxModel
from server.app import create_app
from server.settings import Settings
from skeleton.pipelines import preprocess_clips
from skeleton.readers.npz import read_npz
from skeleton.synthetic import synthetic_clip
from tests.server.conftest import ServiceFiles

ADMIN = {"X-API-Key": "adm-7f3c9e1b5a-0d42e8"}
READER = {"X-API-Key": "read-2b8d4c-91f7a3e6"}


def _settings(files: ServiceFiles, index: Path | None = None, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "model_dir": str(files.model),
        "index_dir": str(index or files.index),
        "data_root": str(files.root),
        "api_key": READER["X-API-Key"],
        "admin_key": ADMIN["X-API-Key"],
        "allow_mutation": True,
        **extra,
    }
    return Settings(**values)


def _own_index(files: ServiceFiles, tmp_path: Path) -> Path:
    shutil.copytree(files.index, tmp_path / "index")
    return tmp_path / "index"


def _npz_bytes(path: Path) -> bytes:
    return path.read_bytes()


def test_readyz_is_503_until_the_model_is_warm(service_files: ServiceFiles) -> None:
    client = TestClient(create_app(_settings(service_files)))
    assert client.get("/readyz").status_code == 503  # lifespan not run: nothing loaded
    assert client.get("/v1/model").status_code == 503
    with client:
        assert client.get("/readyz").json() == {"status": "ready"}


def test_empty_index_dir_serves_without_search(service_files: ServiceFiles, tmp_path: Path) -> None:
    settings = _settings(service_files, tmp_path / "no-index", allow_mutation=False)
    with TestClient(create_app(settings)) as client:
        assert client.get("/readyz").status_code == 200
        missing = client.post("/v1/search", json={"id": 1})
        assert missing.status_code == 404 and "no index built yet" in missing.json()["detail"]
        assert client.post("/v1/classify", json={"clips": [{"path": "few/clip0.npz"}]}).status_code == 200


def test_classify_uploads_paths_and_json_agree(service_files: ServiceFiles) -> None:
    files = service_files
    clip = read_npz(files.root / "few" / "clip1.npz")[0]
    with TestClient(create_app(_settings(files))) as client:
        by_json = client.post(
            "/v1/classify", json={"clips": [{"joints": clip.joints.tolist(), "name": "j"}], "top_k": 3}
        ).json()["results"][0]
        by_path = client.post("/v1/classify", json={"clips": [{"path": "few/clip1.npz"}]}).json()["results"][
            0
        ]
        upload = client.post(
            "/v1/classify/files",
            files=[
                ("files", ("clip1.npz", _npz_bytes(files.root / "few" / "clip1.npz"))),
                ("files", ("clip2.npz", _npz_bytes(files.root / "few" / "clip2.npz"))),
            ],
            data={"top_k": "2", "preview": "true"},
        )
    assert upload.status_code == 200, upload.text
    results = upload.json()["results"]
    assert len(results) == 2 and len(results[0]["top_k"]) == 2
    assert by_json["label"] == by_path["label"] == results[0]["label"]
    assert by_json["probability"] == pytest.approx(results[0]["probability"], abs=1e-6)
    # the direct runtime gives the same probabilities
    model = OnnxModel(files.model)
    out = model.run(preprocess_clips([clip], model.manifest.layout, model.manifest.pipeline))
    logits = out["fused_logits"][0]
    probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    assert by_json["class_index"] == int(probs.argmax())
    assert by_json["probability"] == pytest.approx(float(probs.max()), abs=1e-5)
    assert sum(p["probability"] for p in by_json["top_k"]) <= 1.0 + 1e-6
    per_stream = by_json["uncertainty"]["per_stream"]
    assert by_json["uncertainty"]["score"] == pytest.approx(np.mean(list(per_stream.values())), abs=1e-6)
    frames = np.asarray(results[0]["skeleton"]["frames"])
    assert frames.shape[1:] == (2, 25, 3) and 1 < frames.shape[0] <= 24 and np.abs(frames).max() > 0


def test_search_by_id_file_and_previews(service_files: ServiceFiles) -> None:
    with TestClient(create_app(_settings(service_files))) as client:
        by_id = client.post("/v1/search", json={"id": 7, "k": 3, "preview": True}).json()
        own = next(n for n in by_id["neighbours"] if n["id"] == 7)  # ties with near-duplicates possible
        assert own["score"] == pytest.approx(1, abs=1e-5) == by_id["neighbours"][0]["score"]
        assert np.asarray(own["skeleton"]["frames"]).shape[1:] == (2, 25, 3)
        item = client.get("/v1/index/items/7").json()
        assert item["metadata"]["id"] == 7 and item["skeleton"]["frames"] == own["skeleton"]["frames"]
        assert client.get("/v1/index/items/999").status_code == 404
        assert client.post("/v1/search", json={"id": 999}).status_code == 404
        upload = client.post(
            "/v1/search/files",
            files={"file": ("c.npz", _npz_bytes(service_files.root / "few" / "clip0.npz"))},
            data={"k": "5", "uncertainty_aware": "true"},
        )
        assert upload.status_code == 200, upload.text
        hits = upload.json()["neighbours"]
        assert len(hits) == 5 and all(h["mls"] is not None for h in hits)
        several = client.post(
            "/v1/search/files",
            files={"file": ("m.npz", _npz_bytes(service_files.root / "many" / "clips.npz"))},
        )
        assert (
            several.status_code == 422 and "expected one clip, the input holds 60" in several.json()["detail"]
        )
        listed = client.get("/v1/data/files").json()["files"]
        assert listed[:4] == ["few/clip0.npz", "few/clip1.npz", "few/clip2.npz", "many/clips.npz"]


def test_bad_uploads_and_paths_name_the_problem(service_files: ServiceFiles, tmp_path: Path) -> None:
    outside = tmp_path / "secret.npz"
    outside.write_bytes(b"x")
    link = service_files.root / "few" / "escape.npz"
    if not link.exists():
        link.symlink_to(outside)
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("/v1/classify", {"clips": [{"path": "../secret.npz"}]}, "outside the data root"),
        ("/v1/classify", {"clips": [{"path": "/etc/passwd"}]}, "give a path relative to the data root"),
        ("/v1/classify", {"clips": [{"path": "few/escape.npz"}]}, "outside the data root"),
        ("/v1/classify", {"clips": [{"path": "few/none.npz"}]}, "no such file"),
        (
            "/v1/classify",
            {"clips": [{"path": "few/clip0.npz", "joints": [1]}]},
            "exactly one of 'joints' or 'path'",
        ),
        ("/v1/classify", {"clips": [{"joints": np.zeros((5, 4, 25, 3)).tolist()}]}, "5 persons, at most 4"),
        (
            "/v1/classify",
            {"clips": [{"joints": np.ones((3001, 25, 3)).tolist()}]},
            "3001 frames, at most 3000",
        ),
        ("/v1/classify", {"clips": [{"joints": [[["a", 1, 2]]]}]}, "expected a numeric array"),
        ("/v1/classify", {"clips": [{"joints": np.full((4, 25, 3), 1e30).tolist()}]}, "coordinates beyond"),
        ("/v1/search", {"embedding": [0.0] * 3, "k": 2}, "expected"),
        ("/v1/search", {"k": 2}, "exactly one of 'clip', 'embedding' or 'id'"),
    ]
    try:
        with TestClient(create_app(_settings(service_files))) as client:
            for route, body, message in cases:
                response = client.post(route, json=body)
                assert response.status_code == 422, (body, response.text)
                assert message in response.json()["detail"], (message, response.json())
            garbage = client.post("/v1/classify/files", files={"files": ("x.skeleton", b"not a skeleton\n")})
            assert garbage.status_code == 422 and "upload 'x.skeleton'" in garbage.json()["detail"]
            assert "/tmp" not in garbage.json()["detail"]  # the temporary path never leaks
            kind = client.post("/v1/classify/files", files={"files": ("x.exe", b"MZ")})
            assert kind.status_code == 422 and "unsupported file type .exe" in kind.json()["detail"]
            empty = client.post("/v1/classify/files", files={"files": ("x.npz", b"")})
            assert empty.status_code == 422 and "empty" in empty.json()["detail"]
            huge_k = client.post("/v1/search", json={"id": 1, "k": 10**9})
            assert huge_k.status_code == 422 and "k" in str(huge_k.json()["detail"])
            none_root = TestClient(create_app(_settings(service_files, data_root=None)))
            with none_root:
                answer = none_root.post("/v1/classify", json={"clips": [{"path": "few/clip0.npz"}]})
                assert "no data root" in answer.json()["detail"]
    finally:
        link.unlink()


def test_auth_matrix(service_files: ServiceFiles, tmp_path: Path) -> None:
    index = _own_index(service_files, tmp_path)
    settings = _settings(service_files, index, read_open=False)
    admin_calls: list[tuple[str, str, dict[str, Any]]] = [
        ("post", "/v1/index/items", {"json": {"clips": [{"path": "few/clip0.npz"}]}}),
        ("delete", "/v1/index/items/3", {}),
        ("post", "/v1/index/rebuild", {"json": {"folder": "few"}}),
        ("get", "/v1/index/jobs/nope", {}),
    ]
    with TestClient(create_app(settings)) as client:
        for key, status in [({}, 401), ({"X-API-Key": "wrong"}, 401), (READER, 200), (ADMIN, 200)]:
            assert client.get("/v1/index", headers=key).status_code == status
            assert client.get("/metrics", headers=key).status_code == status
        for method, route, kwargs in admin_calls:
            assert client.request(method, route, **kwargs).status_code == 401, route
            assert client.request(method, route, headers={"X-API-Key": "x"}, **kwargs).status_code == 401
            forbidden = client.request(method, route, headers=READER, **kwargs)
            assert forbidden.status_code == 403 and "admin key" in forbidden.json()["detail"]
            assert READER["X-API-Key"] not in forbidden.text
        assert client.get("/v1/index/jobs/nope", headers=ADMIN).status_code == 404
        metrics = client.get("/metrics", headers=READER).text
        assert ADMIN["X-API-Key"] not in metrics and READER["X-API-Key"] not in metrics
    closed = _settings(service_files, index, allow_mutation=False)
    with TestClient(create_app(closed)) as client:
        refused = client.post("/v1/index/rebuild", json={"folder": "few"}, headers=ADMIN)
        assert refused.status_code == 403 and "VCL_ALLOW_MUTATION" in refused.json()["detail"]


def _wait(client: TestClient, job_id: str, timeout: float = 60) -> dict[str, Any]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        job = client.get(f"/v1/index/jobs/{job_id}", headers=ADMIN).json()
        if job["status"] in ("succeeded", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


def test_add_remove_items(service_files: ServiceFiles, tmp_path: Path) -> None:
    index = _own_index(service_files, tmp_path)
    clip = synthetic_clip(3, seed=77)
    with TestClient(create_app(_settings(service_files, index))) as client:
        added = client.post(
            "/v1/index/items",
            json={"clips": [{"joints": clip.joints.tolist(), "label": "test-wave", "metadata": {"take": 2}}]},
            headers=ADMIN,
        )
        assert added.status_code == 201, added.text
        new_id = added.json()["ids"][0]
        assert new_id == 44 and added.json()["version"] == "v000002"
        found = client.post(
            "/v1/search", json={"clip": {"joints": clip.joints.tolist()}, "k": 3, "label": "test-wave"}
        ).json()
        [top] = found["neighbours"]  # the only "test-wave"
        assert top["id"] == 44 and top["score"] == pytest.approx(1, abs=1e-5)
        assert top["metadata"]["user"]["take"] == 2 and top["metadata"]["label_index"] is None
        assert found["version"] == "v000002"
        uploaded = client.post(
            "/v1/index/items/files",
            files={"files": ("c.npz", _npz_bytes(service_files.root / "few" / "clip2.npz"))},
            data={"label": "kick"},
            headers=ADMIN,
        )
        assert uploaded.status_code == 201 and uploaded.json()["ids"] == [45]
        assert client.get("/v1/index").json()["count"] == 46
        assert client.delete("/v1/index/items/44", headers=ADMIN).json()["version"] == "v000004"
        assert client.delete("/v1/index/items/44", headers=ADMIN).status_code == 404
        assert client.get("/v1/index").json()["count"] == 45
        metrics = client.get("/metrics").text
        assert "vcl_index_version 4.0" in metrics and "vcl_index_items 45.0" in metrics


def _tar_gz(paths: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in paths.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_rebuild_jobs_and_conflict(service_files: ServiceFiles, tmp_path: Path) -> None:
    index = _own_index(service_files, tmp_path)
    with TestClient(create_app(_settings(service_files, index))) as client:
        first = client.post("/v1/index/rebuild", json={"folder": "many"}, headers=ADMIN)
        second = client.post("/v1/index/rebuild", json={"folder": "few"}, headers=ADMIN)
        assert first.status_code == 202, first.text
        assert second.status_code == 409 and "already running" in second.json()["detail"]
        job = _wait(client, first.json()["job"]["id"])
        assert job["status"] == "succeeded" and job["result"] == {"version": "v000002", "count": 60}
        assert client.get("/v1/index").json() | {"count": 60} == client.get("/v1/index").json()
        # from the prepared dataset under the data root: the original 44 clips again
        job = _wait(
            client,
            client.post("/v1/index/rebuild", json={"folder": "prepared"}, headers=ADMIN).json()["job"]["id"],
        )
        assert job["result"]["count"] == 44
        # from an uploaded archive
        archive = _tar_gz(
            {f"a/{p.name}": p.read_bytes() for p in sorted((service_files.root / "few").glob("clip*.npz"))}
        )
        started = client.post(
            "/v1/index/rebuild/archive", files={"archive": ("new.tar.gz", archive)}, headers=ADMIN
        )
        assert started.status_code == 202, started.text
        job = _wait(client, started.json()["job"]["id"])
        assert job["status"] == "succeeded" and job["result"]["count"] == 3
        assert client.get("/v1/index").json()["count"] == 3
        found = client.post("/v1/search", json={"clip": {"path": "few/clip0.npz"}, "k": 3}).json()
        sources = {n["metadata"]["source"] for n in found["neighbours"]}
        assert sources == {f"archive:new.tar.gz/a/clip{i}.npz" for i in range(3)}
        assert min(n["id"] for n in found["neighbours"]) >= 44 + 60 + 44  # fresh ids every rebuild
        # bad sources fail clearly and leave the index as it was
        evil = _tar_gz({"../../evil.npz": b"x"})
        refused = client.post(
            "/v1/index/rebuild/archive", files={"archive": ("e.tar.gz", evil)}, headers=ADMIN
        )
        assert refused.status_code == 422 and "absolute or parent path" in refused.json()["detail"]
        junk = client.post(
            "/v1/index/rebuild/archive", files={"archive": ("j.zip", b"PK junk")}, headers=ADMIN
        )
        assert junk.status_code == 422 and "not a zip or tar archive" in junk.json()["detail"]
        broken = _tar_gz({"bad.skeleton": b"garbage\n"})
        failed = _wait(
            client,
            client.post(
                "/v1/index/rebuild/archive", files={"archive": ("b.tgz", broken)}, headers=ADMIN
            ).json()["job"]["id"],
        )
        assert failed["status"] == "failed" and "archive 'b.tgz'" in failed["error"]
        assert "bad.skeleton" in failed["error"] and "/tmp" not in failed["error"]
        npz = (service_files.root / "few" / "clip0.npz").read_bytes()  # a zip, but of .npy members
        no_clips = client.post("/v1/index/rebuild/archive", files={"archive": ("c.npz", npz)}, headers=ADMIN)
        assert no_clips.status_code == 422 and "no clip files in it" in no_clips.json()["detail"]
        assert client.post("/v1/index/rebuild", json={"folder": "../"}, headers=ADMIN).status_code == 422
        assert client.get("/v1/index").json()["count"] == 3


def test_body_size_limit_also_for_chunked_bodies(service_files: ServiceFiles) -> None:
    settings = _settings(service_files, max_body_bytes=4096)
    body = {"clips": [{"joints": np.zeros((20, 25, 3)).tolist()}]}
    with TestClient(create_app(settings)) as client:
        declared = client.post("/v1/embed", json=body)
        assert declared.status_code == 413 and "limit is 4096" in declared.json()["detail"]

        def chunks() -> Any:
            for _ in range(10):
                yield b" " * 1000

        chunked = client.post("/v1/embed", content=chunks(), headers={"content-type": "application/json"})
        assert chunked.status_code == 413 and "limit is 4096" in chunked.json()["detail"]
        small = client.post("/v1/embed", json={"clips": [{"joints": np.ones((2, 25, 3)).tolist()}]})
        assert small.status_code == 200


def test_concurrent_requests_share_batches(service_files: ServiceFiles) -> None:
    clips = [synthetic_clip(i, seed=3).joints.tolist() for i in range(16)]
    settings = _settings(service_files, max_wait_ms=50.0, max_batch=32)
    with TestClient(create_app(settings)) as client:
        single = [client.post("/v1/embed", json={"clips": [{"joints": c}]}).json() for c in clips[:4]]
        with ThreadPoolExecutor(16) as pool:
            answers = list(
                pool.map(lambda c: client.post("/v1/embed", json={"clips": [{"joints": c}]}), clips)
            )
        metrics = client.get("/metrics").text
    assert all(a.status_code == 200 for a in answers)
    for alone, together in zip(single, answers[:4], strict=True):
        assert np.allclose(
            alone["results"][0]["embedding"], together.json()["results"][0]["embedding"], atol=1e-5
        )
    count = _metric(metrics, "vcl_batch_size_clips_count")
    clips_run = _metric(metrics, "vcl_batch_size_clips_sum")
    assert clips_run == 20 and count <= 4 + 12  # the 16 concurrent clips took at most 12 runtime calls
    assert 'vcl_requests_total{method="POST",route="/v1/embed",status="200"} 20.0' in metrics
    assert 'vcl_model_provider_info{provider="CPUExecutionProvider"} 1.0' in metrics


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in metrics")


def test_full_queue_503_and_deadline_504(service_files: ServiceFiles) -> None:
    clip = {"clips": [{"joints": synthetic_clip(1, seed=3).joints.tolist()}]}
    with TestClient(create_app(_settings(service_files, request_timeout_s=1e-4))) as client:
        late = client.post("/v1/embed", json=clip)
        assert late.status_code == 504 and "within" in late.json()["detail"]
    settings = _settings(service_files, max_queue=1, max_batch=1, max_wait_ms=0.0)
    with TestClient(create_app(settings)) as client, ThreadPoolExecutor(24) as pool:
        answers = list(pool.map(lambda _: client.post("/v1/embed", json=clip), range(48)))
    statuses = {a.status_code for a in answers}
    assert statuses <= {200, 503} and 503 in statuses and 200 in statuses
    busy = next(a for a in answers if a.status_code == 503)
    assert busy.headers["retry-after"] == "1" and "queue is full" in busy.json()["detail"]


def test_rules_between_fields_are_one_message(service_files: ServiceFiles) -> None:
    both = {"path": "few/clip0.npz", "joints": np.ones((4, 25, 3)).tolist()}
    with TestClient(create_app(_settings(service_files))) as client:
        answer = client.post("/v1/embed", json={"clips": [{"path": "few/clip1.npz"}, both]})
        assert answer.status_code == 422
        assert answer.json() == {"detail": "clips[1]: give exactly one of 'joints' or 'path'"}
        search = client.post("/v1/search", json={"id": 1, "embedding": [1.0], "k": 2})
        assert search.json() == {"detail": "search: give exactly one of 'clip', 'embedding' or 'id'"}
        mixed = client.post("/v1/classify", json={"clips": [both], "top_k": 0})
        assert mixed.status_code == 422 and [e["loc"] for e in mixed.json()["detail"]] == [
            ["body", "clips", 0],
            ["body", "top_k"],
        ]
        empty = client.post("/v1/classify", json={"clips": []})
        assert empty.status_code == 422 and empty.json()["detail"][0]["loc"] == ["body", "clips"]


def test_optional_parts_are_left_out_not_null(service_files: ServiceFiles) -> None:
    clip = {"path": "few/clip0.npz"}
    with TestClient(create_app(_settings(service_files))) as client:
        [plain] = client.post("/v1/classify", json={"clips": [clip]}).json()["results"]
        [shown] = client.post("/v1/classify", json={"clips": [clip], "preview": True}).json()["results"]
        found = client.post("/v1/search", json={"id": 3, "k": 2}).json()["neighbours"]
        item = client.get("/v1/index/items/3").json()
    assert "skeleton" not in plain and shown["skeleton"]["frames"]
    assert set(plain["uncertainty"]) == {"softmax_entropy", "score", "per_stream"}  # a Gaussian head
    assert all("skeleton" not in n and n["mls"] is None for n in found)  # null: not uncertainty-aware
    assert set(item) == {"id", "metadata", "skeleton", "version"}


def test_require_gpu_without_cuda_never_becomes_ready(service_files: ServiceFiles) -> None:
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("CUDA is available here")
    with TestClient(create_app(_settings(service_files, require_gpu=True))) as client:
        answer = client.get("/readyz")
        assert answer.status_code == 503 and "VCL_REQUIRE_GPU" in answer.json()["status"]
        assert client.get("/livez").status_code == 200
        assert client.get("/v1/model").status_code == 503
