"""``VclClient`` and ``vcl client`` against a real server (uvicorn on a loopback port)."""

from __future__ import annotations

import io
import json
import re
import socket
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from index.action_index import ActionIndex
from index.build import from_files
from index.embed import embed_clips
from runtime.model import OnnxModel
from server.app import create_app
from server.client import ApiError, VclClient, encode_npy, npy_clips, render_detail
from server.settings import Settings
from skeleton.pipelines import preprocess_clips
from skeleton.readers.npz import read_npz, write_npz
from skeleton.synthetic import synthetic_clip
from tests.conftest import REPO, tiny_exported_model
from tests.server.conftest import serve_in_thread
from vcl.cli import main

SEED = 13
NUM_CLIPS = 6
READER, ADMIN = "reader-key-123-5e0b7c", "admin-key-456-a93f1d"


@dataclass(frozen=True)
class Served:
    url: str
    model: OnnxModel
    files: list[Path]  # the indexed clip files, one clip each: item id i is files[i]
    vectors: np.ndarray  # (NUM_CLIPS, D) the index's unit vectors, item id i is row i
    settings: Settings

    def client(self, key: str | None = READER) -> VclClient:
        return VclClient(self.url, api_key=key, timeout=30)

    def scores(self, query: np.ndarray) -> dict[int, float]:
        """Cosine score of every indexed clip for a query, computed here."""
        return {i: float(s) for i, s in enumerate(self.vectors @ (query / np.linalg.norm(query)))}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The tiny model behind a server whose index holds the clip files' metadata and sigmas.

    The tiny one-epoch model maps every clip to nearly the same direction (cosine distances of
    1e-8, below float32 resolution), so ranking its own embeddings tests nothing. The index
    vectors are seeded random unit vectors instead: neighbours are then well separated and every
    score can be checked against one computed here.
    """
    root = tmp_path_factory.mktemp("client")
    _, model_dir = tiny_exported_model(root, seed=SEED)
    folder = root / "data" / "clips"
    folder.mkdir(parents=True)
    files = [folder / f"clip{i}.npz" for i in range(NUM_CLIPS)]
    for i, path in enumerate(files):
        write_npz(path, [synthetic_clip(i, seed=SEED)])
    runtime = OnnxModel(model_dir)
    emb, items = from_files(runtime, [folder], first_id=0)
    vectors = np.random.default_rng(SEED).normal(size=emb.embedding.shape).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ActionIndex.create(root / "index", vectors, items, emb.sigma, runtime.manifest.model_sha256)
    settings = Settings(
        model_dir=str(model_dir),
        index_dir=str(root / "index"),
        api_key=READER,
        admin_key=ADMIN,
        read_open=False,
        allow_mutation=True,
        data_root=str(root / "data"),
    )
    with serve_in_thread(create_app(settings)) as url:
        yield Served(url, runtime, files, vectors, settings)


@pytest.fixture
def empty(served: Served, tmp_path: Path) -> Iterator[str]:
    """A second server on the same model and data with no index yet (for rebuilds)."""
    settings = served.settings.model_copy(update={"index_dir": str(tmp_path / "index")})
    with serve_in_thread(create_app(settings)) as url:
        yield url


def _archive(path: Path, files: list[Path]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for f in files:
            tar.add(f, arcname=f"clips/{f.name}")
    return path


def _junk(path: Path) -> Path:
    path.write_bytes(b"not an archive")
    return path


def _ids_and_scores(answer: dict) -> dict[int, float]:
    return {h["id"]: h["score"] for h in answer["neighbours"]}


def test_health_model_index_metrics(served: Served) -> None:
    client = served.client()
    assert client.health() == {"status": "ready"}
    model = client.model()
    assert model["embedding_dim"] == served.model.manifest.embedding_dim and not model["num_classes"]
    assert client.index()["count"] == NUM_CLIPS
    assert client.item(3)["metadata"]["source"].endswith("clip3.npz")
    assert "vcl_index_items" in client.metrics()
    assert READER not in repr(client)


def test_embed_equals_the_runtime(served: Served, tmp_path: Path) -> None:
    clip = synthetic_clip(2, seed=SEED)
    answer = served.client().embed(clips=[{"joints": clip.joints, "name": "two"}])["results"][0]
    expected = embed_clips(served.model, [clip]).embedding[0]
    assert answer["name"] == "two"
    np.testing.assert_allclose(answer["embedding"], expected, atol=1e-6)
    manifest = served.model.manifest
    out = served.model.run(preprocess_clips([clip], manifest.layout, manifest.pipeline))
    np.testing.assert_allclose(answer["streams"]["joint"]["mu"], out["joint_mu"][0], atol=1e-6)
    np.testing.assert_allclose(answer["streams"]["bone"]["sigma"], out["bone_sigma"][0], atol=1e-6)

    uploaded = served.client().embed(files=served.files[2:4])["results"]
    local = embed_clips(served.model, read_npz(served.files[2]) + read_npz(served.files[3])).embedding
    np.testing.assert_allclose([r["embedding"] for r in uploaded], local, atol=1e-6)
    # the tiny model barely separates clips: make sure the tolerance still tells them apart
    assert np.abs(local[0] - local[1]).max() > 2e-5
    odd = tmp_path / 'clip "é" 3.npz'  # a file name that needs escaping in the multipart header
    odd.write_bytes(served.files[3].read_bytes())
    np.testing.assert_allclose(
        served.client().embed(files=[odd])["results"][0]["embedding"], local[1], atol=1e-6
    )

    holed = clip.joints.copy()
    holed[0, 5, 3, 1] = np.nan  # sent as null, refused by the server (not by the JSON encoder)
    with pytest.raises(ApiError, match="HTTP 422: "):
        served.client().embed(clips=[{"joints": holed}])


@pytest.mark.parametrize("shape", [(), (3,), (2, 58, 25, 3)])
@pytest.mark.parametrize("dtype", ["<f2", "<f4", ">f8"])
def test_encode_npy_writes_what_numpy_writes(shape: tuple[int, ...], dtype: str) -> None:
    array = np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape)
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    assert encode_npy(array.shape, array.dtype.str, array.tobytes()) == buffer.getvalue()


def _requests_to(client: VclClient, route: str) -> float:
    pattern = rf'^vcl_requests_total{{[^}}]*route="{re.escape(route)}"[^}}]*}} (\S+)$'
    return sum(float(m) for m in re.findall(pattern, client.metrics(), re.MULTILINE))


def test_numpy_clips_go_as_one_npy_body(served: Served) -> None:
    fast, plain = served.client(), VclClient(served.url, api_key=READER, binary=False)
    clips = [synthetic_clip(i, seed=SEED) for i in (2, 3)]
    batch = [{"joints": c.joints[:, :40].astype(np.float32), "name": "b"} for c in clips]
    before = _requests_to(fast, "/v1/embed/npy"), _requests_to(fast, "/v1/embed")
    by_npy, by_json = fast.embed(clips=batch)["results"], plain.embed(clips=batch)["results"]
    assert (_requests_to(fast, "/v1/embed/npy"), _requests_to(fast, "/v1/embed")) == (
        before[0] + 1,
        before[1] + 1,
    )
    assert [r["name"] for r in by_npy] == ["b", "b"]
    np.testing.assert_allclose([r["embedding"] for r in by_npy], [r["embedding"] for r in by_json], atol=1e-6)
    expected = embed_clips(served.model, [replace(c, joints=c.joints[:, :40]) for c in clips]).embedding
    np.testing.assert_allclose([r["embedding"] for r in by_npy], expected, atol=1e-5)
    # clips that make no one array (shapes differ, a list, a path) still go as JSON
    mixed = [{"joints": clips[0].joints}, {"joints": clips[1].joints.tolist()}]
    assert npy_clips(mixed) is None and npy_clips([{"joints": clips[0].joints, "label": "x"}]) is None
    assert npy_clips([{"joints": clips[0].joints}, {"joints": clips[1].joints}]) is None  # 58 vs 62 frames
    assert len(fast.embed(clips=mixed)["results"]) == 2
    assert _requests_to(fast, "/v1/embed/npy") == before[0] + 1
    found = fast.search(clip={"joints": clips[1].joints}, k=3)
    assert _requests_to(fast, "/v1/search/npy") == 1
    assert _ids_and_scores(found) == pytest.approx(
        _ids_and_scores(plain.search(clip={"joints": clips[1].joints}, k=3))
    )


def test_search_by_embedding_id_clip_and_file(served: Served) -> None:
    client = served.client()
    for i in (1, 4):
        found = client.search(embedding=served.vectors[i], k=NUM_CLIPS)
        assert found["neighbours"][0]["id"] == i and found["neighbours"][1]["score"] < 0.99
        assert _ids_and_scores(found) == pytest.approx(served.scores(served.vectors[i]), abs=1e-5)
        by_id = client.search(id=i, k=2)["neighbours"]
        assert by_id[0]["id"] == i and by_id[0]["score"] == pytest.approx(1.0, abs=1e-5)

    clip = synthetic_clip(3, seed=SEED)
    query = embed_clips(served.model, [clip]).embedding[0]
    expected = served.scores(query)
    found = client.search(clip={"joints": clip.joints, "name": "three"}, k=NUM_CLIPS)
    assert _ids_and_scores(found) == pytest.approx(expected, abs=1e-5)
    uploaded = client.search(file=served.files[3], k=3)
    assert [h["id"] for h in found["neighbours"]] == sorted(expected, key=lambda i: -expected[i])
    ranked = sorted(expected, key=lambda i: -expected[i])
    assert [h["id"] for h in uploaded["neighbours"]] == ranked[:3]
    assert _ids_and_scores(uploaded) == pytest.approx({i: expected[i] for i in ranked[:3]}, abs=1e-5)
    assert all(h["mls"] is None and "skeleton" not in h for h in uploaded["neighbours"])
    assert found["version"] == uploaded["version"] == client.index()["version"]

    aware = client.search(file=served.files[3], k=NUM_CLIPS, uncertainty_aware=True, preview=True)
    mls = [h["mls"] for h in aware["neighbours"]]
    assert None not in mls and mls == sorted(mls, reverse=True)
    assert len(aware["neighbours"][0]["skeleton"]["frames"]) > 0
    label = client.item(1)["metadata"]["label"]
    same = client.search(file=served.files[3], k=NUM_CLIPS, label=label)["neighbours"]
    assert 1 in {h["id"] for h in same} and {h["label"] for h in same} == {label}


def test_classify_on_a_pretrain_only_model_is_409(served: Served) -> None:
    client = served.client()
    for call in (
        lambda: client.classify(clips=[{"path": "clips/clip0.npz"}]),
        lambda: client.classify(files=served.files[:2], top_k=2, preview=True),
    ):
        with pytest.raises(ApiError) as err:
            call()
        assert err.value.status == 409 and "no classifier" in err.value.detail
        assert str(err.value).startswith("HTTP 409: ")


def test_add_search_and_remove_items(served: Served) -> None:
    admin, reader = served.client(ADMIN), served.client()
    before = reader.index()["count"]
    joints = synthetic_clip(20, seed=SEED).joints
    added = admin.add_items(clips=[{"joints": joints, "name": "new", "metadata": {"take": 7}}], label="extra")
    (new_id,) = added["ids"]
    assert new_id >= NUM_CLIPS and added["version"] == reader.index()["version"]
    hits = reader.search(clip={"joints": joints}, k=2)["neighbours"]
    assert (
        hits[0]["id"] == new_id
        and hits[0]["score"] == pytest.approx(1.0, abs=1e-5)
        and hits[1]["score"] < 0.99
    )
    assert hits[0]["label"] == "extra" and hits[0]["metadata"]["user"] == {"name": "new", "take": 7}
    (dup_id,) = admin.add_items(files=[served.files[0]], label="dup")["ids"]
    hit = reader.search(file=served.files[0], k=1, label="dup")["neighbours"][0]
    assert hit["id"] == dup_id and hit["score"] == pytest.approx(1.0, abs=1e-5)
    # by id: the clip itself first, then whichever other clip is closest, computed here
    query = embed_clips(served.model, read_npz(served.files[0])).embedding[0]
    query = query / np.linalg.norm(query)
    new = embed_clips(served.model, [synthetic_clip(20, seed=SEED)]).embedding[0]
    others = {**served.scores(query), new_id: float(query @ (new / np.linalg.norm(new)))}
    by_id = reader.search(id=dup_id, k=2)["neighbours"]
    assert [h["id"] for h in by_id] == [dup_id, max(others, key=lambda i: others[i])]
    assert reader.index()["count"] == before + 2

    assert admin.remove_item(new_id)["removed"] == new_id
    admin.remove_item(dup_id)
    assert reader.index()["count"] == before
    for call in (lambda: reader.search(id=new_id), lambda: admin.remove_item(new_id)):
        with pytest.raises(ApiError) as err:
            call()
        assert err.value.status == 404 and f"item {new_id}" in err.value.detail


def test_rebuild_from_an_archive_then_a_folder(served: Served, empty: str, tmp_path: Path) -> None:
    admin = VclClient(empty, api_key=ADMIN)
    with pytest.raises(ApiError, match="HTTP 404: no index built yet in VCL_INDEX_DIR"):
        admin.index()
    started = admin.rebuild(archive=_archive(tmp_path / "four.tar.gz", served.files[:4]))
    job_id = started["job"]["id"]
    assert started["status_url"] == f"/v1/index/jobs/{job_id}"
    job = admin.wait_job(job_id, timeout=60, poll=0.05)
    assert job["status"] == "succeeded" and job["result"]["count"] == 4
    assert admin.index()["count"] == 4 and admin.job(job_id)["status"] == "succeeded"

    job = admin.wait_job(admin.rebuild(folder="clips")["job"]["id"], timeout=60, poll=0.05)
    assert job["status"] == "succeeded" and admin.index()["count"] == NUM_CLIPS
    # relative to the data root; the rebuilt items take fresh ids after the archive's 0..3
    assert admin.item(4 + 5)["metadata"]["source"] == "clips/clip5.npz"
    with pytest.raises(ApiError, match="HTTP 404: no job 'nope'"):
        admin.job("nope")
    with pytest.raises(ApiError, match="HTTP 422: .*not a zip or tar archive"):
        admin.rebuild(archive=_junk(tmp_path / "junk.tar.gz"))


def test_keys_and_bad_requests(served: Served) -> None:
    for key in ("wrong-key", None):
        with pytest.raises(ApiError) as err:
            served.client(key).model()
        assert err.value.status == 401 and "X-API-Key" in err.value.detail
    reader = served.client()
    for call in (lambda: reader.add_items(files=served.files[:1]), lambda: reader.rebuild(folder="clips")):
        with pytest.raises(ApiError) as err:
            call()
        assert err.value.status == 403 and "admin key" in err.value.detail and READER not in str(err.value)
    with pytest.raises(ApiError) as err:
        reader.search(id=0, k=0)  # pydantic validation: a list of errors, rendered "loc: msg"
    assert (
        err.value.status == 422 and "body.k: Input should be greater than or equal to 1" in err.value.detail
    )
    with pytest.raises(ApiError, match="HTTP 422: .*wrong joint count"):
        reader.embed(clips=[{"joints": np.zeros((10, 20, 3))}])
    with pytest.raises(ApiError, match="HTTP 422: .*outside the data root"):
        reader.embed(clips=[{"path": "../index/CURRENT"}])
    with pytest.raises(ValueError, match="exactly one of clip, file, embedding, id"):
        reader.search(id=1, file=served.files[0])
    assert (
        render_detail([{"loc": ["body"], "msg": "Field required"}, {"msg": "odd"}])
        == "body: Field required; odd"
    )


class _Stub(BaseHTTPRequestHandler):
    """A server that is loading (503 on /readyz), redirects /v1/index elsewhere and answers
    anything else with a plain-text 500."""

    def do_GET(self) -> None:
        if self.path == "/v1/index":
            self.send_response(307)
            self.send_header("Location", "http://elsewhere.invalid/v1/index")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        ready = self.path == "/readyz"
        body = b'{"status": "loading"}' if ready else b"Internal Server Error"
        self.send_response(503 if ready else 500)
        self.send_header("Content-Type", "application/json" if ready else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_loading_unreachable_and_silent_servers() -> None:
    stub = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    thread = threading.Thread(target=stub.serve_forever, daemon=True)
    thread.start()
    try:
        client = VclClient(f"http://127.0.0.1:{stub.server_address[1]}", api_key="secret-key-789")
        assert client.health() == {"status": "loading"}
        with pytest.raises(ApiError, match="HTTP 500: Internal Server Error"):
            client.model()
        with pytest.raises(ApiError, match="HTTP 307: "):  # not followed: the key stays here
            client.index()
    finally:
        stub.shutdown()
        stub.server_close()
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
    with pytest.raises(ApiError) as err:
        VclClient(url, api_key="secret-key-789").index()
    assert err.value.status == 0 and f"{url}/v1/index" in str(err.value) and "secret" not in str(err.value)
    with socket.socket() as silent:  # accepts connections (backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(ApiError) as err:
            VclClient(url, timeout=0.3).model()
    assert err.value.status == 0 and url in str(err.value) and "0.3 s" in str(err.value)
    with pytest.raises(ValueError, match="expected http"):
        VclClient("127.0.0.1:8000")


def test_cli(
    served: Served,
    empty: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def vcl(*args: str, url: str = served.url) -> tuple[int, str, str]:
        code = main(["client", "--url", url, *args])
        out, err = capsys.readouterr()
        return code, out, err

    monkeypatch.setenv("VCL_API_KEY", READER)
    code, out, err = vcl("classify", str(served.files[0]))
    assert code == 2 and out == "" and err.startswith("vcl: error: HTTP 409: this model has no classifier")
    expected = served.scores(embed_clips(served.model, read_npz(served.files[2])).embedding[0])
    ranked = sorted(expected, key=lambda i: -expected[i])
    code, out, _ = vcl("search", str(served.files[2]), "--k", "3", "--json")
    assert code == 0 and [h["id"] for h in json.loads(out)["neighbours"]] == ranked[:3]
    code, out, _ = vcl("search", str(served.files[2]), "--k", "2")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 2
    assert (
        lines[0].startswith(f"1. id {ranked[0]}  score={expected[ranked[0]]:.3f}  ")
        and "synthetic_s13" in lines[0]
    )
    code, out, _ = vcl("info")
    assert code == 0 and f"{NUM_CLIPS} clips" in out and "no classifier" in out
    code, _, err = vcl("add", str(served.files[0]))
    assert code == 2 and err.startswith("vcl: error: HTTP 403: this endpoint needs the admin key")
    code, _, err = vcl("--key", "wrong-key", "info")
    assert code == 2 and err.strip() == "vcl: error: HTTP 401: missing or wrong X-API-Key"

    monkeypatch.setenv("VCL_API_KEY", ADMIN)
    code, out, _ = vcl("add", str(served.files[1]), "--label", "cli", "--json")
    (new_id,) = json.loads(out)["ids"]
    code, out, _ = vcl("search", str(served.files[1]), "--label", "cli", "--json")
    assert code == 0 and [h["id"] for h in json.loads(out)["neighbours"]] == [new_id]
    code, out, _ = vcl("remove", str(new_id))
    assert code == 0 and out.startswith(f"removed {new_id} (index v")
    code, _, err = vcl("remove", str(new_id))
    assert code == 2 and err.strip() == f"vcl: error: HTTP 404: item {new_id} is not in the index"

    notes = tmp_path / "notes.md"
    notes.write_text("no clips here")
    code, out, err = vcl(
        "rebuild", "--archive", str(_archive(tmp_path / "notes.tar.gz", [notes])), "--wait", url=empty
    )
    assert code == 2 and err.startswith("vcl: error: ") and "no clip files" in err
    archive = str(_archive(tmp_path / "all.tar.gz", served.files))
    code, out, _ = vcl("rebuild", "--archive", archive, "--wait", url=empty)
    assert code == 0 and re.fullmatch(rf"job \w+: succeeded, index v\d+ with {NUM_CLIPS} clips", out.strip())
    code, out, _ = vcl("rebuild", "--folder", "clips", "--json", url=empty)
    job_id = json.loads(out)["job"]["id"]
    VclClient(empty, api_key=ADMIN).wait_job(job_id, timeout=60, poll=0.05)
    code, out, _ = vcl("job", job_id, url=empty)
    assert code == 0 and out.startswith(f"job {job_id}: succeeded") and f"with {NUM_CLIPS} clips" in out


def test_the_client_imports_only_the_standard_library() -> None:
    code = (
        "import sys, server.client_cli; "
        "heavy = {'numpy', 'torch', 'fastapi', 'server.app'} & set(sys.modules); assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
