"""A tiny real model with a classifier, its index and a data root, built once per test session."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import tiny_exported_model


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
def serve_in_thread(app: Any) -> Iterator[str]:
    """``app`` under uvicorn in a background thread on a free 127.0.0.1 port; yields its URL."""
    import uvicorn

    sock = socket.socket()
    # answers are written in pieces: without this each one waits out the client's delayed ACK
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
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
