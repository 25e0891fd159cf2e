"""SIGKILL the real server (a subprocess on 127.0.0.1) in the middle of an index rebuild, restart it,
and check it comes up ready on the old or the new version, never a broken one."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from skeleton.readers.npz import write_npz
from skeleton.synthetic import SYNTHETIC_CLASSES, synthetic_clip
from tests.conftest import REPO
from tests.server.conftest import ServiceFiles

ADMIN_KEY = "adm-crash-51f0c2"
NEW_CLIPS = 400


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _call(port: int, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    request.add_header("X-API-Key", ADMIN_KEY)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


class Server:
    def __init__(self, files: ServiceFiles, index: Path, root: Path) -> None:
        self.port = _free_port()
        env = {
            **os.environ,
            "VCL_ALLOW_MUTATION": "true",
            "VCL_ADMIN_KEY": ADMIN_KEY,
            "VCL_DATA_ROOT": str(root),
        }
        command = [sys.executable, "-m", "vcl", "serve", "--model", str(files.model), "--index", str(index)]
        self.process = subprocess.Popen(
            [*command, "--port", str(self.port)],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        end = time.monotonic() + 120
        while time.monotonic() < end:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited: {self.process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            try:
                if _call(self.port, "GET", "/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError("server not ready within 120 s")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def big_root(service_files: ServiceFiles, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("crash-root")
    (root / "new").mkdir()
    for part in range(4):  # 4 files of 100 clips: the rebuild takes long enough to be hit
        clips = [synthetic_clip(i, seed=31) for i in range(part * 100, (part + 1) * 100)]
        write_npz(root / "new" / f"part{part}.npz", clips, list(SYNTHETIC_CLASSES))
    return root


def _kill_when(server: Server, index: Path, moment: str) -> None:
    """Start a rebuild and SIGKILL the server at ``moment``: 'embedding' (the job is reading and
    embedding clips) or 'writing' (a new version's temporary directory exists)."""
    status, body = _call(server.port, "POST", "/v1/index/rebuild", {"folder": "new"})
    assert status == 202, body
    job = body["job"]["id"]
    end = time.monotonic() + 60
    while time.monotonic() < end:
        if moment == "writing" and any(".tmp." in p.name for p in index.iterdir()):  # common.publish
            break
        if (
            moment == "embedding"
            and _call(server.port, "GET", f"/v1/index/jobs/{job}")[1]["stage"] == "embedding"
        ):
            break
        time.sleep(0.0005)
    else:
        raise AssertionError(f"the rebuild never reached {moment!r}")
    server.kill()


@pytest.mark.parametrize("moment", ["embedding", "writing"])
def test_sigkill_during_rebuild(
    service_files: ServiceFiles, big_root: Path, tmp_path: Path, moment: str
) -> None:
    index = tmp_path / "index"
    shutil.copytree(service_files.index, index)
    server = Server(service_files, index, big_root)
    try:
        assert _call(server.port, "GET", "/v1/index")[1]["version"] == "v000001"
        _kill_when(server, index, moment)
        server = Server(service_files, index, big_root)  # restarts on whatever is on disk
        status, info = _call(server.port, "GET", "/v1/index")
        assert status == 200
        assert (info["version"], info["count"]) in {("v000001", 44), ("v000002", NEW_CLIPS)}, info
        if moment == "embedding":
            assert info["version"] == "v000001"  # nothing was written yet
        status, found = _call(server.port, "POST", "/v1/search", {"id": 0, "k": 5})
        assert status == 200 and len(found["neighbours"]) == 5 and found["version"] == info["version"]
        # and the index still takes a rebuild after the crash
        status, body = _call(server.port, "POST", "/v1/index/rebuild", {"folder": "new"})
        assert status == 202
        end = time.monotonic() + 120
        job_path = f"/v1/index/jobs/{body['job']['id']}"
        while (job := _call(server.port, "GET", job_path)[1])["status"] in ("queued", "running"):
            assert time.monotonic() < end, "rebuild after restart did not finish"
            time.sleep(0.1)
        assert job["status"] == "succeeded" and job["result"]["count"] == NEW_CLIPS
        assert _call(server.port, "GET", "/v1/index")[1]["count"] == NEW_CLIPS
    finally:
        server.stop()
