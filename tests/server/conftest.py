"""A tiny real model with a classifier, its index and a data root, built once per test session."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, tiny_exported_model


@dataclass(frozen=True)
class ServiceFiles:
    """data: prepared synthetic dataset (44 clips); model: exported classifier model; index: its
    index (ids 0..43); root: a data root holding ``few/`` (3 .npz files, one clip each),
    ``many/`` (one .npz of 60 clips) and ``prepared/`` (the prepared dataset)."""

    data: Path
    model: Path
    index: Path
    root: Path


@pytest.fixture(scope="session")
def service_files(tmp_path_factory: pytest.TempPathFactory) -> ServiceFiles:
    import shutil

    from index.action_index import ActionIndex
    from index.build import from_prepared
    from runtime.model import OnnxModel
    from skeleton.readers.npz import write_npz
    from skeleton.synthetic import SYNTHETIC_CLASSES, synthetic_clip

    base = tmp_path_factory.mktemp("service")
    data, model = tiny_exported_model(base, seed=9, classifier=True)
    runtime = OnnxModel(model)
    emb, items = from_prepared(runtime, data)
    ActionIndex.create(base / "index", emb.embedding, items, emb.sigma, runtime.manifest.model_sha256)
    root = base / "root"
    (root / "few").mkdir(parents=True)
    (root / "many").mkdir()
    names = list(SYNTHETIC_CLASSES)
    for i in range(3):
        write_npz(root / "few" / f"clip{i}.npz", [synthetic_clip(i, seed=9)], names)
    write_npz(root / "many" / "clips.npz", [synthetic_clip(i, seed=5) for i in range(60)], names)
    shutil.copytree(data, root / "prepared")
    return ServiceFiles(data, model, base / "index", root)


@pytest.fixture(scope="session")
def official_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The authors' NTU-60 checkpoints imported and exported to ONNX (skips without ../shared/data)."""
    from export.onnx_export import export_checkpoint
    from tests.conftest import shared_path
    from train.official import import_official

    folder = shared_path("vcl_official")
    root = tmp_path_factory.mktemp("official")
    checkpoint = import_official(
        {s: folder / f"ntu60_xsub_{s}_linear.pt" for s in ("joint", "bone", "motion")}, root / "ckpt"
    )
    export_checkpoint(checkpoint, root / "model", max_batch=4)
    return root / "model"


@contextmanager
def serve_in_thread(app: Any, settings: Any = None) -> Iterator[str]:
    """``app`` under uvicorn in a background thread on a free 127.0.0.1 port; yields its URL.
    With ``settings``, uvicorn is configured as ``vcl serve`` configures it (read timeout,
    keep-alive, connection cap: ``server.connections``)."""
    import uvicorn

    from server.connections import uvicorn_config

    sock = socket.socket()
    # answers are written in pieces: without this each one waits out the client's delayed ACK
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    if settings is not None:
        config = uvicorn_config(app, settings, "127.0.0.1", port, log_level="warning")
    else:
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """``vcl serve`` as a real subprocess on a free loopback port, ready when constructed.

    Args:
        model, index, root: the model, index directory and data root.
        env: extra ``VCL_*`` variables.
        key: the ``X-API-Key`` that ``call`` sends.
    """

    def __init__(
        self,
        model: Path,
        index: Path | None,
        root: Path | None,
        env: dict[str, str] | None = None,
        key: str | None = None,
        ready_s: float = 120,
    ) -> None:
        self.port = free_port()
        self.key = key
        self.index = index
        command = [sys.executable, "-m", "vcl", "serve", "--model", str(model), "--port", str(self.port)]
        if index is not None:
            command += ["--index", str(index)]
        if root is not None:
            command += ["--data-root", str(root)]
        variables = {k: v for k, v in os.environ.items() if not k.startswith("VCL_")}
        self.process = subprocess.Popen(
            command,
            cwd=REPO,
            env={**variables, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        end = time.monotonic() + ready_s
        while time.monotonic() < end:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited: {self.process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            try:
                if self.call("GET", "/readyz", timeout=5)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"server not ready within {ready_s} s")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        timeout: float = 30,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """(status, parsed JSON body) of one request; ``body`` is sent as JSON, ``data`` as is."""
        if body is not None:
            data = json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        if self.key:
            request.add_header("X-API-Key", self.key)
        if body is not None:
            request.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as err:
            raw = err.read()
            try:
                return err.code, json.loads(raw or b"null")
            except ValueError:
                return err.code, raw.decode(errors="replace")

    def memory_mb(self, field: str = "VmRSS") -> float:
        """``VmRSS`` (now) or ``VmHWM`` (peak so far) of the server process, in MB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
        raise AssertionError(f"no {field} for the server process")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def wait_dead(self, timeout: float = 30) -> int:
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
