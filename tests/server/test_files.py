"""Every file a rebuild or listing reads stays inside the data root (symlinks resolved); no server
path in any answer; bad files given by path are 422 like uploads; limits before parsing."""

from __future__ import annotations

import io
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from server.app import create_app
from server.files import redact
from server.settings import Settings
from tests.server.conftest import ServiceFiles

ADMIN = {"X-API-Key": "adm-files-7c3e91b0d2f4"}


def _bad_npz(**arrays: Any) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


JOINTS = np.zeros((1, 1, 10, 25, 3), np.float32)
BAD_NPZ = {
    "string-joints": _bad_npz(joints=np.full((1, 1, 10, 25, 3), "x")),
    "string-labels": _bad_npz(joints=JOINTS, labels=np.array(["a"])),
    "nan-lengths": _bad_npz(joints=JOINTS, lengths=np.array([np.nan])),
    "string-subjects": _bad_npz(joints=JOINTS, subjects=np.array(["s"])),
}


@pytest.fixture()
def setup(service_files: ServiceFiles, tmp_path: Path) -> tuple[Path, Path, Settings]:
    root = tmp_path / "root"
    shutil.copytree(service_files.root / "few", root / "rb")
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(service_files.root / "few" / "clip0.npz", outside / "secret.npz")
    (root / "rb" / "link.npz").symlink_to(outside / "secret.npz")
    (root / "rb" / "linked-dir").symlink_to(outside, target_is_directory=True)
    (root / "bad").mkdir()
    for name, data in BAD_NPZ.items():
        (root / "bad" / f"{name}.npz").write_bytes(data)
    index = tmp_path / "index"
    shutil.copytree(service_files.index, index)
    settings = Settings(
        model_dir=str(service_files.model),
        index_dir=str(index),
        data_root=str(root),
        admin_key=ADMIN["X-API-Key"],
        allow_mutation=True,
    )
    return root, index, settings


def _wait(client: TestClient, job_id: str) -> dict[str, Any]:
    end = time.monotonic() + 60
    while (job := client.get(f"/v1/index/jobs/{job_id}", headers=ADMIN).json())["status"] in (
        "queued",
        "running",
    ):
        assert time.monotonic() < end
        time.sleep(0.05)
    return job


def test_a_rebuild_and_a_listing_never_read_out_of_the_data_root(setup: tuple[Path, Path, Settings]) -> None:
    root, _, settings = setup
    with TestClient(create_app(settings)) as client:
        listed = client.get("/v1/data/files").json()["files"]
        assert "rb/clip0.npz" in listed and "rb/link.npz" not in listed
        assert not any("secret" in name for name in listed)
        started = client.post("/v1/index/rebuild", json={"folder": "rb"}, headers=ADMIN)
        job = _wait(client, started.json()["job"]["id"])
        assert job["status"] == "succeeded" and job["result"]["count"] == 3, job  # not the linked file
        assert job["result"]["skipped"] == ["rb/link.npz"]
        found = client.post("/v1/search", json={"clip": {"path": "rb/clip0.npz"}, "k": 10}).json()
        assert {n["metadata"]["source"] for n in found["neighbours"]} == {f"rb/clip{i}.npz" for i in range(3)}


def test_no_server_path_in_answers(setup: tuple[Path, Path, Settings]) -> None:
    root, index, settings = setup
    with TestClient(create_app(settings)) as client:
        added = client.post("/v1/index/items", json={"clips": [{"path": "rb/clip1.npz"}]}, headers=ADMIN)
        assert added.status_code == 201
        item = client.get(f"/v1/index/items/{added.json()['ids'][0]}").json()
        assert item["metadata"]["source"] == "rb/clip1.npz"
        texts = [added.text, client.get(f"/v1/index/items/{added.json()['ids'][0]}").text]
        for name in BAD_NPZ:
            answer = client.post("/v1/classify", json={"clips": [{"path": f"bad/{name}.npz"}]})
            assert answer.status_code == 422, (name, answer.text)  # was 500 given by path
            assert f"bad/{name}.npz" in answer.json()["detail"], answer.text
            texts.append(answer.text)
        texts.append(client.post("/v1/classify", json={"clips": [{"path": "rb/nope.npz"}]}).text)
        (root / "rb" / "broken.skeleton").write_text("12\n")
        broken = client.post("/v1/classify", json={"clips": [{"path": "rb/broken.skeleton"}]})
        assert broken.status_code == 422 and "rb/broken.skeleton" in broken.json()["detail"]
        texts.append(broken.text)
        texts.append(client.get("/v1/index").text)
        for text in texts:
            for place in (str(root), str(root.resolve()), str(index), settings.model_dir, "/tmp/"):
                assert place not in text, text


@pytest.mark.parametrize("name", list(BAD_NPZ))
def test_bad_npz_uploads_are_422(setup: tuple[Path, Path, Settings], name: str) -> None:
    _, _, settings = setup
    with TestClient(create_app(settings)) as client:
        answer = client.post("/v1/classify/files", files={"files": (f"{name}.npz", BAD_NPZ[name])})
        assert answer.status_code == 422, answer.text


def test_upload_count_is_checked_before_parsing(setup: tuple[Path, Path, Settings]) -> None:
    _, _, settings = setup
    data = (Path(settings.data_root or "") / "rb" / "clip0.npz").read_bytes()
    with TestClient(create_app(settings)) as client:
        files = [("files", (f"c{i}.npz", data)) for i in range(settings.max_clips + 1)]
        answer = client.post("/v1/classify/files", files=files)
        assert answer.status_code == 422 and "at most 64 per request" in answer.json()["detail"]


def test_an_embedding_past_float32_is_refused(setup: tuple[Path, Path, Settings]) -> None:
    _, _, settings = setup
    with TestClient(create_app(settings)) as client:
        dim = client.get("/v1/index").json()["dim"]
        answer = client.post("/v1/search", json={"embedding": [1e39] + [0.0] * (dim - 1), "k": 1})
        assert answer.status_code == 422 and "finite" in answer.json()["detail"]


def test_redact() -> None:
    places = {"/srv/data": "", "/srv/index": "<index>"}
    assert redact("/srv/data/a/b.skeleton:1: bad frame count", places) == "a/b.skeleton:1: bad frame count"
    assert (
        redact("/srv/index/v000002/manifest.json: missing", places)
        == "<index>/v000002/manifest.json: missing"
    )
    assert redact("'/tmp/vcl-upload-x1y2/clip.npz' broken", {}) == "'clip.npz' broken"


def test_the_writer_removes_a_crashed_rebuilds_unpacked_files(setup: tuple[Path, Path, Settings]) -> None:
    _, index, settings = setup
    left = index / ".work" / "vcl-rebuild-crashed"
    left.mkdir(parents=True)
    (left / "clip.npz").write_bytes(b"x")
    with TestClient(create_app(settings)) as client:
        assert client.get("/readyz").status_code == 200
        assert not left.exists()
